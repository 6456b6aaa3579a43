"""Where fetched responses are cached, so that a rerun spends no second request."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from prefect.context import TaskRunContext
from prefect.results import ResultStorage

if TYPE_CHECKING:
    from tasks.archive import RawArchive

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


def fetch_result_storage(archive: RawArchive) -> ResultStorage | None:
    """The storage of cached fetches: beside the raw archive, wherever it lives.

    Keeping them beside the archive means that every run writing the same archive
    finds them, on any machine. A local archive keeps them in a folder inside it,
    which Prefect turns into a local file system block. An S3 archive opened from a
    saved S3Bucket block keeps them in that block's bucket folder, under the
    ``fetch-trends/`` prefix of the cache keys. Prefect accepts only saved blocks
    as result storage, so an archive opened from a plain ``s3://`` URL gets None:
    the cache then stays in Prefect's default result storage, which a deployment
    shares across machines by pointing PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK at a
    saved storage block.
    """
    # The archive modules import the fetch module, which imports this one.
    from tasks.archive import LocalArchive
    from tasks.s3_archive import S3Archive

    if isinstance(archive, LocalArchive):
        return archive.root / RESULTS_FOLDER
    if isinstance(archive, S3Archive) and archive.bucket._block_document_id:
        return archive.bucket
    return None
