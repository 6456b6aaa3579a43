"""Prefect tasks of the trends pipeline: fetch, archive, normalise and load."""
