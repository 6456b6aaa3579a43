"""Alerts on the daily deployments, kept in the repository as Prefect automations.

``make automations`` runs ``python -m deploy.automations``, which creates or updates
two automations that notify through a notification block:

- a run of a daily deployment ended Failed or Crashed;
- no run of a daily deployment completed for 26 hours (a proactive trigger).

With ``TRENDS_ALERT_WEBHOOK_URL`` set, the command first saves that URL as the
custom webhook block ``x-trends-alerts``; any other notification block, such as a
Slack webhook, can be named with ``--notification-block TYPE/NAME``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.exceptions import ObjectNotFound

DAILY_DEPLOYMENTS = ("daily-trends-ecs", "daily-trends-process")
ALERT_BLOCK = "custom-webhook/x-trends-alerts"
WEBHOOK_URL_VARIABLE = "TRENDS_ALERT_WEBHOOK_URL"
SILENCE = timedelta(hours=26)
RUN_ENDED_BADLY = "x-trends: daily run failed or crashed"
NO_RECENT_RUN = "x-trends: no daily run completed"

FAILED_BODY = (
    "Flow run {{ flow_run.name }} of deployment {{ deployment.name }} ended "
    "{{ flow_run.state.name }}: {{ flow_run.state.message }}\n{{ flow_run|ui_url }}"
)


def daily_run_automations(
    notification_block_id: UUID,
    deployments: Sequence[str] = DAILY_DEPLOYMENTS,
    silence: timedelta = SILENCE,
) -> list[AutomationCore]:
    """The two alerts on runs of the named deployments, not yet saved."""
    of_daily_deployment = {
        "prefect.resource.role": "deployment",
        "prefect.resource.name": list(deployments),
    }
    ended_badly = AutomationCore(
        name=RUN_ENDED_BADLY,
        description="A run of the daily trends collection ended Failed or Crashed.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            match_related=of_daily_deployment,  # type: ignore[arg-type]
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            SendNotification(
                block_document_id=notification_block_id,
                subject="x-trends daily run {{ flow_run.state.name }}",
                body=FAILED_BODY,
            )
        ],
    )
    hours = silence.total_seconds() / 3600
    no_recent_run = AutomationCore(
        name=NO_RECENT_RUN,
        description=f"No run of the daily trends collection completed in {hours:g}h.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Completed"},
            match_related=of_daily_deployment,  # type: ignore[arg-type]
            posture=Posture.Proactive,
            threshold=1,
            within=silence,
        ),
        actions=[
            SendNotification(
                block_document_id=notification_block_id,
                subject="x-trends: no daily run completed",
                body=(
                    f"No run of {', '.join(deployments)} has completed in the last "
                    f"{hours:g} hours; check the work pool and its worker."
                ),
            )
        ],
    )
    return [ended_badly, no_recent_run]


def save_automations(
    client: SyncPrefectClient, automations: Sequence[AutomationCore]
) -> list[str]:
    """Create each automation, or update the one of the same name; say which."""
    outcomes = []
    for automation in automations:
        existing = client.read_automations_by_name(automation.name)
        if existing:
            client.update_automation(existing[0].id, automation)
            for duplicate in existing[1:]:
                client.delete_automation(duplicate.id)
            outcomes.append(f"Updated automation {automation.name!r}")
        else:
            client.create_automation(automation)
            outcomes.append(f"Created automation {automation.name!r}")
    return outcomes


def notification_block_id(client: SyncPrefectClient, slug_and_name: str) -> UUID:
    """The id of a saved notification block named as ``block-type-slug/name``.

    Raises:
        LookupError: when the name is malformed or no such block is saved.
    """
    block_type_slug, _, name = slug_and_name.partition("/")
    if not name:
        raise LookupError(
            f"Notification block {slug_and_name!r} must be named as TYPE/NAME, "
            "such as custom-webhook/x-trends-alerts or slack-webhook/x-trends."
        )
    try:
        document = client.read_block_document_by_name(name, block_type_slug)
    except ObjectNotFound as error:
        raise LookupError(
            f"No {block_type_slug} block named {name!r} is saved on the Prefect API; "
            f"set {WEBHOOK_URL_VARIABLE} to create {ALERT_BLOCK}, or create the "
            "block in the UI and pass --notification-block."
        ) from error
    return document.id


def save_webhook_block(url: str, allow_private_urls: bool = False) -> None:
    """Save the alert webhook as the custom webhook block the alerts use.

    Args:
        url: Where to POST each alert as JSON with ``subject`` and ``body``.
        allow_private_urls: Let the block call a private or loopback address.
    """
    block = CustomWebhookNotificationBlock(
        name="x-trends-alerts",
        url=url,
        method="POST",
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
        headers=None,
        cookies=None,
        allow_private_urls=allow_private_urls,
    )
    block.save(ALERT_BLOCK.partition("/")[2], overwrite=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Create or update the alerts of the daily deployments."""
    parser = argparse.ArgumentParser(
        prog="python -m deploy.automations",
        description="Create or update the alerts on the daily trends deployments.",
    )
    parser.add_argument(
        "--notification-block",
        default=ALERT_BLOCK,
        metavar="TYPE/NAME",
        help=f"notification block to alert through (default: {ALERT_BLOCK})",
    )
    args = parser.parse_args(argv)

    webhook_url = os.environ.get(WEBHOOK_URL_VARIABLE)
    if webhook_url and args.notification_block == ALERT_BLOCK:
        save_webhook_block(webhook_url)
        print(f"Saved the alert webhook as block {ALERT_BLOCK}")
    with get_client(sync_client=True) as client:
        try:
            block_id = notification_block_id(client, args.notification_block)
        except LookupError as error:
            print(error, file=sys.stderr)
            return 2
        outcomes = save_automations(client, daily_run_automations(block_id))
    for outcome in outcomes:
        print(f"{outcome}, notifying through {args.notification_block}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
