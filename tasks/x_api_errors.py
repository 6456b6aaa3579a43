"""What each non-200 answer of the X API means for a fetch, and what to do about it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

BEARER = re.compile(r"(?i)(bearer)\s+\S+")

TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
RATE_LIMIT_WINDOW_SECONDS = 15 * 60
# Problem types are matched on their suffix: live bodies say api.twitter.com, the
# spec says api.x.com.
USAGE_CAPPED = "/problems/usage-capped"
CLIENT_FORBIDDEN = "/problems/client-forbidden"
UNSUPPORTED_AUTHENTICATION = "/problems/unsupported-authentication"
V1_NO_ACCESS_CODE = 453


class FetchFailed(RuntimeError):
    """A location's trends could not be fetched.

    ``body_key`` is the archive key of the last answer, when there was one.
    """

    def __init__(self, message: str, body_key: str | None = None) -> None:
        super().__init__(message, body_key)

    @property
    def body_key(self) -> str | None:
        key: str | None = self.args[1]
        return key

    def __str__(self) -> str:
        return str(self.args[0])


class RequestRefused(FetchFailed):
    """The X API refused the request; asking again will not help."""


class TransientFault(FetchFailed):
    """The X API or the network failed in a way that may pass; worth a retry."""


class RateLimited(FetchFailed):
    """The X API rate limit is spent until its window resets."""

    def __init__(
        self, message: str, body_key: str | None = None, reset_in: float = 0.0
    ) -> None:
        # All arguments go to args, so that the error survives pickling.
        RuntimeError.__init__(self, message, body_key, reset_in)

    @property
    def reset_in(self) -> float:
        """Seconds until the rate-limit window resets."""
        seconds: float = self.args[2]
        return seconds


def raise_for_status(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    where: str,
    body_key: str,
) -> None:
    """Raise the failure a non-200 answer stands for; return quietly on 200.

    Args:
        status: The HTTP status of the answer.
        headers: Its response headers, names in lower case.
        body: Its body, as received.
        where: The location, as ``Name (woeid)``, for the message.
        body_key: The archive key of the body, for the message.

    Raises:
        RateLimited: for a plain 429, with the seconds until the window resets.
        TransientFault: for 500, 502, 503 and 504.
        RequestRefused: for every other status, saying what to do.
    """
    if status == 200:
        return
    problem = _problem(body)
    answer = f"HTTP {status} {_describe(problem, body)}"
    archived = f"The response is archived at {body_key}."
    if status in TRANSIENT_STATUSES:
        raise TransientFault(
            f"The X API failed for {where} ({answer}). {archived}", body_key
        )
    if status == 429 and not _has_type(problem, USAGE_CAPPED):
        reset_in = seconds_until_reset(headers)
        raise RateLimited(
            f"The X API rate limit is spent for {where} ({answer}); the window "
            f"resets in {reset_in:.0f} s. {archived}",
            body_key,
            reset_in,
        )
    raise RequestRefused(
        f"The X API refused the request for {where} ({answer}): "
        f"{_advice(status, problem)} {archived}",
        body_key,
    )


def seconds_until_reset(headers: Mapping[str, str], now: float | None = None) -> float:
    """Seconds to wait before asking again after a 429: until the window resets,
    plus one second for clock skew.

    ``x-rate-limit-reset`` (Unix seconds) decides; ``retry-after`` counts only when
    that is missing and it is above 0, since X sends 0 as no hint at all. With
    neither, the whole 15-minute window.
    """
    now = time.time() if now is None else now
    reset = _number(headers.get("x-rate-limit-reset"))
    if reset is not None:
        return max(reset + 1 - now, 1.0)
    retry_after = _number(headers.get("retry-after"))
    if retry_after is not None and retry_after > 0:
        return retry_after
    return float(RATE_LIMIT_WINDOW_SECONDS)


def _advice(status: int, problem: dict[str, Any]) -> str:
    if status == 429:
        return (
            "the plan's usage cap for this period is spent, and waiting for the "
            "rate limit does not help; wait for the cap to renew or raise it in the "
            "X developer portal."
        )
    if status == 402:
        return "the pay-per-use balance is spent; add credit in the X developer portal."
    if status == 401:
        return (
            "the bearer token is invalid or revoked; renew it in the X developer "
            "portal and set X_BEARER_TOKEN to the new one."
        )
    if status == 403:
        return _forbidden_advice(problem)
    return "the request is not one the API accepts; asking again will not help."


def _forbidden_advice(problem: dict[str, Any]) -> str:
    if _has_type(problem, UNSUPPORTED_AUTHENTICATION):
        return (
            "this endpoint takes only an app-only bearer token; set X_BEARER_TOKEN "
            "to the app's bearer token, not a user-context token."
        )
    if V1_NO_ACCESS_CODE in _v1_codes(problem):
        return (
            "the plan lacks the v1.1 trends endpoint; set TRENDS_X_API_VERSION=2 "
            "or move to a plan that still has v1.1."
        )
    if _has_type(problem, CLIENT_FORBIDDEN):
        return (
            "the plan lacks this endpoint or the app is not attached to a project; "
            "attach the app to a project on a plan that includes trends."
        )
    return (
        "the plan or the app lacks access to this endpoint; check the app's project "
        "and plan in the X developer portal."
    )


def _problem(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


def redact_credentials(text: str) -> str:
    """Replace any bearer credential quoted in text, such as one a server echoes."""
    return BEARER.sub(r"\1 [redacted]", text)


def _describe(problem: dict[str, Any], body: bytes) -> str:
    # The body is the server's text; a gateway may echo the request's credentials.
    return redact_credentials(_summary(problem, body))


def _summary(problem: dict[str, Any], body: bytes) -> str:
    if not problem:
        return f"with a body that is not a JSON object, starting {body[:60]!r}"
    codes = _v1_codes(problem)
    if codes:
        messages = [
            str(e.get("message")) for e in problem["errors"] if isinstance(e, dict)
        ]
        return f"code {', '.join(map(str, codes))}: {'; '.join(messages)}"
    parts = [str(problem[k]) for k in ("type", "title", "detail") if problem.get(k)]
    return ": ".join(parts) or repr(problem)[:120]


def _has_type(problem: dict[str, Any], suffix: str) -> bool:
    kind = problem.get("type")
    return isinstance(kind, str) and kind.endswith(suffix)


def _v1_codes(problem: dict[str, Any]) -> list[int]:
    errors = problem.get("errors")
    if not isinstance(errors, list):
        return []
    return [e["code"] for e in errors if isinstance(e, dict) and "code" in e]


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
