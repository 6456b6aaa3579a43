"""Send archived raw objects through the normalise and load path again, in batches."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar

from tasks import ledger
from tasks.archive import META_SUFFIX, ArchivedResponse, RawArchive
from tasks.database import connect
from tasks.fetch import RawResponse
from tasks.load import BATCH_ROWS, LoadCounts, batched_by_rows, load_snapshots
from tasks.locations import KNOWN_LOCATIONS, Location
from tasks.normalise import Snapshot, SnapshotRejected, normalise_trends

API_VERSIONS = ("2", "1.1")
READ_THREADS = 8
In = TypeVar("In")
Out = TypeVar("Out")

ArchivedReader = Callable[[], ArchivedResponse]
Outcome = Snapshot | tuple[ArchivedResponse, str] | tuple[str, Exception]


@dataclass
class ReplaySummary:
    """What a replay did, object by object and row by row."""

    objects: int = 0
    loaded: int = 0
    rejected: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    new_rows: int = 0
    present_rows: int = 0

    def add(self, snapshots: Sequence[Snapshot], counts: Sequence[LoadCounts]) -> None:
        self.loaded += len(snapshots)
        self.new_rows += sum(count.new for count in counts)
        self.present_rows += sum(count.present for count in counts)


def archived_body_keys(
    archive: RawArchive, woeids: Iterable[int], since: date, until: date
) -> list[str]:
    """Body keys of the complete archive entries fetched between two dates.

    One ordered listing per location and API version, started at the first date,
    so the cost follows the range asked for, not the size of the archive. An entry
    is complete once its metadata object exists.
    """
    keys = []
    for woeid in woeids:
        for version in API_VERSIONS:
            prefix = f"v{version}/woeid={woeid}/"
            # "~" sorts after every character of a raw object's name.
            last = f"{prefix}date={until.isoformat()}/~"
            start = f"{prefix}date={(since - timedelta(days=1)).isoformat()}/~"
            for key in archive.keys(prefix, start_after=start):
                if key > last:
                    break
                if key.endswith(META_SUFFIX):
                    keys.append(key.removesuffix(META_SUFFIX) + ".json")
    return keys


def read_archived(archive: RawArchive, body_key: str) -> ArchivedResponse:
    """Rebuild an archived response from its body and its metadata object."""
    meta_key = body_key.removesuffix(".json") + META_SUFFIX
    meta = json.loads(archive.read(meta_key))
    request, answer = meta["request"], meta["response"]
    woeid = int(request["woeid"])
    location = KNOWN_LOCATIONS.get(woeid) or Location(
        woeid, request.get("location_name") or str(woeid), "unknown"
    )
    response = RawResponse(
        location=location,
        api_version=request["api_version"],
        request_url=request["url"],
        status_code=int(answer["status_code"]),
        body=archive.read(body_key),
        fetched_at=datetime.fromisoformat(request["fetched_at"]),
        as_of=datetime.fromisoformat(request["as_of"]),
        headers=answer.get("headers") or {},
        is_sample=bool(request.get("sample")),
    )
    return ArchivedResponse(response=response, body_key=body_key, meta_key=meta_key)


def replay_objects(
    readers: Sequence[tuple[str, ArchivedReader]],
    database_url: str,
    flow_run_id: str | None,
    *,
    keep_ledger: bool = True,
    batch_rows: int = BATCH_ROWS,
    on_progress: Callable[[int], None] | None = None,
) -> ReplaySummary:
    """Read objects concurrently, normalise them and stream them into the table.

    Snapshots go to the batch loader as they are read, about batch_rows rows a
    transaction over one connection, so memory holds a batch and a few objects in
    flight, whatever the length of the replay. Rows already present are left
    alone, so a second replay of the same objects inserts nothing. With
    keep_ledger, raw_objects marks each loaded object in its batch's
    transaction, and each rejected one after it.

    Args:
        readers: The key of each object and a callable that reads it, run on a
            pool of threads. An object that cannot be read is counted as
            unreadable and left out.
        on_progress: Called with the number of objects just finished.
    """
    summary = ReplaySummary(objects=len(readers))
    stream = _SnapshotStream(_normalised(readers, flow_run_id), summary)
    on_loaded = ledger.record_loaded if keep_ledger else None
    with connect(database_url) as connection:
        for batch in batched_by_rows(stream, batch_rows):
            summary.add(batch, load_snapshots(connection, batch, on_loaded))
            _report(stream, database_url, keep_ledger, on_progress)
            # Let this batch go before the next one is gathered, not after.
            del batch
        _report(stream, database_url, keep_ledger, on_progress)
    return summary


class _SnapshotStream:
    """Passes snapshots on; notes rejected and unreadable objects on the way."""

    def __init__(self, outcomes: Iterable[Outcome], summary: ReplaySummary) -> None:
        self._outcomes = outcomes
        self._summary = summary
        self.finished = 0
        self.rejected: list[tuple[ArchivedResponse, str]] = []

    def __iter__(self) -> Iterator[Snapshot]:
        for outcome in self._outcomes:
            self.finished += 1
            if isinstance(outcome, Snapshot):
                yield outcome
            elif isinstance(outcome[0], ArchivedResponse):
                self._summary.rejected[outcome[0].body_key] = str(outcome[1])
                self.rejected.append((outcome[0], str(outcome[1])))
            else:
                self._summary.unreadable[outcome[0]] = str(outcome[1])


def _report(
    stream: _SnapshotStream,
    database_url: str,
    keep_ledger: bool,
    on_progress: Callable[[int], None] | None,
) -> None:
    """Record the rejected objects and the progress since the last report."""
    if keep_ledger and stream.rejected:
        ledger.mark_rejected(database_url, stream.rejected)
    stream.rejected.clear()
    if on_progress is not None and stream.finished:
        on_progress(stream.finished)
    stream.finished = 0


def _normalised(
    readers: Sequence[tuple[str, ArchivedReader]], flow_run_id: str | None
) -> Iterator[Outcome]:
    def read_and_normalise(item: tuple[str, ArchivedReader]) -> Outcome:
        key, read = item
        try:
            archived = read()
        except Exception as error:
            # One damaged object must not stop the others; the summary names it.
            return key, error
        try:
            # The task's function, not a task run per object: thousands of runs
            # would cost more than the work.
            return normalise_trends.fn(archived, flow_run_id)
        except SnapshotRejected as error:
            return archived, str(error)

    yield from ordered_map(read_and_normalise, readers, READ_THREADS)


def ordered_map(
    work: Callable[[In], Out], items: Iterable[In], workers: int
) -> Iterator[Out]:
    """Like a pool's map, in order, but with at most twice workers items in flight.

    A pool's own map reads everything ahead of a slow consumer; this one keeps
    memory flat while the loader catches up.
    """
    with ThreadPoolExecutor(workers, thread_name_prefix="replay") as pool:
        pending: deque[Future[Out]] = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
