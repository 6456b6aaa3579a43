"""Fetch one location's trend list from the X API, or from the bundled samples."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import httpx
from prefect import Task, get_run_logger, task
from prefect.client.schemas.objects import State, TaskRun
from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.sync import rate_limit
from prefect.context import TaskRunContext
from prefect.tasks import exponential_backoff
from pydantic import SecretStr

from tasks.budget import REQUEST_BUDGET_LIMIT
from tasks.fetch_cache import snapshot_cache_key
from tasks.locations import Location
from tasks.x_api_errors import (
    FetchFailed,
    RateLimited,
    TransientFault,
    raise_for_status,
)

if TYPE_CHECKING:
    from tasks.archive import ArchivedResponse

MAX_TRENDS = 50
CONNECT_TIMEOUT = 5.0
RETRY_JITTER_FACTOR = 0.5
# Response headers worth keeping next to the raw body. Request headers, and with
# them the token, are never kept.
KEPT_HEADERS = (
    "content-type",
    "date",
    "retry-after",
    "x-rate-limit-limit",
    "x-rate-limit-remaining",
    "x-rate-limit-reset",
    "x-response-time",
    "x-transaction-id",
)


@dataclass(frozen=True)
class RawResponse:
    """One trends response exactly as received, with what was asked for it."""

    location: Location
    api_version: str
    request_url: str
    status_code: int
    body: bytes
    fetched_at: datetime
    as_of: datetime
    headers: dict[str, str] = field(default_factory=dict)
    is_sample: bool = False


@dataclass(frozen=True)
class XApiOptions:
    """How a run talks to the X API."""

    api_url: str
    api_version: Literal["2", "1.1"]
    token: SecretStr
    timeout: float = 20.0
    max_rate_limit_wait: float = 900.0
    strict_budget: bool = False


class BudgetUnavailable(FetchFailed):
    """No slot of the shared request budget could be had, so nothing was sent."""


class BodyRejected(FetchFailed):
    """A 200 answer whose body is no trend list."""


# Archives one raw response and says where; called before the response is judged.
ResponseKeeper = Callable[[RawResponse], "ArchivedResponse"]
# Raises when a 200 body is no trend list; given the body and the location's name.
BodyCheck = Callable[[bytes, str], object]


def is_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only 5xx answers, timeouts and lost connections, never a 4xx."""
    return isinstance(state.data, TransientFault)


@task(
    name="fetch-trends",
    cache_key_fn=snapshot_cache_key,
    persist_result=True,
    retries=3,
    retry_delay_seconds=exponential_backoff(10),
    retry_jitter_factor=RETRY_JITTER_FACTOR,
    retry_condition_fn=is_transient,
)
def fetch_trends(
    location: Location,
    as_of: datetime,
    options: XApiOptions,
    keep: ResponseKeeper,
    check_body: BodyCheck,
) -> ArchivedResponse:
    """Fetch one location's trends, archive every answer, and judge it.

    Each request takes a slot of the shared request budget first. Every answer,
    error or not, is archived through ``keep`` before its status is looked at. A
    429 rate limit is waited out until its window resets, within the run's maximum
    wait; a 5xx, a timeout or a lost connection is raised for Prefect to retry. A
    200 body is checked with ``check_body`` here, so that a body that is no trend
    list fails the task and never lands in the cache.

    Raises:
        RequestRefused: when the API refused the request; not retried.
        RateLimited: when the rate limit resets later than the maximum wait.
        TransientFault: after a 5xx, a timeout or a connection error; retried.
        BudgetUnavailable: when the request budget had no slot in time.
        BodyRejected: when ``check_body`` finds a 200 body is no trend list.
    """
    logger = get_run_logger()
    where = f"{location.name} ({location.woeid})"
    waited = 0.0
    while True:
        archived = keep(_send(location, as_of, options))
        response = archived.response
        try:
            raise_for_status(
                response.status_code,
                response.headers,
                response.body,
                where,
                archived.body_key,
            )
        except RateLimited as limited:
            if waited + limited.reset_in > options.max_rate_limit_wait:
                raise RateLimited(
                    f"{limited} Waiting for it would pass the maximum wait of "
                    f"{options.max_rate_limit_wait:.0f} s; raise "
                    "TRENDS_MAX_RATE_LIMIT_WAIT or run again after the reset.",
                    limited.body_key,
                    limited.reset_in,
                ) from None
            logger.warning("%s Waiting before asking again.", limited)
            time.sleep(limited.reset_in)
            waited += limited.reset_in
            continue
        except TransientFault as fault:
            raise TransientFault(f"{fault} {_attempt()}", fault.body_key) from None
        _check(check_body, archived, where)
        return archived


