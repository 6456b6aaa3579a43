"""Prefect blocks that hold the pipeline's credentials and storage."""
