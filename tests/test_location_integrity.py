"""Every trend row names a known location, whoever writes to the tables."""

from __future__ import annotations

import psycopg
import pytest

ROW = (
    "INSERT INTO trend_observations (woeid, as_of, rank, name, promoted, api_version,"
    " raw_object_key, fetched_at)"
    " VALUES (%s, '2026-12-03T21:00Z', 1, %s, false, '2', 'k', now())"
)


def add_location(connection: psycopg.Connection[object], woeid: int) -> None:
    connection.execute(
        "INSERT INTO locations (woeid, name, kind) VALUES (%s, %s, 'town')",
        (woeid, f"Town {woeid}"),
    )


def test_rows_for_an_unknown_location_are_refused_and_named(database_url: str) -> None:
    with psycopg.connect(database_url) as connection:
        add_location(connection, 4118)
        connection.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as refused:
            connection.execute(
                "INSERT INTO trend_observations (woeid, as_of, rank, name, promoted,"
                " api_version, raw_object_key, fetched_at)"
                " SELECT woeid, '2026-12-03T21:00Z', 1, 'x', false, '2', 'k', now()"
                " FROM (VALUES (4118), (999)) AS v (woeid)"
            )
        connection.rollback()
        (count,) = connection.execute(
            "SELECT count(*) FROM trend_observations"
        ).fetchone() or (None,)

    assert "woeid 999, which locations lacks" in str(refused.value)
    assert count == 0


def test_a_location_added_in_the_same_transaction_is_known(database_url: str) -> None:
    with psycopg.connect(database_url) as connection:
        add_location(connection, 3369)
        connection.execute(ROW, (3369, "#Ottawa"))

    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT woeid, name FROM trend_observations")
        assert rows.fetchall() == [(3369, "#Ottawa")]


def test_moving_rows_to_an_unknown_location_is_refused(database_url: str) -> None:
    with psycopg.connect(database_url) as connection:
        add_location(connection, 4118)
        connection.execute(ROW, (4118, "#Leafs"))
        connection.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="woeid 777"):
            connection.execute("UPDATE trend_observations SET woeid = 777")


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("DELETE FROM locations WHERE woeid = 4118", "location 4118 is still named"),
        ("UPDATE locations SET woeid = 1 WHERE woeid = 4118", "location 4118 is"),
        ("TRUNCATE locations", "cannot be truncated while trend_observations has"),
    ],
)
def test_a_location_that_rows_name_cannot_be_removed(
    database_url: str, statement: str, refusal: str
) -> None:
    with psycopg.connect(database_url) as connection:
        add_location(connection, 4118)
        connection.execute(ROW, (4118, "#Leafs"))
        connection.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match=refusal):
            connection.execute(statement)


def test_unused_locations_can_be_renamed_and_removed(database_url: str) -> None:
    with psycopg.connect(database_url) as connection:
        add_location(connection, 4118)
        add_location(connection, 3534)
        connection.execute(ROW, (4118, "#Leafs"))
        connection.execute("UPDATE locations SET name = 'Toronto' WHERE woeid = 4118")
        connection.execute("DELETE FROM locations WHERE woeid = 3534")
        connection.execute("TRUNCATE trend_observations")
        connection.execute("TRUNCATE locations")

        (count,) = connection.execute("SELECT count(*) FROM locations").fetchone() or (
            None,
        )
    assert count == 0


def test_a_location_cannot_be_deleted_under_a_load_in_progress(
    database_url: str,
) -> None:
    with (
        psycopg.connect(database_url) as loader,
        psycopg.connect(database_url) as deleter,
    ):
        add_location(loader, 4118)
        loader.commit()
        loader.execute(ROW, (4118, "#Leafs"))
        deleter.execute("SET lock_timeout = '200ms'")

        # The load holds the lock the foreign key would have taken.
        with pytest.raises(psycopg.errors.LockNotAvailable):
            deleter.execute("DELETE FROM locations WHERE woeid = 4118")
        deleter.rollback()
        loader.commit()

        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            deleter.execute("DELETE FROM locations WHERE woeid = 4118")
