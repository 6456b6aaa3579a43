"""Load raw objects that earlier runs archived but could not load."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from functools import partial

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks import ledger
from tasks.archive import RawArchive
from tasks.replay import (
    ReplaySummary,
    archived_body_keys,
    read_archived,
    replay_objects,
)

CATCH_UP_DAYS = 3


@task(name="catch-up-archive", cache_policy=NO_CACHE)
def catch_up_archive(
    archive: RawArchive,
    database_url: str,
    woeids: Sequence[int],
    started_at: datetime,
    flow_run_id: str | None,
    this_run_keys: Collection[str] = (),
    days: int = CATCH_UP_DAYS,
) -> ReplaySummary:
    """Find archived objects whose rows never loaded and load them.

    Two kinds are found: objects the ledger records as archived by an earlier run,
    and objects of the last ``days`` days that the ledger never saw because the
    database was down when they were archived. The second kind costs one archive
    listing per location and API version; older gaps are for a backfill.
    """
    logger = get_run_logger()
    since = started_at.date() - timedelta(days=days)
    logger.info(
        "Looking for raw objects not yet loaded: ledger entries recorded before %s "
        "and entries of %d locations archived since %s in %s",
        started_at.isoformat(),
        len(woeids),
        since.isoformat(),
        archive.url,
    )

    pending = set(ledger.pending_keys(database_url, started_at))
    listed = archived_body_keys(archive, woeids, since, started_at.date())
    unrecorded = set(ledger.unrecorded_keys(database_url, listed))
    keys = sorted((pending | unrecorded) - set(this_run_keys))
    if not keys:
        logger.info("Nothing to catch up: every archived object is loaded")
        return ReplaySummary()
    summary = replay_objects(
        [(key, partial(read_archived, archive, key)) for key in keys],
        database_url,
        flow_run_id,
    )

    for key, reason in sorted(summary.unreadable.items()):
        logger.warning("Could not read the archived object %s: %s", key, reason)
    logger.info(
        "Caught up %d raw objects (%d recorded, %d unrecorded): %d new trend rows, "
        "%d already present, %d rejected, %d unreadable",
        len(keys),
        len(pending & set(keys)),
        len(unrecorded & set(keys)),
        summary.new_rows,
        summary.present_rows,
        len(summary.rejected),
        len(summary.unreadable),
    )
    return summary
