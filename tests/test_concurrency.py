"""Runs that overlap or die: no duplicate rows, no partial snapshot, no lost count."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from prefect.settings import PREFECT_API_URL

from tasks.locations import DEFAULT_WOEIDS
from tests.conftest import TEST_TOKEN
from tests.fake_x_api import FakeXApi, Reply

PROJECT = Path(__file__).parents[1]
AS_OF = "2026-12-03T21:00:00+00:00"
SUMMARY_LINE = re.compile(
    r"^\S+ +(?P<woeid>\d+) +(?P<received>\d+) +(?P<new>\d+) +"
    r"(?P<present>\d+) +v2/"
)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {what}")
        time.sleep(0.05)


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
        assert (new_a + new_b, present_a + present_b) == (5, 5)
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
    loader = subprocess.Popen(
        [sys.executable, "-c", LOAD_MANY, database_url, str(HOURS)],
        env=env,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watcher = psycopg.connect(database_url, autocommit=True)

    def load_statement_running() -> bool:
        assert loader.poll() is None, loader.communicate()
        row = watcher.execute(
            "SELECT query FROM pg_stat_activity WHERE application_name = %s"
            " AND state = 'active' AND (query LIKE 'COPY trend_staging%%'"
            " OR query LIKE 'INSERT INTO trend_observations%%')",
            (application,),
        ).fetchone()
        return row is not None

    try:
        wait_for(load_statement_running, 240, "the load's COPY or INSERT")
        loader.send_signal(signal.SIGKILL)
        loader.communicate(timeout=30)
        wait_for(
            lambda: (
                watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    (application,),
                ).fetchone()
                == (0,)
            ),
            60,
            "the killed loader's session to end",
        )
        partial = watcher.execute(
            "SELECT woeid, as_of, count(*) FROM trend_observations"
            " GROUP BY woeid, as_of HAVING count(*) <> 50"
        ).fetchall()
        total = watcher.execute("SELECT count(*) FROM trend_observations").fetchone()
    finally:
        if loader.poll() is None:
            loader.kill()
            loader.communicate(timeout=30)
        watcher.close()

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
