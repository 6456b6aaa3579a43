"""Bulk-load normalised snapshots into trend_observations without duplicates."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from psycopg import sql

from tasks.database import connect
from tasks.locations import Location
from tasks.normalise import TREND_SCHEMA, Snapshot

COLUMNS = sql.SQL(", ").join(sql.Identifier(name) for name in TREND_SCHEMA.names())


@dataclass(frozen=True)
class LoadCounts:
    """How many of a snapshot's rows were new and how many were present already."""

    new: int
    present: int


@task(name="load-trends", cache_policy=NO_CACHE)
def load_trends(snapshots: list[Snapshot], database_url: str) -> list[LoadCounts]:
    """Load snapshots in one transaction: COPY to staging, then insert the new rows.

    Rows whose (woeid, name, as_of) is already in the table are left as they are and
    counted as present. Either every snapshot loads or none does.

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

    with connect(database_url) as connection, connection.transaction():
        _add_locations(connection, [s.archived.response.location for s in snapshots])
        connection.execute(
            "CREATE TEMPORARY TABLE trend_staging"
            " (LIKE trend_observations INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        copy_statement = sql.SQL("COPY trend_staging ({}) FROM STDIN").format(COLUMNS)
        with connection.cursor().copy(copy_statement) as copy:
            for snapshot in snapshots:
                for row in snapshot.trends.iter_rows():
                    copy.write_row(row)
        inserted = connection.execute(
            sql.SQL(
                "INSERT INTO trend_observations ({columns})"
                " SELECT {columns} FROM trend_staging"
                " ON CONFLICT (woeid, name, as_of) DO NOTHING RETURNING woeid, as_of"
            ).format(columns=COLUMNS)
        ).fetchall()

    new_per_snapshot: Counter[tuple[int, datetime]] = Counter(
        (woeid, as_of) for woeid, as_of in inserted
    )
    counts = []
    for snapshot in snapshots:
        fresh = new_per_snapshot[(snapshot.woeid, snapshot.as_of)]
        counts.append(LoadCounts(new=fresh, present=snapshot.trends.height - fresh))
    new = sum(c.new for c in counts)
    logger.info(
        "Loaded %d new trend rows for %d locations into trend_observations; "
        "%d already present",
        new,
        len({snapshot.woeid for snapshot in snapshots}),
        total - new,
    )
    return counts


def _add_locations(
    connection: psycopg.Connection[Any], locations: list[Location]
) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO locations (woeid, name, kind, country_code)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (woeid) DO NOTHING",
            [(loc.woeid, loc.name, loc.kind, loc.country_code) for loc in locations],
        )
