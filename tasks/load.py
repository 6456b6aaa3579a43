"""Bulk-load normalised snapshots into trend_observations, each snapshot once.

A snapshot is the trend list of one location at one as_of, its slot. The first
response loaded for a slot wins and is never changed: a later one for the same slot,
whether a rerun, a retry or a replayed archive object, is counted as present and none
of its rows are written. Because a slot is either wholly loaded or absent, new slots
go straight into the table by COPY, with no staging table and no per-row conflict
check; the primary key still refuses anything that slips past.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, cast

import polars as pl
import psycopg
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from psycopg import sql

from tasks import ledger
from tasks.database import connect
from tasks.locations import Location
from tasks.normalise import TREND_SCHEMA, Snapshot

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

COLUMNS = sql.SQL(", ").join(sql.Identifier(name) for name in TREND_SCHEMA.names())
COPY_ROWS = sql.SQL(
    "COPY trend_observations ({}) FROM STDIN (FORMAT csv, NULL '')"
).format(COLUMNS)
# The primary key's columns, in its order.
KEY_ORDER = ("name", "woeid", "as_of")
# Big enough that per-transaction costs vanish, small enough to stay a few MB.
BATCH_ROWS = 50_000

Slot = tuple[int, datetime]


@dataclass(frozen=True)
class LoadCounts:
    """How many of a snapshot's rows were new and how many were present already."""

    new: int
    present: int


@dataclass
class LoadTotals:
    """What a streamed load did, summed over its batches."""

    batches: int = 0
    snapshots: int = 0
    new_snapshots: int = 0
    new_rows: int = 0
    present_rows: int = 0
    locations: set[int] = field(default_factory=set)

    def add(self, snapshots: Sequence[Snapshot], counts: Sequence[LoadCounts]) -> None:
        """Count one committed batch."""
        self.batches += 1
        self.snapshots += len(snapshots)
        self.new_snapshots += sum(1 for c in counts if c.new)
        self.new_rows += sum(c.new for c in counts)
        self.present_rows += sum(c.present for c in counts)
        self.locations.update(s.woeid for s in snapshots)


# Called inside a batch's transaction with its snapshots and their counts.
LoadedHook = Callable[
    [psycopg.Connection[Any], Sequence[Snapshot], Sequence[LoadCounts]], None
]


class LoadConflict(RuntimeError):
    """New rows collided with a key in the table; nothing of the batch loaded."""


@task(name="load-trends", cache_policy=NO_CACHE)
def load_trends(
    snapshots: list[Snapshot], database_url: str, keep_ledger: bool = False
) -> list[LoadCounts]:
    """Load snapshots in one transaction; known slots are counted as present.

    Either every snapshot loads or none does. With keep_ledger, raw_objects marks
    each snapshot's object as loaded in that same transaction.

    Returns:
        The counts of each snapshot, in the order given.
    """
    logger = get_run_logger()
    total = sum(snapshot.trends.height for snapshot in snapshots)
    logger.info(
        "Loading %d trend rows of %d snapshots into trend_observations",
        total,
        len(snapshots),
    )

    on_loaded = ledger.record_loaded if keep_ledger else None
    with connect(database_url) as connection:
        counts = load_snapshots(connection, snapshots, on_loaded)

    new = sum(c.new for c in counts)
    logger.info(
        "Loaded %d new trend rows for %d locations into trend_observations; "
        "%d already present",
        new,
        len({snapshot.woeid for snapshot in snapshots}),
        total - new,
    )
    return counts


@task(name="load-snapshot-batches", cache_policy=NO_CACHE)
def load_snapshot_batches(
    snapshots: Iterable[Snapshot], database_url: str, batch_rows: int = BATCH_ROWS
) -> LoadTotals:
    """Stream snapshots into trend_observations, one transaction per batch.

    Memory holds one batch at a time, whatever the length of the stream; a batch
    that commits stays loaded if a later one fails.
    """
    logger = get_run_logger()
    logger.info(
        "Loading a stream of snapshots into trend_observations in batches of "
        "about %d rows",
        batch_rows,
    )

    totals = load_in_batches(snapshots, database_url, batch_rows)

    logger.info(
        "Loaded %d new trend rows of %d new snapshots for %d locations into "
        "trend_observations in %d batches; %d snapshots with %d rows already present",
        totals.new_rows,
        totals.new_snapshots,
        len(totals.locations),
        totals.batches,
        totals.snapshots - totals.new_snapshots,
        totals.present_rows,
    )
    return totals


def load_in_batches(
    snapshots: Iterable[Snapshot],
    database_url: str,
    batch_rows: int = BATCH_ROWS,
    on_loaded: LoadedHook | None = None,
) -> LoadTotals:
    """Load a stream of snapshots over one connection, committing every batch."""
    totals = LoadTotals()
    with connect(database_url) as connection:
        for batch in batched_by_rows(snapshots, batch_rows):
            totals.add(batch, load_snapshots(connection, batch, on_loaded))
            # Let this batch go before the next one is gathered, not after.
            del batch
    return totals


def batched_by_rows(
    snapshots: Iterable[Snapshot], batch_rows: int
) -> Iterator[list[Snapshot]]:
    """Group whole snapshots into lists of about batch_rows rows each."""
    batch: list[Snapshot] = []
    rows = 0
    for snapshot in snapshots:
        batch.append(snapshot)
        rows += snapshot.trends.height
        if rows >= batch_rows:
            yield batch
            batch, rows = [], 0
    if batch:
        yield batch


