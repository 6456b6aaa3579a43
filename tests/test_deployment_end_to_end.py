"""From prefect.yaml to loaded rows: blocks, deploy, start runs as the UI does.

Everything is real and local: a Prefect server subprocess, the blocks command, a
process work pool, the `prefect deploy` and `prefect worker` commands, the fake X
API on loopback, moto's S3 server and PostgreSQL. The deployed runs read their
bucket, database and token from the blocks named in prefect.yaml: the worker's
environment holds none of them, only where S3 answers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import boto3
import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from tasks.budget import REQUEST_BUDGET_LIMIT
from tasks.locations import DEFAULT_WOEIDS
from tests.conftest import TEST_AWS_SECRET, TEST_TOKEN
from tests.fake_x_api import FakeXApi, Reply
from tests.prefect_server import (
    PrefectServer,
    deploy_process_deployment,
    run_worker_once,
    save_project_blocks,
)

DAILY_PROCESS = "daily-trends/daily-trends-process"
BACKFILL = "backfill/backfill"
AS_OF = datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
# Settings the blocks replace in a deployed run: the worker must not see them.
BLOCK_SETTINGS = ("X_BEARER_TOKEN", "TRENDS_DATABASE_URL", "TRENDS_ARCHIVE_URL")


def start_run_as_the_ui_does(
    server: PrefectServer, deployment: str, parameters: dict[str, object]
) -> UUID:
    """Create a flow run of the deployment, as the UI's Run button does."""
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        flow_run = run_deployment(deployment, parameters=parameters, timeout=0)
    return flow_run.id


def read_flow_run(server: PrefectServer, flow_run_id: UUID) -> FlowRun:
    with (
        temporary_settings({PREFECT_API_URL: server.api_url}),
        get_client(sync_client=True) as client,
    ):
        return client.read_flow_run(flow_run_id)


def archived_keys(archive_url: str) -> list[str]:
    bucket, _, prefix = archive_url.removeprefix("s3://").partition("/")
    pages = (
        boto3.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix=f"{prefix}/")
    )
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def rows_by_run(database_url: str) -> dict[UUID, int]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT flow_run_id, count(*) FROM trend_observations GROUP BY 1"
        ).fetchall()
    return {UUID(str(run)): count for run, count in rows}


@pytest.mark.usefixtures("trends_env")
def test_deployed_runs_on_blocks_load_every_location_and_backfill_adds_nothing(
    prefect_server: PrefectServer,
    fake_x_api: FakeXApi,
    database_url: str,
    s3_archive_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for woeid in DEFAULT_WOEIDS:
        fake_x_api.always(woeid, Reply.trends(f"#Deployed{woeid}", "#Second"))
    home = tmp_path / "prefect-client"
    monkeypatch.setenv("TRENDS_ARCHIVE_URL", s3_archive_url)
    saved = save_project_blocks(prefect_server, home)
    assert REQUEST_BUDGET_LIMIT in saved
    assert TEST_TOKEN not in saved and TEST_AWS_SECRET not in saved
    deploy_process_deployment(prefect_server, home, "daily-trends-process", "backfill")
    for name in BLOCK_SETTINGS:
        monkeypatch.delenv(name)

    archive_day = datetime.now(UTC).date()
    daily_run_id = start_run_as_the_ui_does(
        prefect_server, DAILY_PROCESS, {"as_of": AS_OF.isoformat()}
    )
    run_worker_once(prefect_server, home)

    daily_run = read_flow_run(prefect_server, daily_run_id)
    assert daily_run.state is not None
    assert daily_run.state.is_completed(), daily_run.state
    assert daily_run.parameters["database_block"] == "x-trends-database"
    with psycopg.connect(database_url) as connection:
        loaded = connection.execute(
            "SELECT woeid, count(*), min(as_of), bool_and(flow_run_id = %s)"
            " FROM trend_observations GROUP BY woeid",
            (daily_run_id,),
        ).fetchall()
    assert {row[0] for row in loaded} == set(DEFAULT_WOEIDS)
    assert all(
        count == 2 and as_of == AS_OF and mine for _, count, as_of, mine in loaded
    )
    # Raw objects live under v2/; the fetch cache sits beside them in the bucket.
    folder = s3_archive_url.removeprefix("s3://").partition("/")[2]
    keys = [
        key for key in archived_keys(s3_archive_url) if key.startswith(f"{folder}/v2/")
    ]
    metas = [key for key in keys if key.endswith(".meta.json")]
    assert len(metas) == len(DEFAULT_WOEIDS)
    assert len(keys) == 2 * len(DEFAULT_WOEIDS)
    cached = [
        key
        for key in archived_keys(s3_archive_url)
        if key.startswith(f"{folder}/fetch-trends/")
    ]
    assert len(cached) == len(DEFAULT_WOEIDS)

    backfill_run_id = start_run_as_the_ui_does(
        prefect_server,
        BACKFILL,
        {"since": _iso(archive_day), "until": _iso(archive_day)},
    )
    run_worker_once(prefect_server, home)

    backfill_run = read_flow_run(prefect_server, backfill_run_id)
    assert backfill_run.state is not None
    assert backfill_run.state.is_completed(), backfill_run.state
    assert rows_by_run(database_url) == {daily_run_id: 2 * len(DEFAULT_WOEIDS)}


def _iso(day: date) -> str:
    return day.isoformat()
