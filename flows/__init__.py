"""Prefect flows of the trends pipeline."""
