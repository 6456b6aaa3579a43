"""Fetch one location's trend list from the X API, or from the bundled samples."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources

import httpx
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from tasks.locations import Location

MAX_TRENDS = 50
TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=5.0, pool=5.0)
# Response headers worth keeping next to the raw body.
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


@task(name="fetch-trends", cache_policy=NO_CACHE)
def fetch_trends(
    location: Location,
    as_of: datetime,
    fetched_at: datetime,
    api_url: str,
    token: SecretStr,
) -> RawResponse:
    """Call the v2 trends endpoint for one location and return the response as is.

    Any HTTP status is returned rather than raised, so that the caller can archive
    the body before it decides what the status means.
    """
    logger = get_run_logger()
    url = f"{api_url}/2/trends/by/woeid/{location.woeid}"
    params = {"max_trends": MAX_TRENDS}
    logger.info(
        "Fetching trends of %s (%d) from %s", location.name, location.woeid, url
    )

    with httpx.Client(timeout=TIMEOUT, headers=_auth_headers(token)) as client:
        response = client.get(url, params=params)

    logger.info(
        "Received HTTP %d with %d bytes for %s (%d); rate limit remaining: %s",
        response.status_code,
        len(response.content),
        location.name,
        location.woeid,
        response.headers.get("x-rate-limit-remaining", "unknown"),
    )
    return RawResponse(
        location=location,
        api_version="2",
        request_url=str(response.request.url),
        status_code=response.status_code,
        body=response.content,
        fetched_at=fetched_at,
        as_of=as_of,
        headers=_kept_headers(response.headers),
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


def _auth_headers(token: SecretStr) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token.get_secret_value()}",
        "User-Agent": "x-trends",
    }


def _kept_headers(headers: httpx.Headers) -> dict[str, str]:
    return {name: headers[name] for name in KEPT_HEADERS if name in headers}
