"""The ways of loading trend rows that the benchmark compares, ours among them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import polars as pl
from psycopg import sql

from tasks.database import connect
from tasks.load import COLUMNS, COPY_ROWS, load_in_batches, write_copy_csv
from tasks.normalise import TREND_SCHEMA, Snapshot

Loader = Callable[[str, Sequence[Snapshot]], None]
KEY = ("woeid", "name", "as_of")
DLT_COLUMN_TYPES: dict[str, Any] = {
    "promoted_content": {"data_type": "json"},
    "url": {"data_type": "text"},
    "query": {"data_type": "text"},
}


def load_with_our_path(database_url: str, snapshots: Sequence[Snapshot]) -> None:
    """tasks.load as a backfill runs it: locked, checked, COPY in batches."""
    load_in_batches(snapshots, database_url)


def load_with_bare_copy(database_url: str, snapshots: Sequence[Snapshot]) -> None:
    """One COPY of every row into the indexed table, with no check at all."""
    with (
        connect(database_url) as connection,
        connection.transaction(),
        connection.cursor().copy(COPY_ROWS) as copy,
    ):
        write_copy_csv(all_rows(snapshots), copy)


def load_with_staging(database_url: str, snapshots: Sequence[Snapshot]) -> None:
    """COPY into a temporary table, then INSERT ... ON CONFLICT DO NOTHING."""
    with connect(database_url) as connection, connection.transaction():
        connection.execute(
            "CREATE TEMPORARY TABLE trend_staging"
            " (LIKE trend_observations INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        copy_staging = sql.SQL("COPY trend_staging ({}) FROM STDIN (FORMAT csv)")
        with connection.cursor().copy(copy_staging.format(COLUMNS)) as copy:
            write_copy_csv(all_rows(snapshots), copy)
        connection.execute(
            sql.SQL(
                "INSERT INTO trend_observations ({columns})"
                " SELECT {columns} FROM trend_staging"
                " ON CONFLICT (woeid, name, as_of) DO NOTHING"
            ).format(columns=COLUMNS)
        )


def load_row_by_row(database_url: str, snapshots: Sequence[Snapshot]) -> None:
    """One INSERT ... ON CONFLICT DO NOTHING per row, in one transaction."""
    insert = sql.SQL(
        "INSERT INTO trend_observations ({columns}) VALUES ({values})"
        " ON CONFLICT (woeid, name, as_of) DO NOTHING"
    ).format(
        columns=COLUMNS,
        values=sql.SQL(", ").join(sql.Placeholder() for _ in TREND_SCHEMA.names()),
    )
    with (
        connect(database_url) as connection,
        connection.transaction(),
        connection.cursor() as cursor,
    ):
        for row in all_rows(snapshots).iter_rows():
            cursor.execute(insert, row)


def dlt_merge_loader() -> Loader | None:
    """dlt's merge into PostgreSQL on the same key, when dlt is installed."""
    try:
        import dlt
    except ImportError:
        return None

    def load_with_dlt_merge(database_url: str, snapshots: Sequence[Snapshot]) -> None:
        with tempfile.TemporaryDirectory(prefix="x-trends-dlt-") as folder:
            pipeline = dlt.pipeline(
                pipeline_name="trends_benchmark",
                pipelines_dir=folder,
                destination=dlt.destinations.postgres(
                    credentials=with_password(database_url)
                ),
                dataset_name="dlt_benchmark",
            )
            rows = dlt.resource(
                trend_dicts(snapshots),
                name="trend_observations",
                write_disposition="merge",
                primary_key=KEY,
                # dlt creates a column only once it sees a value in it; the
                # generated v2 rows leave url and query null, so they are typed here.
                columns=DLT_COLUMN_TYPES,
            )
            pipeline.run(rows).raise_on_failed_jobs()

    return load_with_dlt_merge


def with_password(database_url: str) -> str:
    """The URL with the password and host that dlt insists on.

    A server that trusts the user ignores the password, and a host=... query
    parameter, as an embedded server's socket folder, overrides the host.
    """
    parts = urlsplit(database_url)
    if parts.password and parts.hostname:
        return database_url
    password = parts.password or "unused"
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{parts.username or 'postgres'}:{password}@{host}{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def drop_dlt_dataset(database_url: str) -> None:
    """Remove what dlt loaded, so that every repetition starts empty."""
    with connect(database_url) as connection:
        connection.execute("DROP SCHEMA IF EXISTS dlt_benchmark CASCADE")
        connection.execute("DROP SCHEMA IF EXISTS dlt_benchmark_staging CASCADE")


def all_rows(snapshots: Sequence[Snapshot]) -> pl.DataFrame:
    return pl.concat([s.trends for s in snapshots], how="vertical", rechunk=False)


def trend_dicts(snapshots: Sequence[Snapshot]) -> Iterator[dict[str, Any]]:
    for snapshot in snapshots:
        yield from snapshot.trends.iter_rows(named=True)
