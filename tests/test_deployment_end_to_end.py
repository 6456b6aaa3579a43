"""From prefect.yaml to loaded rows: deploy, start a run as the UI does, run it.

Everything is real and local: a Prefect server subprocess, a process work pool, the
`prefect deploy` and `prefect worker` commands, the fake X API on loopback and
PostgreSQL. Settings reach the worker through its environment.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from tasks.locations import DEFAULT_WOEIDS
from tests.fake_x_api import FakeXApi, Reply
from tests.prefect_server import (
    PrefectServer,
    deploy_process_deployment,
    run_worker_once,
)

DAILY_PROCESS = "daily-trends/daily-trends-process"
AS_OF = datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
RUN_SETTINGS = (
    "X_BEARER_TOKEN",
    "TRENDS_X_API_URL",
    "TRENDS_DATABASE_URL",
    "TRENDS_ARCHIVE_URL",
    "TRENDS_DATA_DIR",
)


def start_run_as_the_ui_does(
    server: PrefectServer, parameters: dict[str, object]
) -> str:
    """Create a flow run of the deployment, as the UI's Run button does."""
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        flow_run = run_deployment(DAILY_PROCESS, parameters=parameters, timeout=0)
    return str(flow_run.id)


@pytest.mark.usefixtures("trends_env")
def test_a_deployed_run_started_like_the_ui_loads_every_location(
    prefect_server: PrefectServer,
    fake_x_api: FakeXApi,
    database_url: str,
    archive_dir: Path,
    tmp_path: Path,
) -> None:
    for woeid in DEFAULT_WOEIDS:
        fake_x_api.always(woeid, Reply.trends(f"#Deployed{woeid}", "#Second"))
    home = tmp_path / "prefect-client"
    deploy_process_deployment(prefect_server, home)

    flow_run_id = start_run_as_the_ui_does(prefect_server, {"as_of": AS_OF.isoformat()})
    run_worker_once(
        prefect_server, home, **{name: os.environ[name] for name in RUN_SETTINGS}
    )

    with (
        temporary_settings({PREFECT_API_URL: prefect_server.api_url}),
        get_client(sync_client=True) as client,
    ):
        flow_run = client.read_flow_run(flow_run_id)
        deployment = client.read_deployment_by_name(DAILY_PROCESS)
    assert flow_run.state is not None
    assert flow_run.state.is_completed(), flow_run.state
    assert flow_run.deployment_id == deployment.id
    with psycopg.connect(database_url) as connection:
        loaded = connection.execute(
            "SELECT woeid, count(*), min(as_of), bool_and(flow_run_id = %s)"
            " FROM trend_observations GROUP BY woeid",
            (flow_run.id,),
        ).fetchall()
    assert {row[0] for row in loaded} == set(DEFAULT_WOEIDS)
    assert all(
        count == 2 and as_of == AS_OF and mine for _, count, as_of, mine in loaded
    )
    assert len(list(archive_dir.rglob("*.meta.json"))) == len(DEFAULT_WOEIDS)
