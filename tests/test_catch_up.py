"""Catch-up: what a run archived while the database was down loads on the next run."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from flows.trends import daily_trends
from tasks.archive import open_archive
from tasks.database import DatabaseError
from tests.conftest import wait_for
from tests.fake_x_api import FakeXApi, Reply

FIRST = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
SECOND = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
CITIES = [4118, 3534, 3444]


def rows(database_url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(query).fetchall()


def script(fake: FakeXApi) -> None:
    fake.always(4118, Reply.trends("Leafs", "TTC", "Raptors"))
    fake.always(3534, Reply.trends("Canadiens", "#Montréal", "STM"))
    fake.always(3444, Reply.trends("Carnaval", "Remparts"))


def test_a_run_during_an_outage_archives_and_the_next_run_loads_it(
    fake_x_api: FakeXApi,
    database_url: str,
    postgres_server_url: str,
    archive_url: str,
) -> None:
    script(fake_x_api)
    # Toronto answers late, so the database can go away while the run fetches.
    late = Reply.trends("Leafs", "TTC", "Raptors")
    late.delay = 2.0
    fake_x_api.then(4118, late)
    database = sql.Identifier(urlsplit(database_url).path.lstrip("/"))

    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        with ThreadPoolExecutor(max_workers=1) as pool:
            run = pool.submit(
                daily_trends, locations=CITIES, as_of=FIRST, return_state=True
            )
            wait_for(lambda: len(fake_x_api.requests) > 0, 120, "the first fetch")
            admin.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(database)
            )
            outage = run.result(timeout=300).result(raise_on_failure=False)
        admin.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(database)
        )

    assert isinstance(outage, DatabaseError)
    message = str(outage)
    assert "Cannot connect to PostgreSQL at " in message
    assert f"archived 3 responses in {archive_url}" in message
    assert "next run" in message
    assert len(list(open_archive(archive_url).keys("v2/"))) == 6

    outcomes = daily_trends(locations=CITIES, as_of=SECOND)

    assert [(o.woeid, o.new) for o in outcomes] == [(4118, 3), (3534, 3), (3444, 2)]
    assert rows(
        database_url,
        "SELECT as_of, count(*), count(DISTINCT (woeid, name)),"
        " count(DISTINCT raw_object_key) FROM trend_observations"
        " GROUP BY as_of ORDER BY as_of",
    ) == [(FIRST, 8, 8, 3), (SECOND, 8, 8, 3)]
    assert rows(
        database_url,
        "SELECT state, count(*), sum(rows), sum(new_rows) FROM raw_objects"
        " GROUP BY state",
    ) == [("loaded", 6, 16, 16)]


@pytest.mark.usefixtures("trends_env")
def test_objects_the_ledger_records_as_unloaded_are_loaded_once(
    fake_x_api: FakeXApi, database_url: str
) -> None:
    script(fake_x_api)
    daily_trends(locations=CITIES, as_of=FIRST)
    with psycopg.connect(database_url) as connection:
        connection.execute("DELETE FROM trend_observations")
        connection.execute(
            "UPDATE raw_objects SET state = 'archived', rows = NULL, new_rows = NULL,"
            " loaded_at = NULL, recorded_at = now() - interval '40 days'"
        )

    daily_trends(locations=CITIES, as_of=SECOND)
    # The second run of the hour reuses the cached fetches and archives nothing.
    daily_trends(locations=CITIES, as_of=SECOND)

    assert rows(
        database_url,
        "SELECT as_of, count(*) FROM trend_observations GROUP BY as_of ORDER BY as_of",
    ) == [(FIRST, 8), (SECOND, 8)]
    assert rows(
        database_url,
        "SELECT state, count(*), sum(new_rows) FROM raw_objects GROUP BY state",
    ) == [("loaded", 6, 16)]


@pytest.mark.usefixtures("trends_env")
def test_a_rejected_body_is_recorded_with_its_reason_and_not_retried(
    fake_x_api: FakeXApi, database_url: str
) -> None:
    fake_x_api.always(4118, Reply(body=b"<html>maintenance</html>"))

    for as_of in (FIRST, SECOND):
        with pytest.raises(Exception, match="not JSON"):
            daily_trends(locations=[4118], as_of=as_of)

    assert rows(
        database_url,
        "SELECT state, reason LIKE '%not JSON%', count(*) FROM raw_objects"
        " GROUP BY 1, 2",
    ) == [("rejected", True, 2)]
