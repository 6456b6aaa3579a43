"""A throwaway database for one benchmark run, on the configured server."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tasks.database import connect, migrate
from tasks.locations import KNOWN_LOCATIONS


@contextmanager
def benchmark_server() -> Iterator[str]:
    """TRENDS_DATABASE_URL's server when set, else an embedded one for this run."""
    url = os.environ.get("TRENDS_DATABASE_URL")
    if url:
        yield url.replace("postgresql+psycopg://", "postgresql://", 1)
        return
    import pgserver  # started only when no server is configured

    with tempfile.TemporaryDirectory(prefix="x-trends-bench-pg-") as folder:
        server = pgserver.get_server(Path(folder), cleanup_mode="stop")
        try:
            yield str(server.get_uri())
        finally:
            server.cleanup()


@contextmanager
def benchmark_database(server_url: str, keep: bool = False) -> Iterator[str]:
    """A migrated database of this run's own with every known location.

    It is dropped afterwards unless keep is true.
    """
    name = f"xtrends_bench_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    try:
        migrate(url)
        add_known_locations(url)
        yield url
    finally:
        if not keep:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def add_known_locations(database_url: str) -> None:
    """Insert every known location, so that loaders other than ours can load."""
    with connect(database_url) as connection, connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO locations (woeid, name, kind, country_code)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (woeid) DO NOTHING",
            [
                (loc.woeid, loc.name, loc.kind, loc.country_code)
                for loc in KNOWN_LOCATIONS.values()
            ],
        )


def empty_trend_observations(database_url: str) -> None:
    """Remove every trend row and raw object record, leaving tables and indexes."""
    with connect(database_url) as connection:
        connection.execute("TRUNCATE trend_observations, raw_objects")
