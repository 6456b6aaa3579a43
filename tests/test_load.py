"""Loading snapshots: each (woeid, as_of) slot once, by COPY, safe under concurrency."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import psycopg
import pytest

from tasks import ledger
from tasks.archive import ArchivedResponse
from tasks.fetch import RawResponse
from tasks.load import (
    LoadConflict,
    LoadCounts,
    load_in_batches,
    load_snapshot_batches,
    load_snapshots,
    load_trends,
    slot_lock_key,
)
from tasks.locations import KNOWN_LOCATIONS
from tasks.normalise import Snapshot, normalise_trends

AS_OF = datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
WAIT_SECONDS = 30
# The load tasks run here outside a flow, where Prefect keeps their logs local.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Logger 'prefect.task_runs' attempted to send logs:UserWarning"
)


def snapshot(woeid: int, *names: str, as_of: datetime = AS_OF) -> Snapshot:
    body = json.dumps({"data": [{"trend_name": name} for name in names]}).encode()
    response = RawResponse(
        location=KNOWN_LOCATIONS[woeid],
        api_version="2",
        request_url=f"http://127.0.0.1/2/trends/by/woeid/{woeid}",
        status_code=200,
        body=body,
        fetched_at=as_of + timedelta(minutes=5),
        as_of=as_of,
    )
    key = f"v2/woeid={woeid}/date={as_of:%Y-%m-%d}/{as_of:%H%M%S}-{names[0]}.json"
    archived = ArchivedResponse(response, key, key.replace(".json", ".meta.json"))
    return normalise_trends.fn(archived, None)


def stored(database_url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT woeid, as_of, name FROM trend_observations ORDER BY woeid, rank"
        ).fetchall()


def test_new_snapshots_are_copied_in_and_counted_new(database_url: str) -> None:
    counts = load_trends(
        [snapshot(4118, "Leafs", "Raptors"), snapshot(3534, "Habs")], database_url
    )

    assert counts == [LoadCounts(new=2, present=0), LoadCounts(new=1, present=0)]
    assert stored(database_url) == [
        (3534, AS_OF, "Habs"),
        (4118, AS_OF, "Leafs"),
        (4118, AS_OF, "Raptors"),
    ]


def test_a_known_snapshot_is_skipped_and_counted_present(database_url: str) -> None:
    load_trends([snapshot(4118, "Leafs", "Raptors")], database_url)

    counts = load_trends(
        [snapshot(4118, "Leafs", "Raptors"), snapshot(3534, "Habs")], database_url
    )

    assert counts == [LoadCounts(new=0, present=2), LoadCounts(new=1, present=0)]
    assert len(stored(database_url)) == 3


def test_a_later_different_response_for_a_slot_is_present_and_not_mixed_in(
    database_url: str,
) -> None:
    load_trends([snapshot(4118, "Leafs", "Raptors")], database_url)

    [counts] = load_trends([snapshot(4118, "Blue Jays", "Leafs", "TFC")], database_url)

    assert counts == LoadCounts(new=0, present=3)
    assert stored(database_url) == [(4118, AS_OF, "Leafs"), (4118, AS_OF, "Raptors")]


def test_within_one_load_the_first_response_for_a_slot_wins(
    database_url: str,
) -> None:
    first, second = snapshot(4118, "Leafs"), snapshot(4118, "Argos", "Leafs")

    counts = load_trends([first, second], database_url)

    assert counts == [LoadCounts(new=1, present=0), LoadCounts(new=0, present=2)]
    assert stored(database_url) == [(4118, AS_OF, "Leafs")]


def test_two_loaders_of_one_snapshot_at_once_give_one_copy_and_no_error(
    database_url: str,
) -> None:
    rival = snapshot(4118, "Leafs", "Raptors", "TTC")

    with psycopg.connect(database_url) as gate, ThreadPoolExecutor(2) as pool:
        # Hold the slot so both loaders are queued before either goes on.
        gate.execute("SELECT pg_advisory_xact_lock(%s)", (slot_lock_key(4118, AS_OF),))
        try:
            loads = [pool.submit(load_one, database_url, rival) for _ in range(2)]
            wait_for_blocked_sessions(database_url, 2)
        finally:
            gate.rollback()
        results = [load.result(timeout=WAIT_SECONDS) for load in loads]

    assert sorted(c.new for c in results) == [0, 3]
    assert sorted(c.present for c in results) == [0, 3]
    assert len(stored(database_url)) == 3


def test_loaders_of_overlapping_snapshots_in_opposite_orders_do_not_deadlock(
    database_url: str,
) -> None:
    hours = [AS_OF + timedelta(hours=h) for h in range(20)]
    forward = [snapshot(4118, "Leafs", as_of=hour) for hour in hours]
    backward = [snapshot(4118, "Leafs", as_of=hour) for hour in reversed(hours)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        loads = [pool.submit(load_many, database_url, s) for s in (forward, backward)]
        new_counts = [load.result(timeout=WAIT_SECONDS) for load in loads]

    assert sum(new_counts) == 20
    assert len(stored(database_url)) == 20


def test_a_stream_is_loaded_batch_by_batch_as_it_is_read(database_url: str) -> None:
    seen_loaded: list[int] = []

    def hourly_snapshots() -> Iterator[Snapshot]:
        for hour in range(10):
            seen_loaded.append(len(stored(database_url)))
            yield snapshot(
                3369, "Sens", "Redblacks", as_of=AS_OF + timedelta(hours=hour)
            )

    totals = load_in_batches(hourly_snapshots(), database_url, batch_rows=4)

    assert (totals.batches, totals.snapshots, totals.new_rows) == (5, 10, 20)
    assert seen_loaded == [0, 0, 4, 4, 8, 8, 12, 12, 16, 16]


def test_the_batch_task_counts_replayed_snapshots_as_present(
    database_url: str,
) -> None:
    load_trends([snapshot(2972, "Jets")], database_url)
    replay = [
        snapshot(2972, "Jets", "Bombers"),
        snapshot(2972, "Jets", as_of=AS_OF + timedelta(days=1)),
    ]

    totals = load_snapshot_batches(iter(replay), database_url, batch_rows=1)

    assert (totals.new_snapshots, totals.new_rows, totals.present_rows) == (1, 1, 2)
    assert totals.locations == {2972}


def test_rows_repeating_a_key_are_refused_naming_the_rule(database_url: str) -> None:
    leafs = snapshot(4118, "Leafs")
    doubled = Snapshot(
        leafs.archived, pl.concat([leafs.trends, leafs.trends]), 2, leafs.as_of
    )

    with pytest.raises(LoadConflict, match=r"already exists.*unique by name"):
        load_trends([doubled], database_url)

    assert stored(database_url) == []


def load_one(database_url: str, rival: Snapshot) -> LoadCounts:
    with psycopg.connect(database_url) as connection:
        [counts] = load_snapshots(connection, [rival])
    return counts


def load_many(database_url: str, snapshots: list[Snapshot]) -> int:
    with psycopg.connect(database_url) as connection:
        return sum(c.new for c in load_snapshots(connection, snapshots))


def wait_for_blocked_sessions(database_url: str, n: int) -> None:
    # Autocommit: a transaction would see pg_stat_activity as of its first read.
    with psycopg.connect(database_url, autocommit=True) as watcher:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            [(waiting,)] = watcher.execute(
                "SELECT count(DISTINCT pid) FROM pg_locks"
                " JOIN pg_stat_activity USING (pid)"
                " WHERE NOT granted AND datname = current_database()"
            ).fetchall()
            if waiting >= n:
                return
            time.sleep(0.05)
    raise AssertionError(f"{n} loaders did not queue on the snapshot in time")


def ledger_states(database_url: str) -> dict[str, tuple[object, ...]]:
    with psycopg.connect(database_url) as connection:
        found = connection.execute(
            "SELECT key, state, rows, new_rows FROM raw_objects ORDER BY key"
        ).fetchall()
    return {key: tuple(rest) for key, *rest in found}


def test_the_ledger_marks_objects_loaded_in_the_transaction_of_their_rows(
    database_url: str,
) -> None:
    leafs, jets = snapshot(4118, "Leafs", "Raptors"), snapshot(2972, "Jets")
    ledger.record_archived(database_url, [leafs.archived, jets.archived])

    load_trends([leafs, jets], database_url, keep_ledger=True)

    assert ledger_states(database_url) == {
        leafs.archived.body_key: ("loaded", 2, 2),
        jets.archived.body_key: ("loaded", 1, 1),
    }


def test_a_failed_load_leaves_neither_rows_nor_loaded_marks(
    database_url: str,
) -> None:
    leafs, sens = snapshot(4118, "Leafs"), snapshot(3369, "Sens")
    ledger.record_archived(database_url, [leafs.archived, sens.archived])

    def mark_then_crash(
        connection: psycopg.Connection[Any],
        snapshots: Sequence[Snapshot],
        counts: Sequence[LoadCounts],
    ) -> None:
        ledger.record_loaded(connection, snapshots, counts)
        raise ConnectionError("the loader died between the rows and the commit")

    with (
        psycopg.connect(database_url) as connection,
        pytest.raises(ConnectionError),
    ):
        load_snapshots(connection, [leafs, sens], mark_then_crash)

    assert stored(database_url) == []
    assert {state for state, *_ in ledger_states(database_url).values()} == {"archived"}
