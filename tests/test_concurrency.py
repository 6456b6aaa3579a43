"""Runs that overlap or die: no duplicate rows, no partial snapshot, no lost count."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_API_URL
from psycopg import sql

from flows.trends import daily_trends
from tasks.database import DatabaseError
from tasks.locations import DEFAULT_WOEIDS
from tests.conftest import TEST_TOKEN, wait_for
from tests.fake_x_api import FakeXApi, Reply

PROJECT = Path(__file__).parents[1]
AS_OF = "2026-12-03T21:00:00+00:00"
SUMMARY_LINE = re.compile(
    r"^\S+ +(?P<woeid>\d+) +(?P<received>\d+) +(?P<new>\d+) +"
    r"(?P<present>\d+) +v2/"
)
COPYING = "state = 'active' AND query LIKE 'COPY trend_observations%%'"


def subprocess_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process that shares this session's Prefect API."""
    return {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "TRENDS_DATABASE_URL": database_url,
        "TRENDS_ARCHIVE_URL": str(tmp_path / "raw"),
        "TRENDS_DATA_DIR": str(tmp_path / "data"),
        **extra,
    }


@contextmanager
def started(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A child process in the project folder, killed on the way out if it still runs."""
    child = subprocess.Popen(
        command,
        env=env,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=30)


def kill_once_a_session_is(
    child: subprocess.Popen[str],
    watcher: psycopg.Connection[tuple[object, ...]],
    application: str,
    condition: str,
    what: str,
) -> None:
    """SIGKILL the child as soon as one of its sessions matches the condition.

    The child names its sessions with PGAPPNAME=application; the condition is SQL
    on pg_stat_activity. The test fails at once if the child ends first.
    """

    def matched() -> bool:
        assert child.poll() is None, child.communicate()
        return has_session(watcher, application, condition)

    wait_for(matched, 240, what)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)


def wait_for_sessions_to_end(
    watcher: psycopg.Connection[tuple[object, ...]], application: str, what: str
) -> None:
    """Wait until PostgreSQL has ended every session of a killed child."""
    wait_for(lambda: not has_session(watcher, application), 60, what)


def has_session(
    watcher: psycopg.Connection[tuple[object, ...]],
    application: str,
    condition: str = "true",
) -> bool:
    """Whether PostgreSQL lists a session of application that matches condition."""
    row = watcher.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        f" AND {condition}",
        (application,),
    ).fetchone()
    return row != (0,)


def test_two_runs_of_the_same_hour_add_up_without_duplicates(
    fake_x_api: FakeXApi, database_url: str, tmp_path: Path
) -> None:
    for woeid in DEFAULT_WOEIDS:
        fake_x_api.always(woeid, Reply.trends(*(f"#T{woeid}_{n}" for n in range(5))))
    env = subprocess_env(
        database_url,
        tmp_path,
        X_BEARER_TOKEN=TEST_TOKEN,
        TRENDS_X_API_URL=fake_x_api.url,
    )
    orders = [DEFAULT_WOEIDS, tuple(reversed(DEFAULT_WOEIDS))]

    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flows.trends",
                "--as-of",
                AS_OF,
                "--locations",
                ",".join(map(str, order)),
            ],
            env=env,
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for order in orders
    ]
    finished = [run.communicate(timeout=300) for run in runs]

    reports = []
    for run, (out, err) in zip(runs, finished, strict=True):
        assert run.returncode == 0, err
        assert not re.search(r"deadlock|could not serialize", out, re.I)
        reports.append(
            {
                int(m["woeid"]): (int(m["received"]), int(m["new"]), int(m["present"]))
                for m in map(SUMMARY_LINE.match, out.splitlines())
                if m
            }
        )
    for woeid in DEFAULT_WOEIDS:
        (got_a, new_a, present_a), (got_b, new_b, present_b) = (
            report[woeid] for report in reports
        )
        assert (got_a, got_b) == (5, 5)
        # Each run accounts for every row it received. A run's catch-up may load
        # the other run's freshly archived objects first, and then neither run
        # counts those rows as its own new ones; the table below must still hold
        # every row exactly once.
        assert new_a + present_a == new_b + present_b == 5
        assert new_a + new_b <= 5
    with psycopg.connect(database_url) as connection:
        assert connection.execute(
            "SELECT count(*), count(DISTINCT (woeid, name, as_of))"
            " FROM trend_observations"
        ).fetchone() == (45, 45)


LOAD_MANY = textwrap.dedent(
    """
    import json, sys
    from datetime import UTC, datetime, timedelta
    from tasks.archive import ArchivedResponse
    from tasks.fetch import RawResponse
    from tasks.load import load_trends
    from tasks.locations import KNOWN_LOCATIONS
    from tasks.normalise import normalise_trends

    url, hours = sys.argv[1], int(sys.argv[2])
    start = datetime(2020, 1, 1, tzinfo=UTC)
    snapshots = []
    for hour in range(hours):
        as_of = start + timedelta(hours=hour)
        for woeid in (23424775, 4118, 3534):
            names = [f"#Trend{hour}_{woeid}_{rank} \\\\ \\t tab" for rank in range(50)]
            body = json.dumps({"data": [{"trend_name": n} for n in names]}).encode()
            response = RawResponse(
                KNOWN_LOCATIONS[woeid], "2", "sample:kill", 200, body, as_of, as_of
            )
            archived = ArchivedResponse(response, f"k/{hour}/{woeid}.json", "m")
            snapshots.append(normalise_trends.fn(archived, None))
    print(sum(s.trends.height for s in snapshots), flush=True)
    load_trends(snapshots, url)
    """
)
HOURS = 1_000
ROWS = HOURS * 3 * 50


def test_a_load_killed_mid_statement_leaves_no_partial_snapshot(
    database_url: str, tmp_path: Path
) -> None:
    application = f"xtrends-kill-{secrets.token_hex(4)}"
    env = subprocess_env(database_url, tmp_path, PGAPPNAME=application)
    with (
        started(
            [sys.executable, "-c", LOAD_MANY, database_url, str(HOURS)], env
        ) as loader,
        psycopg.connect(database_url, autocommit=True) as watcher,
    ):
        kill_once_a_session_is(
            loader, watcher, application, COPYING, "the load's COPY or INSERT"
        )
        wait_for_sessions_to_end(
            watcher, application, "the killed loader's session to end"
        )
        partial = watcher.execute(
            "SELECT woeid, as_of, count(*) FROM trend_observations"
            " GROUP BY woeid, as_of HAVING count(*) <> 50"
        ).fetchall()
        total = watcher.execute("SELECT count(*) FROM trend_observations").fetchone()

    assert loader.returncode == -signal.SIGKILL
    assert partial == []
    assert total == (0,)

    rerun = subprocess.run(
        [sys.executable, "-c", LOAD_MANY, database_url, str(HOURS)],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    with psycopg.connect(database_url) as connection:
        assert connection.execute(
            "SELECT count(*), count(DISTINCT (woeid, as_of)) FROM trend_observations"
        ).fetchone() == (ROWS, HOURS * 3)


@pytest.mark.usefixtures("trends_env")
def test_a_deadlocked_load_is_run_again_and_never_reaches_the_user(
    fake_x_api: FakeXApi, database_url: str
) -> None:
    # The loader copies rows in key order, name first: it writes Canada's "x",
    # then waits for Toronto's "y", which the rival holds; the rival then wants "x".
    fake_x_api.always(23424775, Reply.trends("x"))
    fake_x_api.always(4118, Reply.trends("y"))
    as_of = datetime.fromisoformat(AS_OF)
    with psycopg.connect(database_url, autocommit=True) as owner:
        # The loader's session checks for deadlock well after the rival closes the
        # cycle, and the rival never does, so the loader is always the victim.
        owner.execute(
            sql.SQL("ALTER DATABASE {} SET deadlock_timeout = '5s'").format(
                sql.Identifier(owner.info.dbname)
            )
        )
        owner.execute(
            "INSERT INTO locations (woeid, name, kind) VALUES"
            " (23424775, 'Canada', 'country'), (4118, 'Toronto', 'town')"
        )
    rival = psycopg.connect(database_url)
    rival.execute("SET deadlock_timeout = '10min'")
    rival.execute(RIVAL_ROW, (4118, "y", as_of))
    with ThreadPoolExecutor(max_workers=1) as pool:
        run = pool.submit(
            daily_trends, locations=[23424775, 4118], as_of=as_of, return_state=True
        )
        wait_for(
            lambda: loader_waits_for_a_row_lock(rival),
            120,
            "the load to wait for the rival's row",
        )
        rival.execute(RIVAL_ROW, (23424775, "x", as_of))
        rival.commit()
        state = run.result(timeout=300)
    rival.close()

    outcomes = state.result()
    assert [(o.woeid, o.new, o.present, o.error) for o in outcomes] == [
        (23424775, 0, 1, None),
        (4118, 0, 1, None),
    ]
    with get_client(sync_client=True) as client:
        [load_run] = [
            task_run
            for task_run in client.read_task_runs(
                flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
                )
            )
            if task_run.name.startswith("load-trends")
        ]
    assert load_run.run_count == 2
    with psycopg.connect(database_url) as connection:
        assert connection.execute(
            "SELECT count(*) FROM trend_observations"
        ).fetchone() == (2,)


RIVAL_ROW = (
    "INSERT INTO trend_observations (woeid, name, as_of, rank, promoted,"
    " api_version, raw_object_key, fetched_at) VALUES (%s, %s, %s, 1, false, '2',"
    " 'rival', now())"
)


def loader_waits_for_a_row_lock(rival: psycopg.Connection[tuple[object, ...]]) -> bool:
    with psycopg.connect(rival.info.dsn, autocommit=True) as watcher:
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
            " AND query LIKE 'COPY trend_observations%%'"
        ).fetchone()
    return row == (1,)


@pytest.mark.usefixtures("trends_env")
def test_a_database_lost_mid_run_fails_clearly_with_every_response_archived(
    fake_x_api: FakeXApi,
    database_url: str,
    postgres_server_url: str,
    archive_dir: Path,
) -> None:
    for woeid in DEFAULT_WOEIDS:
        fake_x_api.always(woeid, Reply.trends(f"#Lost{woeid}"))
    fake_x_api.then(4118, Reply(body=b'{"data":[{"trend_name":"late"}]}', delay=2.0))
    database = sql.Identifier(urlsplit(database_url).path.lstrip("/"))

    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        with ThreadPoolExecutor(max_workers=1) as pool:
            run = pool.submit(
                daily_trends, as_of=datetime.fromisoformat(AS_OF), return_state=True
            )
            wait_for(lambda: len(fake_x_api.requests) > 0, 120, "the first fetch")
            admin.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(database)
            )
            state = run.result(timeout=300)
        admin.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(database)
        )
    with psycopg.connect(database_url) as connection:
        loaded = connection.execute(
            "SELECT count(*) FROM trend_observations"
        ).fetchone()

    failure = state.result(raise_on_failure=False)
    assert isinstance(failure, DatabaseError)
    assert re.fullmatch(
        r"Cannot connect to PostgreSQL at [^ ]+: .*not currently accepting "
        r"connections\. Check that the server runs and TRENDS_DATABASE_URL is right\."
        r" This run archived \d+ responses in .+; none were loaded\. The next run "
        r"that reaches the database loads them\.",
        str(failure),
    )
    assert loaded == (0,)
    bodies = [p for p in archive_dir.rglob("*.json") if ".meta." not in p.name]
    assert len(bodies) == len(DEFAULT_WOEIDS)
    assert len(list(archive_dir.rglob("*.meta.json"))) == len(DEFAULT_WOEIDS)


KILLED_AT = datetime.fromisoformat(AS_OF)
KILL_WOEIDS = (23424775, 4118)


def test_a_run_killed_mid_load_is_completed_by_the_next_runs_catch_up(
    fake_x_api: FakeXApi, database_url: str, tmp_path: Path
) -> None:
    for woeid in KILL_WOEIDS:
        fake_x_api.always(woeid, Reply.trends(*(f"#Kill{woeid}_{n}" for n in range(5))))
    application = f"xtrends-killrun-{secrets.token_hex(4)}"
    env = subprocess_env(
        database_url,
        tmp_path,
        X_BEARER_TOKEN=TEST_TOKEN,
        TRENDS_X_API_URL=fake_x_api.url,
        PGAPPNAME=application,
    )
    # The rival's uncommitted row has the key of the last row the COPY writes: the
    # loader's COPY waits on it with every earlier row of the run already written.
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute(
            "INSERT INTO locations (woeid, name, kind) VALUES (4118, 'Toronto', 'town')"
        )
    rival = psycopg.connect(database_url)
    rival.execute(RIVAL_ROW, (4118, "#Kill4118_4", KILLED_AT))
    try:
        with (
            started([*FLOW_COMMAND, "--as-of", AS_OF], env) as run,
            psycopg.connect(database_url, autocommit=True) as watcher,
        ):
            kill_once_a_session_is(
                run,
                watcher,
                application,
                f"{COPYING} AND wait_event_type = 'Lock'",
                "the run's COPY to wait mid-load",
            )
            rival.rollback()
            wait_for_sessions_to_end(
                watcher, application, "the killed run's sessions to end"
            )
            after_kill = watcher.execute(
                "SELECT count(*) FROM trend_observations"
            ).fetchone()
            pending = watcher.execute(
                "SELECT count(*) FROM raw_objects WHERE state = 'archived'"
            ).fetchone()
    finally:
        rival.close()

    assert run.returncode == -signal.SIGKILL
    assert after_kill == (0,)
    assert pending == (len(KILL_WOEIDS),)

    later = (KILLED_AT + timedelta(hours=1)).isoformat()
    next_run = subprocess.run(
        [*FLOW_COMMAND, "--as-of", later],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert next_run.returncode == 0, next_run.stderr
    with psycopg.connect(database_url) as connection:
        per_slot = connection.execute(
            "SELECT woeid, as_of, count(*), count(DISTINCT name)"
            " FROM trend_observations GROUP BY woeid, as_of ORDER BY as_of, woeid"
        ).fetchall()
        ledger = connection.execute(
            "SELECT as_of, state, rows, count(*) FROM raw_objects"
            " GROUP BY as_of, state, rows ORDER BY as_of"
        ).fetchall()
    hours = (KILLED_AT, KILLED_AT + timedelta(hours=1))
    assert per_slot == [
        (woeid, hour, 5, 5) for hour in hours for woeid in sorted(KILL_WOEIDS)
    ]
    assert ledger == [(hour, "loaded", 5, len(KILL_WOEIDS)) for hour in hours]


FLOW_COMMAND = [
    sys.executable,
    "-m",
    "flows.trends",
    "--locations",
    ",".join(map(str, KILL_WOEIDS)),
]
