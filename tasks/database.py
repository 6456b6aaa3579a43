"""Connections to PostgreSQL, the embedded server, and the versioned schema."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import psycopg

# Any fixed number: it only has to be the same for every process that migrates.
MIGRATION_LOCK_ID = 0x7472656E6473


class DatabaseError(RuntimeError):
    """The database could not be reached or prepared."""


def is_transaction_conflict(error: BaseException) -> bool:
    """Whether PostgreSQL rolled a transaction back only because another collided.

    Deadlocks and serialization failures leave nothing behind, so the same
    transaction can simply run again.
    """
    seen: BaseException | None = error
    while seen is not None:
        # SQLSTATE class 40 is "transaction rollback"; psycopg's classes do not
        # nest by it, so the code is checked rather than the type.
        if isinstance(seen, psycopg.Error) and (seen.sqlstate or "").startswith("40"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def connect(url: str, **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
    """Open a psycopg connection to a postgresql:// URL or a SQLAlchemy-style one.

    Raises:
        DatabaseError: when the server cannot be reached, naming the host but never
            the password.
    """
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        return psycopg.connect(conninfo, connect_timeout=10, **kwargs)
    except psycopg.ProgrammingError as error:
        raise DatabaseError(
            f"TRENDS_DATABASE_URL is not a valid PostgreSQL URL: "
            f"{redact_password(str(error), url)}. Use the form "
            "postgresql://user:password@host:5432/database."
        ) from None
    except psycopg.OperationalError as error:
        where = describe_url(url)
        # libpq's text spans lines; the message must stay one line for the CLI.
        reason = " ".join(str(error).split())
        raise DatabaseError(
            f"Cannot connect to PostgreSQL at {where}: {reason}. "
            "Check that the server runs and TRENDS_DATABASE_URL is right."
        ) from None


def redact_password(text: str, url: str) -> str:
    """The text with the URL's password, as written and as decoded, blanked out."""
    authority = url.partition("://")[2].partition("/")[0]
    userinfo, at, _ = authority.rpartition("@")
    password = userinfo.partition(":")[2] if at else ""
    for secret in {password, unquote(password)} - {""}:
        text = text.replace(secret, "***")
    return text


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

    A database that is already current is only read, so a role without DDL rights
    can run the pipeline once the migrations were applied separately. Concurrent
    callers wait on an advisory lock, so exactly one applies each file.

    Returns:
        The versions applied by this call; empty when the schema was current.

    Raises:
        DatabaseError: when migrations are pending and the role may not apply them.
    """
    scripts = _migration_scripts()
    if not pending_migrations(url, scripts):
        return []
    try:
        return _apply(url, scripts)
    except psycopg.errors.InsufficientPrivilege as error:
        pending = ", ".join(pending_migrations(url, scripts))
        raise DatabaseError(
            f"The schema of {describe_url(url)} lacks migrations {pending}, and this "
            f"role may not apply them ({error.diag.message_primary}). Run "
            "`python -m tasks.database migrate` with the schema owner's URL first."
        ) from None


def pending_migrations(
    url: str, scripts: list[tuple[str, str]] | None = None
) -> list[str]:
    """The migration versions the database has not recorded, in order."""
    versions = [
        name.removesuffix(".sql") for name, _ in scripts or _migration_scripts()
    ]
    with connect(url) as connection:
        table = connection.execute("SELECT to_regclass('schema_migrations')").fetchone()
        if table is None or table[0] is None:
            return versions
        applied = {
            version
            for (version,) in connection.execute(
                "SELECT version FROM schema_migrations"
            )
        }
    return [version for version in versions if version not in applied]


def _migration_scripts() -> list[tuple[str, str]]:
    return sorted(
        (entry.name, entry.read_text())
        for entry in resources.files("tasks.sql").iterdir()
        if entry.name.endswith(".sql")
    )


def _apply(url: str, scripts: list[tuple[str, str]]) -> list[str]:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Apply pending migrations from the command line, as the schema owner."""
    parser = argparse.ArgumentParser(
        prog="python -m tasks.database",
        description="Prepare the PostgreSQL schema of x-trends.",
    )
    parser.add_argument(
        "command", choices=["migrate"], help="apply the migrations the database lacks"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL of the schema owner (default: TRENDS_DATABASE_URL)",
    )
    args = parser.parse_args(argv)
    url = args.database_url or os.environ.get("TRENDS_DATABASE_URL")
    if not url:
        print(
            "No database: set TRENDS_DATABASE_URL or pass --database-url.",
            file=sys.stderr,
        )
        return 2
    try:
        applied = migrate(url)
    except DatabaseError as error:
        print(error, file=sys.stderr)
        return 1
    where = describe_url(url)
    print(
        f"Applied {', '.join(applied)} to {where}" if applied else f"{where} is current"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
