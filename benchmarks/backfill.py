"""A year of local raw archive loaded through the batch load API.

Run as ``python -m benchmarks.backfill ARCHIVE DATABASE_URL`` it loads the archive
and prints objects, rows, seconds and its own peak memory as JSON, so that the peak
is that of the backfill alone.
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from benchmarks.memory import peak_rss_mb
from tasks.archive import META_SUFFIX, ArchivedResponse, LocalArchive
from tasks.fetch import RawResponse
from tasks.load import load_in_batches
from tasks.locations import KNOWN_LOCATIONS, Location
from tasks.normalise import Snapshot, normalise_trends

READERS = 8
In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True)
class BackfillResult:
    """What one backfill of the archive did and what it cost."""

    objects: int
    rows: int
    new_rows: int
    seconds: float
    peak_rss_mb: float


def backfill_archive(
    root: Path, database_url: str, readers: int = READERS
) -> BackfillResult:
    """Read every complete archive entry concurrently and load it in batches."""
    archive = LocalArchive(root)
    meta_keys = (key for key in archive.keys() if key.endswith(META_SUFFIX))  # noqa: SIM118
    counted = CountedSnapshots(
        ordered_map(partial(read_snapshot, archive), meta_keys, readers)
    )

    started = time.perf_counter()
    totals = load_in_batches(counted, database_url)
    seconds = time.perf_counter() - started

    return BackfillResult(
        objects=counted.objects,
        rows=totals.new_rows + totals.present_rows,
        new_rows=totals.new_rows,
        seconds=seconds,
        peak_rss_mb=peak_rss_mb(),
    )


class CountedSnapshots:
    """Passes snapshots through, counting them."""

    def __init__(self, snapshots: Iterable[Snapshot]) -> None:
        self._snapshots = snapshots
        self.objects = 0

    def __iter__(self) -> Iterator[Snapshot]:
        for snapshot in self._snapshots:
            self.objects += 1
            yield snapshot


def ordered_map(
    work: Callable[[In], Out], items: Iterable[In], workers: int
) -> Iterator[Out]:
    """Like executor.map, but with at most twice workers items in flight."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[Out]] = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def read_snapshot(archive: LocalArchive, meta_key: str) -> Snapshot:
    """Rebuild the response of one archive entry and normalise it."""
    meta = json.loads(archive.read(meta_key))
    request, answer = meta["request"], meta["response"]
    body_key = answer["body_key"]
    woeid = request["woeid"]
    response = RawResponse(
        location=KNOWN_LOCATIONS.get(woeid)
        or Location(woeid, request["location_name"], "town"),
        api_version=request["api_version"],
        request_url=request["url"],
        status_code=answer["status_code"],
        body=archive.read(body_key),
        fetched_at=datetime.fromisoformat(request["fetched_at"]),
        as_of=datetime.fromisoformat(request["as_of"]),
        headers=answer["headers"],
        is_sample=request["sample"],
    )
    return normalise_trends.fn(ArchivedResponse(response, body_key, meta_key), None)


if __name__ == "__main__":
    result = backfill_archive(Path(sys.argv[1]), sys.argv[2])
    print(json.dumps(asdict(result)))
