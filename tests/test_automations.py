"""The alerts reach a webhook on loopback from a real Prefect server's automations."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from deploy.automations import (
    NO_RECENT_RUN,
    RUN_ENDED_BADLY,
    daily_run_automations,
    main,
    notification_block_id,
    save_automations,
    save_webhook_block,
)
from tests.prefect_server import (
    PrefectServer,
    deploy_process_deployment,
    run_worker_once,
)

ALERT_TIMEOUT = 120.0
NOT_A_TREND_LOCATION = 1


class WebhookReceiver:
    """An HTTP server on loopback that queues the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.alerts: queue.Queue[dict[str, Any]] = queue.Queue()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/alerts"

    def next_alert(self, subject_contains: str) -> dict[str, Any]:
        """The first alert whose subject contains the text, within the timeout."""
        while True:
            alert = self.alerts.get(timeout=ALERT_TIMEOUT)
            if subject_contains in alert["subject"]:
                return alert

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                receiver.alerts.put(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        return Handler


@pytest.fixture
def webhook(prefect_server: PrefectServer) -> Iterator[WebhookReceiver]:
    """A receiver saved as the alerts' webhook block on the real server."""
    with (
        WebhookReceiver() as receiver,
        temporary_settings({PREFECT_API_URL: prefect_server.api_url}),
    ):
        save_webhook_block(receiver.url, allow_private_urls=True)
        yield receiver
        with get_client(sync_client=True) as client:
            for name in (RUN_ENDED_BADLY, NO_RECENT_RUN):
                for automation in client.read_automations_by_name(name):
                    client.delete_automation(automation.id)


def test_a_failed_run_of_the_daily_deployment_sends_an_alert(
    prefect_server: PrefectServer, webhook: WebhookReceiver, tmp_path: Path
) -> None:
    assert main([]) == 0
    home = tmp_path / "prefect-client"
    deploy_process_deployment(prefect_server, home)

    flow_run = run_deployment(
        "daily-trends/daily-trends-process",
        parameters={"locations": [NOT_A_TREND_LOCATION]},
        timeout=0,
    )
    run_worker_once(prefect_server, home)

    alert = webhook.next_alert(subject_contains="Failed")
    assert "daily-trends-process" in alert["body"]
    assert flow_run.name in alert["body"]


def test_the_command_updates_the_alerts_instead_of_adding_more(
    webhook: WebhookReceiver,
) -> None:
    assert main([]) == 0
    assert main([]) == 0

    with get_client(sync_client=True) as client:
        for name in (RUN_ENDED_BADLY, NO_RECENT_RUN):
            assert len(client.read_automations_by_name(name)) == 1


def test_no_completed_run_within_the_window_sends_an_alert(
    webhook: WebhookReceiver,
) -> None:
    quiet_deployment = f"never-runs-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        block_id = notification_block_id(client, "custom-webhook/x-trends-alerts")
        _, no_recent_run = daily_run_automations(
            block_id, deployments=[quiet_deployment], silence=timedelta(seconds=10)
        )
        save_automations(client, [no_recent_run])

    alert = webhook.next_alert(subject_contains="no daily run completed")
    assert quiet_deployment in alert["body"]


def test_a_missing_notification_block_is_named_with_the_fix(
    webhook: WebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--notification-block", "slack-webhook/nowhere"]) == 2

    assert "No slack-webhook block named 'nowhere'" in capsys.readouterr().err
