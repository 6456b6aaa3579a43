"""A year of local raw archive replayed through the backfill flow's replay path.

Run as ``python -m benchmarks.backfill ARCHIVE DATABASE_URL SINCE UNTIL`` it lists
the archive's objects of those dates for the nine locations, as the backfill flow
does, replays them with the flow's own replay function (concurrent reads, batch
loader, ledger) and prints objects, rows, seconds and its own peak memory as JSON,
so that the peak is that of the backfill alone.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date
from functools import partial
from pathlib import Path

from benchmarks.memory import peak_rss_mb
from tasks.archive import LocalArchive
from tasks.locations import DEFAULT_WOEIDS
from tasks.replay import archived_body_keys, read_archived, replay_objects


@dataclass(frozen=True)
class BackfillResult:
    """What one backfill of the archive did and what it cost."""

    objects: int
    rows: int
    new_rows: int
    seconds: float
    peak_rss_mb: float


def backfill_archive(
    root: Path, database_url: str, since: date, until: date
) -> BackfillResult:
    """Replay the archive's objects of a date range as the backfill flow does."""
    archive = LocalArchive(root)

    started = time.perf_counter()
    keys = archived_body_keys(archive, DEFAULT_WOEIDS, since, until)
    readers = [(key, partial(read_archived, archive, key)) for key in keys]
    summary = replay_objects(readers, database_url, None)
    seconds = time.perf_counter() - started

    return BackfillResult(
        objects=summary.objects,
        rows=summary.new_rows + summary.present_rows,
        new_rows=summary.new_rows,
        seconds=seconds,
        peak_rss_mb=peak_rss_mb(),
    )


if __name__ == "__main__":
    folder, url, first, last = sys.argv[1:5]
    result = backfill_archive(
        Path(folder), url, date.fromisoformat(first), date.fromisoformat(last)
    )
    print(json.dumps(asdict(result)))
