"""AWS Lambda entry point: run the daily flow, or a backfill, for one event.

There is no Lambda work pool, so the function calls the flow itself and reports to
the Prefect API named by ``PREFECT_API_URL``. Prefect reads its settings and home
folder when it is first imported, and on Lambda only ``/tmp`` is writable, so this
module imports nothing of Prefect until the environment is ready.

Events (an EventBridge Scheduler target's ``Input``, or a manual invoke)::

    {"flow": "daily-trends"}
    {"flow": "daily-trends", "parameters": {"locations": [4118], "as_of": "..."}}
    {"flow": "backfill", "parameters": {"since": "2026-11-01", "until": "2026-11-30"}}

``flow`` defaults to ``daily-trends`` and ``parameters`` to none; other keys, such as
the scheduler's ``scheduled_time``, are recorded in the log and otherwise ignored.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

DAILY_FLOW = "daily-trends"
BACKFILL_FLOW = "backfill"
FLOWS = (DAILY_FLOW, BACKFILL_FLOW)
SECRETS_ARN_VARIABLE = "TRENDS_SECRETS_ARN"


class EventRejected(ValueError):
    """The event does not name a flow this function runs, or its parameters are bad."""


def handler(event: Mapping[str, Any] | None, context: object) -> dict[str, Any]:
    """Run the flow the event asks for and return what it did.

    Raises:
        EventRejected: when the event names an unknown flow or malformed parameters.
        Exception: whatever the flow raised, so that Lambda records a failed
            invocation and the scheduler's retry policy applies.
    """
    flow_name, parameters = read_event(event or {})
    prepare_environment()

    from prefect.logging import get_logger

    logger = get_logger("x-trends.lambda")
    logger.info(
        "Running flow %s for event %s", flow_name, _describe(event or {}, parameters)
    )
    run = load_flow(flow_name)
    result = run(**parameters)
    logger.info("Flow %s finished", flow_name)
    return {"flow": flow_name, "result": _plain(result)}


def read_event(event: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The flow name and its parameters, checked, from an event."""
    flow_name = event.get("flow", DAILY_FLOW)
    if flow_name not in FLOWS:
        raise EventRejected(
            f"The event asks for flow {flow_name!r}, but this function runs only "
            f'{" and ".join(FLOWS)}; send {{"flow": "{DAILY_FLOW}"}} or '
            f'{{"flow": "{BACKFILL_FLOW}", "parameters": {{...}}}}.'
        )
    parameters = event.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise EventRejected(
            "The event's parameters must be a JSON object of flow parameters such "
            f'as {{"locations": [4118]}}; got {type(parameters).__name__}.'
        )
    return flow_name, parameters


def prepare_environment() -> None:
    """Point Prefect's home at /tmp and load the function's secrets, before Prefect.

    A ``PREFECT_HOME`` already under the temporary folder is kept. When
    ``TRENDS_SECRETS_ARN`` names a Secrets Manager secret, its JSON object of
    environment variables (such as ``PREFECT_API_KEY`` and ``X_BEARER_TOKEN``) is
    added to the environment of this process; variables already set win.
    """
    scratch = tempfile.gettempdir()
    home = os.environ.get("PREFECT_HOME", "")
    if not home.startswith(scratch + os.sep):
        os.environ["PREFECT_HOME"] = os.path.join(scratch, "prefect")
    secrets_arn = os.environ.get(SECRETS_ARN_VARIABLE)
    if secrets_arn:
        for name, value in _read_secret_variables(secrets_arn).items():
            os.environ.setdefault(name, value)


def load_flow(flow_name: str) -> Callable[..., Any]:
    """The flow an event names, importing the backfill flow only when asked.

    Raises:
        EventRejected: when the backfill flow is asked for but not in this image.
    """
    if flow_name == DAILY_FLOW:
        from flows.trends import daily_trends

        return daily_trends
    try:
        module = importlib.import_module("flows.backfill")
    except ModuleNotFoundError as error:
        if error.name != "flows.backfill":
            raise
        raise EventRejected(
            "The event asks for a backfill, but this image has no flows/backfill.py; "
            "build the image from a revision that has the backfill flow, or send "
            f'{{"flow": "{DAILY_FLOW}"}}.'
        ) from error
    backfill: Callable[..., Any] = module.backfill
    return backfill


def _read_secret_variables(secret_arn: str) -> dict[str, str]:
    import boto3

    client = boto3.client("secretsmanager")
    secret_string = client.get_secret_value(SecretId=secret_arn)["SecretString"]
    try:
        variables = json.loads(secret_string)
    except json.JSONDecodeError:
        variables = None
    if not isinstance(variables, dict) or not all(
        isinstance(value, str) for value in variables.values()
    ):
        # The secret's text is never quoted back: it may be a token.
        raise EventRejected(
            f"Secret {secret_arn!r} must hold a JSON object of environment variable "
            'names to string values, such as {"X_BEARER_TOKEN": "..."}; '
            "store it again in that shape."
        )
    return variables


def _describe(event: Mapping[str, Any], parameters: dict[str, Any]) -> str:
    extra = {key: value for key, value in event.items() if key != "parameters"}
    return json.dumps({**extra, "parameters": sorted(parameters)}, default=str)


def _plain(result: object) -> Any:
    """The flow's result as JSON-ready values, for Lambda to return."""
    if isinstance(result, list):
        return [_plain(item) for item in result]
    if is_dataclass(result) and not isinstance(result, type):
        return asdict(result)
    return json.loads(json.dumps(result, default=str))
