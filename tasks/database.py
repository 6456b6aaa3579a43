"""Connections to PostgreSQL, the embedded server, and the versioned schema."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import psycopg

# Any fixed number: it only has to be the same for every process that migrates.
MIGRATION_LOCK_ID = 0x7472656E6473


class DatabaseError(RuntimeError):
    """The database could not be reached or prepared."""


def connect(url: str, **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
    """Open a psycopg connection to a postgresql:// URL or a SQLAlchemy-style one.

    Raises:
        DatabaseError: when the server cannot be reached, naming the host but never
            the password.
    """
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        return psycopg.connect(conninfo, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as error:
        where = describe_url(url)
        raise DatabaseError(
            f"Cannot connect to PostgreSQL at {where}: {str(error).strip()}. "
            "Check that the server runs and TRENDS_DATABASE_URL is right."
        ) from None


def describe_url(url: str) -> str:
    """The host, port and database of a URL, without user or password."""
    info = psycopg.conninfo.conninfo_to_dict(
        url.replace("postgresql+psycopg://", "postgresql://", 1)
    )
    host = info.get("host") or "localhost"
    return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


def embedded_database_url(data_dir: Path) -> str:
    """Start, or reuse, the embedded PostgreSQL under data_dir and return its URL."""
    import pgserver  # imported here: starting a server is slow and rarely needed

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir.resolve() / "pg", cleanup_mode=None)
    return str(server.get_uri())


def migrate(url: str) -> list[str]:
    """Apply the schema migrations that the database lacks, in version order.

    Concurrent callers wait on an advisory lock, so exactly one applies each file.

    Returns:
        The versions applied by this call; empty when the schema was current.
    """
    scripts = sorted(
        (entry.name, entry.read_text())
        for entry in resources.files("tasks.sql").iterdir()
        if entry.name.endswith(".sql")
    )
    applied_now: list[str] = []
    with connect(url) as connection, connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {
            version
            for (version,) in connection.execute(
                "SELECT version FROM schema_migrations"
            )
        }
        for name, script in scripts:
            version = name.removesuffix(".sql")
            if version in applied:
                continue
            connection.execute(script.encode())
            connection.execute(
                "INSERT INTO schema_migrations (version) VALUES (%s)", (version,)
            )
            applied_now.append(version)
    return applied_now