def _check(check_body: BodyCheck, archived: ArchivedResponse, where: str) -> None:
    try:
        check_body(archived.response.body, where)
    except ValueError as rejected:
        raise BodyRejected(
            f"{rejected} The response is archived at {archived.body_key}.",
            archived.body_key,
        ) from rejected


def _send(location: Location, as_of: datetime, options: XApiOptions) -> RawResponse:
    """Send one request once a budget slot is free; return the answer as is."""
    logger = get_run_logger()
    where = f"{location.name} ({location.woeid})"
    url, params = _endpoint(location, options)
    _take_budget_slot(where, options)
    logger.info("Fetching trends of %s from %s", where, url)

    timeout = httpx.Timeout(
        options.timeout, connect=min(CONNECT_TIMEOUT, options.timeout)
    )
    try:
        with httpx.Client(timeout=timeout, headers=_auth_headers(options)) as client:
            response = client.get(url, params=params)
    except httpx.TimeoutException as error:
        raise TransientFault(
            f"The X API did not answer for {where} within {options.timeout:g} s "
            f"({type(error).__name__}); TRENDS_X_API_TIMEOUT sets that limit. "
            f"{_attempt()}"
        ) from error
    except httpx.TransportError as error:
        raise TransientFault(
            f"Could not reach the X API at {options.api_url} for {where} "
            f"({type(error).__name__}: {error}). {_attempt()}"
        ) from error

    logger.info(
        "Received HTTP %d with %d bytes for %s; rate limit remaining: %s",
        response.status_code,
        len(response.content),
        where,
        response.headers.get("x-rate-limit-remaining", "unknown"),
    )
    return RawResponse(
        location=location,
        api_version=options.api_version,
        request_url=str(response.request.url),
        status_code=response.status_code,
        body=response.content,
        fetched_at=datetime.now(UTC),
        as_of=as_of,
        headers=_kept_headers(response.headers),
    )


def _endpoint(
    location: Location, options: XApiOptions
) -> tuple[str, dict[str, str | int]]:
    if options.api_version == "1.1":
        return f"{options.api_url}/1.1/trends/place.json", {"id": location.woeid}
    return (
        f"{options.api_url}/2/trends/by/woeid/{location.woeid}",
        {"max_trends": MAX_TRENDS},
    )


def _take_budget_slot(where: str, options: XApiOptions) -> None:
    try:
        rate_limit(
            REQUEST_BUDGET_LIMIT,
            occupy=1,
            timeout_seconds=options.max_rate_limit_wait,
            strict=options.strict_budget,
        )
    except TimeoutError:
        raise BudgetUnavailable(
            f"No slot of the shared X API request budget {REQUEST_BUDGET_LIMIT!r} "
            f"came free within {options.max_rate_limit_wait:.0f} s for {where}, so "
            "nothing was sent; other runs have spent it. Run again later or raise "
            "TRENDS_MAX_RATE_LIMIT_WAIT."
        ) from None
    except ConcurrencySlotAcquisitionError as error:
        raise BudgetUnavailable(
            f"The shared X API request budget {REQUEST_BUDGET_LIMIT!r} is not set "
            f"up, so nothing was sent for {where} ({error}). Create it with "
            "tasks.budget.ensure_request_budget(), or unset "
            "TRENDS_STRICT_REQUEST_BUDGET outside deployments."
        ) from error


def _attempt() -> str:
    context = TaskRunContext.get()
    if context is None or context.task_run is None:
        return ""
    return (
        f"This was attempt {context.task_run.run_count} of {context.task.retries + 1}."
    )


@task(name="read-sample-trends")
def read_sample_trends(
    location: Location, as_of: datetime, fetched_at: datetime
) -> RawResponse:
    """Return the bundled sample v2 response of one location, as if fetched."""
    name = f"v2_{location.woeid}.json"
    body = resources.files("tasks.samples").joinpath(name).read_bytes()
    return RawResponse(
        location=location,
        api_version="2",
        request_url=f"sample:tasks/samples/{name}",
        status_code=200,
        body=body,
        fetched_at=fetched_at,
        as_of=as_of,
        headers={"content-type": "application/json; charset=utf-8"},
        is_sample=True,
    )


def _auth_headers(options: XApiOptions) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {options.token.get_secret_value()}",
        "User-Agent": "x-trends",
    }


def _kept_headers(headers: httpx.Headers) -> dict[str, str]:
    return {name: headers[name] for name in KEPT_HEADERS if name in headers}
