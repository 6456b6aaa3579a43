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


def fetch_result_storage(archive_url: str) -> ResultStorage:
    """The storage of cached fetches: a folder inside the raw archive.

    Keeping them beside the archive means that a run on another machine that
    writes the same archive also finds them. A folder is given as a path, which
    Prefect turns into a local file system block; a remote archive needs a saved
    storage block, given by its slug, since Prefect refuses unsaved ones.

    Raises:
        ValueError: for an archive this function has no result storage for.
    """
    if "://" in archive_url and not archive_url.startswith("file://"):
        raise ValueError(
            f"No result storage for fetches is set up for the archive {archive_url!r}; "
            "set TRENDS_ARCHIVE_URL to a local folder."
        )
    root = Path(archive_url.removeprefix("file://")).expanduser()
    return root / RESULTS_FOLDER
