"""The versioned schema and connection errors."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from tasks.database import (
    DatabaseError,
    connect,
    is_transaction_conflict,
    migrate,
    pending_migrations,
)


def test_migrating_twice_applies_each_version_once(empty_database_url: str) -> None:
    first = migrate(empty_database_url)
    second = migrate(empty_database_url)

    assert first and first[0] == "001_initial"
    assert second == []
    with psycopg.connect(empty_database_url) as connection:
        versions = connection.execute(
            "SELECT version FROM schema_migrations"
        ).fetchall()
    assert sorted(v for (v,) in versions) == first


def test_concurrent_migrations_do_not_collide(empty_database_url: str) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: migrate(empty_database_url), range(3)))

    assert sorted(len(applied) for applied in results)[:2] == [0, 0]
    assert sum(len(applied) for applied in results) == len(max(results, key=len))


def test_an_unreachable_server_is_named_without_the_password() -> None:
    url = "postgresql://loader:hunter2@127.0.0.1:9/trends"

    with pytest.raises(DatabaseError, match=r"at 127\.0\.0\.1:9/trends") as failed:
        connect(url)

    assert "hunter2" not in str(failed.value)
    assert failed.value.__cause__ is None


def wrapped(error: Exception) -> Exception:
    try:
        raise RuntimeError("the load failed") from error
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "conflict"),
    [
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.errors.SerializationFailure("could not serialize"), True),
        (wrapped(psycopg.errors.DeadlockDetected("deadlock detected")), True),
        (psycopg.errors.UniqueViolation("duplicate key"), False),
        (psycopg.errors.InsufficientPrivilege("permission denied"), False),
        (RuntimeError("disk full"), False),
    ],
)
def test_only_rolled_back_collisions_count_as_conflicts(
    error: Exception, conflict: bool
) -> None:
    assert is_transaction_conflict(error) is conflict


def test_migrations_run_separately_from_the_command_line(
    empty_database_url: str,
) -> None:
    def run_migrate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tasks.database", "migrate"],
            env={**os.environ, "TRENDS_DATABASE_URL": empty_database_url},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).parents[1],
        )

    first, second = run_migrate(), run_migrate()

    assert (first.returncode, second.returncode) == (0, 0)
    sql_folder = Path(__file__).parents[1] / "tasks" / "sql"
    versions = sorted(path.stem for path in sql_folder.glob("*.sql"))
    assert first.stdout.startswith(f"Applied {', '.join(versions)} to ")
    assert second.stdout.endswith(" is current\n")
    assert pending_migrations(empty_database_url) == []
