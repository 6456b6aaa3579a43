"""Where fetched responses are cached, so that a rerun spends no second request."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

from prefect.context import TaskRunContext
from prefect.results import ResultStorage

RESULTS_FOLDER = ".prefect-results"


def snapshot_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The cache key of one fetch: API version, WOEID and snapshot slot.

    Only these three decide; the token, the archive and the run are left out, so a
    flow retry or a second run for the same slot finds the first one's response.
    """
    location, options, as_of = (
        parameters["location"],
        parameters["options"],
        parameters["as_of"],
    )
    slot = as_of.astimezone(UTC)
    return (
        f"fetch-trends/v{options.api_version}/woeid={location.woeid}"
        f"/as_of={slot:%Y%m%dT%H%M%SZ}"
    )


def fetch_result_storage(archive_url: str) -> ResultStorage | None:
    """The storage of cached fetches: a folder inside a local raw archive.

    Keeping them beside the archive means that every run writing the same archive
    finds them. A folder is given as a path, which Prefect turns into a local file
    system block. For a remote archive this returns None, which leaves the cache in
    Prefect's default result storage: a deployment shares it across machines by
    pointing PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK at a saved storage block, such
    as an S3 bucket block, since Prefect refuses unsaved blocks here.
    """
    if "://" in archive_url and not archive_url.startswith("file://"):
        return None
    root = Path(archive_url.removeprefix("file://")).expanduser()
    return root / RESULTS_FOLDER
