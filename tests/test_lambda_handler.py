"""The Lambda handler runs the daily flow locally on a sample scheduler event."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import psycopg
import pytest
from moto.server import ThreadedMotoServer
from prefect import tags
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

from flows.lambda_handler import EventRejected, handler
from tasks.locations import DEFAULT_WOEIDS
from tests.conftest import TEST_TOKEN
from tests.fake_x_api import FakeXApi, Reply
from tests.project_files import PROJECT_DIR

# What EventBridge Scheduler sends with the Input of deploy/lambda.yaml.
SCHEDULER_EVENT = {
    "flow": "daily-trends",
    "scheduled_time": "2026-12-03T21:00:00Z",
}


@pytest.fixture
def secrets_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Secrets Manager on loopback (moto's server) holding the run's X token."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    client = boto3.client("secretsmanager")
    secret = client.create_secret(
        Name="x-trends/run", SecretString=json.dumps({"X_BEARER_TOKEN": TEST_TOKEN})
    )
    try:
        yield str(secret["ARN"])
    finally:
        server.stop()


@pytest.mark.usefixtures("trends_env")
def test_a_scheduler_event_collects_every_location_with_the_token_from_secrets(
    fake_x_api: FakeXApi,
    database_url: str,
    secrets_manager: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for woeid in DEFAULT_WOEIDS:
        fake_x_api.always(woeid, Reply.trends(f"#Lambda{woeid}", "#Second"))
    monkeypatch.delenv("X_BEARER_TOKEN")
    monkeypatch.setenv("TRENDS_SECRETS_ARN", secrets_manager)

    outcome = handler(SCHEDULER_EVENT, context=None)

    assert outcome["flow"] == "daily-trends"
    assert {location["woeid"] for location in outcome["result"]} == set(DEFAULT_WOEIDS)
    assert all(location["new"] == 2 for location in outcome["result"])
    with psycopg.connect(database_url) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM trend_observations"
        ).fetchone() or (0,)
    assert count == 2 * len(DEFAULT_WOEIDS)
    assert TEST_TOKEN not in json.dumps(outcome)


@pytest.mark.usefixtures("trends_env")
def test_a_lambda_run_appears_under_the_flow_without_a_deployment(
    fake_x_api: FakeXApi,
) -> None:
    fake_x_api.always(4118, Reply.trends("#TorontoOnly"))
    # The session's Prefect server keeps every earlier test's runs, failed ones for
    # the same location among them; only this call's run carries the tag.
    tag = f"lambda-{secrets.token_hex(6)}"

    with tags(tag):
        handler({"flow": "daily-trends", "parameters": {"locations": [4118]}}, None)

    with get_client(sync_client=True) as client:
        [run] = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag]))
        )
        flow = client.read_flow(run.flow_id)
    assert flow.name == "daily-trends"
    assert run.deployment_id is None
    assert run.parameters["locations"] == [4118]
    assert run.state is not None and run.state.is_completed()


def test_an_event_for_an_unknown_flow_is_rejected_with_the_ones_it_runs() -> None:
    with pytest.raises(EventRejected, match="runs only daily-trends and backfill"):
        handler({"flow": "weekly"}, None)


def test_parameters_that_are_not_an_object_are_rejected() -> None:
    with pytest.raises(EventRejected, match="must be a JSON object"):
        handler({"flow": "daily-trends", "parameters": [4118]}, None)


@pytest.mark.usefixtures("trends_env")
def test_a_backfill_event_reloads_a_small_archive_and_reports_what_it_did(
    fake_x_api: FakeXApi, database_url: str
) -> None:
    fake_x_api.always(4118, Reply.trends("#TorontoArchived", "#Second"))
    fake_x_api.always(3534, Reply.trends("#MontrealArchived"))
    handler({"flow": "daily-trends", "parameters": {"locations": [4118, 3534]}}, None)
    with psycopg.connect(database_url) as connection:
        connection.execute("DELETE FROM trend_observations WHERE woeid = 4118")
    today = datetime.now(UTC).date().isoformat()
    event = {
        "flow": "backfill",
        "parameters": {"since": today, "until": today, "locations": [4118, 3534]},
    }

    outcome = handler(event, None)

    assert outcome["flow"] == "backfill"
    summary = outcome["result"]["summary"]
    assert summary["objects"] == 2 and summary["loaded"] == 2
    assert (summary["new_rows"], summary["present_rows"]) == (2, 1)
    assert not summary["rejected"] and not summary["unreadable"]
    with psycopg.connect(database_url) as connection:
        names = connection.execute(
            "SELECT name FROM trend_observations ORDER BY name"
        ).fetchall()
    assert [name for (name,) in names] == [
        "#MontrealArchived",
        "#Second",
        "#TorontoArchived",
    ]
    json.dumps(outcome)


def test_the_handler_module_leaves_prefect_unimported_until_a_call() -> None:
    probe = (
        "import os, sys\n"
        "os.environ['PREFECT_HOME'] = '/var/task/.prefect'\n"
        "import flows.lambda_handler as handler_module\n"
        "assert 'prefect' not in sys.modules, 'prefect imported with the module'\n"
        "handler_module.prepare_environment()\n"
        "print(os.environ['PREFECT_HOME'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "TRENDS_SECRETS_ARN"},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == os.path.join(tempfile.gettempdir(), "prefect")
