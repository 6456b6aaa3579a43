"""Benchmarks of the load path and the flows, run by ``make bench``."""