def load_snapshots(
    connection: psycopg.Connection[Any],
    snapshots: Sequence[Snapshot],
    on_loaded: LoadedHook | None = None,
) -> list[LoadCounts]:
    """Load snapshots whose slots are not yet in the table, in one transaction.

    Concurrent callers holding the same slot take its advisory lock in the same
    order, so one loads it and the others then find it present, without deadlock.
    on_loaded runs last inside the transaction, so what it writes (the ledger's
    "loaded" marks) commits with the rows or not at all.

    Returns:
        The counts of each snapshot, in the order given.

    Raises:
        LoadConflict: when rows of a new slot were written by something that does
            not take the slot locks.
    """
    if not snapshots:
        return []
    slots = sorted({(s.woeid, s.as_of) for s in snapshots})
    with connection.transaction():
        _add_locations(connection, [s.archived.response.location for s in snapshots])
        _lock_slots(connection, slots)
        loaded = _present_slots(connection, slots)
        counts, fresh = _split_new(snapshots, loaded)
        _copy_rows(connection, fresh)
        if on_loaded is not None:
            on_loaded(connection, snapshots, counts)
    return counts


def _split_new(
    snapshots: Sequence[Snapshot], loaded: set[Slot]
) -> tuple[list[LoadCounts], list[pl.DataFrame]]:
    """Count each snapshot; the first of each unloaded slot is the one to copy."""
    taken = set(loaded)
    counts: list[LoadCounts] = []
    fresh: list[pl.DataFrame] = []
    for snapshot in snapshots:
        slot = (snapshot.woeid, snapshot.as_of)
        if slot in taken:
            counts.append(LoadCounts(new=0, present=snapshot.trends.height))
            continue
        taken.add(slot)
        fresh.append(snapshot.trends)
        counts.append(LoadCounts(new=snapshot.trends.height, present=0))
    return counts, fresh


def slot_lock_key(woeid: int, as_of: datetime) -> int:
    """The advisory lock key of a slot: a stable signed 64-bit hash."""
    text = f"trend_observations/{woeid}/{as_of.astimezone(UTC).isoformat()}"
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_slots(connection: psycopg.Connection[Any], slots: list[Slot]) -> None:
    keys = sorted({slot_lock_key(woeid, as_of) for woeid, as_of in slots})
    # A function scan yields the array in order, so the locks are taken sorted.
    connection.execute(
        "SELECT count(pg_advisory_xact_lock(key)) FROM unnest(%s::bigint[]) AS key",
        (keys,),
    )


def _present_slots(connection: psycopg.Connection[Any], slots: list[Slot]) -> set[Slot]:
    # The day term follows from as_of; it lets each lookup use the UTC-day index,
    # whose columns are (day, woeid, as_of). One probe per slot, through LATERAL
    # and LIMIT, keeps that plan even before the table has statistics, where an
    # EXISTS would hash the whole table instead.
    found = connection.execute(
        "SELECT slot.woeid, slot.as_of"
        " FROM unnest(%s::bigint[], %s::timestamptz[]) AS slot (woeid, as_of)"
        " CROSS JOIN LATERAL (SELECT FROM trend_observations AS observed"
        "  WHERE (observed.as_of AT TIME ZONE 'UTC')::date"
        "    = (slot.as_of AT TIME ZONE 'UTC')::date"
        "   AND observed.woeid = slot.woeid AND observed.as_of = slot.as_of"
        "  LIMIT 1) AS present",
        ([woeid for woeid, _ in slots], [as_of for _, as_of in slots]),
    ).fetchall()
    return {(woeid, as_of) for woeid, as_of in found}


def _copy_rows(connection: psycopg.Connection[Any], frames: list[pl.DataFrame]) -> None:
    if not frames:
        return
    # In primary key order, each btree page the COPY touches takes a run of rows.
    rows = (
        pl.concat(frames, how="vertical", rechunk=False)
        .select(TREND_SCHEMA.names())
        .sort(KEY_ORDER)
    )
    try:
        with connection.cursor().copy(COPY_ROWS) as copy:
            write_copy_csv(rows, copy)
    except psycopg.errors.UniqueViolation as error:
        raise LoadConflict(
            f"COPY into trend_observations hit a key that is taken: "
            f"{error.diag.message_detail} The rows of a snapshot must be unique by "
            "name (normalise_trends makes them so), and trend_observations must be "
            "written only through tasks.load, which locks each snapshot's slot."
        ) from error


def write_copy_csv(rows: pl.DataFrame, copy: psycopg.Copy) -> None:
    """Stream rows into a COPY as CSV: text quoted, so only an unquoted empty is NULL.

    polars hands the text over in chunks of some tens of KB, so a batch's CSV is
    never held whole in memory.
    """
    # A file object as typing sees it has far more than polars uses: write().
    target = cast(IO[bytes], _CopyFile(copy))
    rows.write_csv(target, include_header=False, quote_style="non_numeric")


class _CopyFile(io.RawIOBase):
    """A COPY as the writable binary file that polars' CSV writer wants."""

    def __init__(self, copy: psycopg.Copy) -> None:
        super().__init__()
        self._copy = copy

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        # A copy of the chunk: polars may reuse its buffer once write returns.
        chunk = bytes(data)
        self._copy.write(chunk)
        return len(chunk)


def _add_locations(
    connection: psycopg.Connection[Any], locations: list[Location]
) -> None:
    # Sorted, so that two loaders adding the same new places cannot deadlock.
    distinct = sorted({loc.woeid: loc for loc in locations}.values(), key=_woeid)
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO locations (woeid, name, kind, country_code)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (woeid) DO NOTHING",
            [(loc.woeid, loc.name, loc.kind, loc.country_code) for loc in distinct],
        )


def _woeid(location: Location) -> int:
    return location.woeid
