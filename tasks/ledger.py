"""The ledger of raw objects in PostgreSQL: what is archived, loaded or rejected."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from tasks.archive import ArchivedResponse
from tasks.database import connect
from tasks.normalise import Snapshot

if TYPE_CHECKING:
    # Only a type here: tasks.load calls this module inside its transactions.
    from tasks.load import LoadCounts

UPSERT = """
INSERT INTO raw_objects AS ledger (key, woeid, as_of, api_version, fetched_at,
    status_code, is_sample, state, reason, rows, new_rows, loaded_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
    CASE WHEN %s = 'archived' THEN NULL ELSE now() END)
ON CONFLICT (key) DO UPDATE SET
    as_of = excluded.as_of,
    state = excluded.state,
    reason = excluded.reason,
    rows = excluded.rows,
    new_rows = excluded.new_rows,
    loaded_at = excluded.loaded_at
-- A loaded object keeps the counts of the load that added its rows; loading it
-- again, from a cached fetch or a replay, adds nothing to remember.
WHERE ledger.state <> 'loaded'
"""
RECORD = """
INSERT INTO raw_objects (key, woeid, as_of, api_version, fetched_at, status_code,
    is_sample)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (key) DO NOTHING
"""


def record_archived(database_url: str, archived: Sequence[ArchivedResponse]) -> None:
    """Record newly archived objects as not yet loaded; known keys stay as they are."""
    with connect(database_url) as connection, connection.cursor() as cursor:
        cursor.executemany(RECORD, [_identity(entry) for entry in archived])


def record_loaded(
    connection: psycopg.Connection[Any],
    snapshots: Sequence[Snapshot],
    counts: Sequence[LoadCounts],
) -> None:
    """Mark the objects of loaded snapshots as loaded, with their row counts.

    Runs on the loader's connection, inside the transaction that wrote the rows,
    so the ledger can never say "archived" for rows that are in the table.
    """
    rows = [
        (
            *_identity(snapshot.archived, as_of=snapshot.as_of),
            "loaded",
            None,
            snapshot.trends.height,
            count.new,
            "loaded",
        )
        for snapshot, count in zip(snapshots, counts, strict=True)
    ]
    # In key order, so that two loaders marking the same objects cannot deadlock.
    rows.sort(key=_key)
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.executemany(UPSERT, rows)


def mark_rejected(
    database_url: str, rejected: Iterable[tuple[ArchivedResponse, str]]
) -> None:
    """Mark objects that are not trend lists as rejected, keeping the reason."""
    rows = [
        (*_identity(entry), "rejected", reason, None, None, "rejected")
        for entry, reason in rejected
    ]
    _upsert(database_url, rows)


def pending_keys(database_url: str, recorded_before: datetime) -> list[str]:
    """Keys archived before the given time whose rows were never loaded."""
    with connect(database_url) as connection:
        found = connection.execute(
            "SELECT key FROM raw_objects WHERE state = 'archived' AND recorded_at < %s"
            " ORDER BY key",
            (recorded_before,),
        ).fetchall()
    return [key for (key,) in found]


def unrecorded_keys(database_url: str, keys: Sequence[str]) -> list[str]:
    """The keys among those given that the ledger has never seen."""
    with connect(database_url) as connection:
        found = connection.execute(
            "SELECT key FROM unnest(%s::text[]) AS listed (key)"
            " WHERE NOT EXISTS (SELECT 1 FROM raw_objects r WHERE r.key = listed.key)"
            " ORDER BY key",
            (list(keys),),
        ).fetchall()
    return [key for (key,) in found]


def _key(row: tuple[object, ...]) -> str:
    return str(row[0])


def _upsert(database_url: str, rows: list[tuple[object, ...]]) -> None:
    if not rows:
        return
    with connect(database_url) as connection, connection.cursor() as cursor:
        cursor.executemany(UPSERT, rows)


def _identity(
    entry: ArchivedResponse, as_of: datetime | None = None
) -> tuple[object, ...]:
    response = entry.response
    return (
        entry.body_key,
        response.location.woeid,
        as_of or response.as_of,
        response.api_version,
        response.fetched_at,
        response.status_code,
        response.is_sample,
    )
