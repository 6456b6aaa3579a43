"""Fetching against the fake X API: statuses, bad bodies, retries, pacing, caching."""

from __future__ import annotations

import json
import logging
import pickle
import re
import secrets
import socket
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import State
from prefect.logging.handlers import APILogHandler
from prefect_aws.s3 import S3Bucket

from flows.trends import LocationsFailed, daily_trends, main
from tasks.archive import LocalArchive, open_archive
from tasks.budget import REQUEST_BUDGET_LIMIT, ensure_request_budget
from tasks.fetch_cache import fetch_result_storage
from tasks.locations import UnknownLocationError
from tasks.s3_archive import aws_credentials_from_env
from tasks.x_api_errors import RateLimited, seconds_until_reset
from tests.conftest import TEST_REQUESTS_PER_WINDOW, TEST_TOKEN
from tests.fake_x_api import FakeXApi, Reply

AS_OF = datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
PROBLEMS = "https://api.twitter.com/2/problems/"

pytestmark = pytest.mark.usefixtures("trends_env")


def problem(status: int, kind: str, title: str, **extra: Any) -> Reply:
    """An RFC 7807 problem body like the ones X sends."""
    document = {"type": kind, "title": title, "status": status, **extra}
    return Reply.json(document, status=status)


def v1_error(status: int, code: int, message: str) -> Reply:
    return Reply.json({"errors": [{"code": code, "message": message}]}, status=status)


def archived_bodies(archive_dir: Path, woeid: int) -> list[bytes]:
    """The raw bodies archived for a WOEID, oldest first."""
    paths = sorted(
        path
        for path in archive_dir.glob(f"v*/woeid={woeid}/date=*/*.json")
        if not path.name.endswith(".meta.json")
    )
    return [path.read_bytes() for path in paths]


def loaded_woeids(database_url: str) -> list[int]:
    with psycopg.connect(database_url) as connection:
        found = connection.execute(
            "SELECT DISTINCT woeid FROM trend_observations ORDER BY woeid"
        ).fetchall()
    return [woeid for (woeid,) in found]


def failed_run(locations: list[int]) -> tuple[State[Any], LocationsFailed]:
    """Run the flow, expecting it to end Failed with some locations failed."""
    state = daily_trends(locations=locations, as_of=AS_OF, return_state=True)
    assert state.is_failed(), state
    failure = state.result(raise_on_failure=False)
    assert isinstance(failure, LocationsFailed), failure
    return state, failure


@pytest.fixture
def budget_reset() -> Iterator[None]:
    """Leave the shared request budget wide open again after the test narrows it."""
    yield
    ensure_request_budget(TEST_REQUESTS_PER_WINDOW)


def drop_budget() -> None:
    with get_client(sync_client=True) as client:
        client.delete_global_concurrency_limit_by_name(REQUEST_BUDGET_LIMIT)


def spend_budget() -> None:
    """Mark every slot of the request budget as taken."""
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(REQUEST_BUDGET_LIMIT)
        client.update_global_concurrency_limit(
            REQUEST_BUDGET_LIMIT,
            GlobalConcurrencyLimitUpdate(active_slots=limit.limit),
        )


def budget_slots_taken() -> int:
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(REQUEST_BUDGET_LIMIT)
    return limit.active_slots


@pytest.mark.parametrize(
    ("reply", "version", "advice"),
    [
        pytest.param(
            problem(401, "about:blank", "Unauthorized", detail="Unauthorized"),
            "2",
            r"HTTP 401 .*renew it in the X developer portal",
            id="401",
        ),
        pytest.param(
            v1_error(401, 89, "Invalid or expired token."),
            "1.1",
            r"HTTP 401 code 89.*set X_BEARER_TOKEN to the new one",
            id="401-v1.1",
        ),
        pytest.param(
            problem(402, "about:blank", "Payment Required"),
            "2",
            r"HTTP 402 .*pay-per-use balance is spent; add credit",
            id="402",
        ),
        pytest.param(
            problem(
                403,
                PROBLEMS + "client-forbidden",
                "Client Forbidden",
                reason="client-not-enrolled",
            ),
            "2",
            r"client-forbidden.*plan lacks this endpoint.*attach the app",
            id="403-client-forbidden",
        ),
        pytest.param(
            problem(
                403,
                "https://api.x.com/2/problems/unsupported-authentication",
                "Unsupported Authentication",
            ),
            "2",
            r"unsupported-authentication.*app-only bearer token",
            id="403-unsupported-authentication",
        ),
        pytest.param(
            v1_error(403, 453, "You currently have access to a subset of X API."),
            "1.1",
            r"HTTP 403 code 453.*set TRENDS_X_API_VERSION=2",
            id="403-v1.1-code-453",
        ),
        pytest.param(
            problem(403, "about:blank", "Forbidden"),
            "2",
            r"HTTP 403 .*lacks access to this endpoint",
            id="403-other",
        ),
        pytest.param(
            problem(
                429,
                PROBLEMS + "usage-capped",
                "UsageCapExceeded",
                period="Monthly",
                scope="Product",
            ),
            "2",
            r"usage-capped.*usage cap for this period is spent.*does not help",
            id="429-usage-capped",
        ),
        pytest.param(
            problem(400, PROBLEMS + "invalid-request", "Invalid Request"),
            "2",
            r"HTTP 400 .*asking again will not help",
            id="400",
        ),
    ],
)
def test_a_refusal_fails_its_location_at_once_with_advice(
    monkeypatch: pytest.MonkeyPatch,
    fake_x_api: FakeXApi,
    archive_dir: Path,
    database_url: str,
    reply: Reply,
    version: str,
    advice: str,
) -> None:
    monkeypatch.setenv("TRENDS_X_API_VERSION", version)
    fake_x_api.always(3534, reply)

    state, failure = failed_run([3534])

    assert len(fake_x_api.requests_for(3534)) == 1
    assert archived_bodies(archive_dir, 3534) == [reply.body]
    assert loaded_woeids(database_url) == []
    [outcome] = failure.outcomes
    assert outcome.raw_object_key is not None
    assert (archive_dir / outcome.raw_object_key).read_bytes() == reply.body
    assert outcome.error is not None
    assert outcome.error.startswith("The X API refused the request for Montreal (3534)")
    assert state.message is not None
    assert "Montreal (3534)" in state.message
    assert re.search(advice, outcome.error), outcome.error


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_fault_is_retried_and_every_answer_archived(
    fake_x_api: FakeXApi, archive_dir: Path, database_url: str, status: int
) -> None:
    fault = problem(status, "about:blank", "Service Unavailable")
    fake_x_api.then(4118, fault)
    fake_x_api.always(4118, Reply.trends("Leafs", "Raptors"))

    [outcome] = daily_trends(locations=[4118], as_of=AS_OF)

    assert (outcome.received, outcome.new) == (2, 2)
    assert len(fake_x_api.requests_for(4118)) == 2
    bodies = archived_bodies(archive_dir, 4118)
    assert bodies[0] == fault.body and len(bodies) == 2
    assert loaded_woeids(database_url) == [4118]


def test_retries_that_run_out_fail_the_location_after_every_attempt(
    monkeypatch: pytest.MonkeyPatch,
    fake_x_api: FakeXApi,
    archive_dir: Path,
    database_url: str,
) -> None:
    monkeypatch.setenv("TRENDS_X_API_RETRIES", "2")
    fake_x_api.always(4118, Reply(status=503, body=b"<html>over capacity</html>"))

    _, failure = failed_run([4118])

    assert len(fake_x_api.requests_for(4118)) == 3
    assert len(archived_bodies(archive_dir, 4118)) == 3
    assert failure.outcomes[0].error is not None
    assert "HTTP 503" in failure.outcomes[0].error
    assert "attempt 3 of 3" in failure.outcomes[0].error
    assert loaded_woeids(database_url) == []


def test_a_response_slower_than_the_timeout_is_retried(
    monkeypatch: pytest.MonkeyPatch, fake_x_api: FakeXApi, database_url: str
) -> None:
    monkeypatch.setenv("TRENDS_X_API_TIMEOUT", "0.5")
    slow = Reply.trends("Too late")
    slow.delay = 2.0
    fake_x_api.then(4118, slow)
    fake_x_api.always(4118, Reply.trends("In time"))

    [outcome] = daily_trends(locations=[4118], as_of=AS_OF)

    assert (outcome.received, outcome.new) == (1, 1)
    assert len(fake_x_api.requests_for(4118)) == 2


def test_a_response_that_is_always_too_slow_fails_naming_the_timeout(
    monkeypatch: pytest.MonkeyPatch, fake_x_api: FakeXApi, archive_dir: Path
) -> None:
    monkeypatch.setenv("TRENDS_X_API_TIMEOUT", "0.5")
    monkeypatch.setenv("TRENDS_X_API_RETRIES", "1")
    slow = Reply.trends("Too late")
    slow.delay = 2.0
    fake_x_api.always(4118, slow)

    _, failure = failed_run([4118])

    error = failure.outcomes[0].error
    assert error is not None
    assert "did not answer for Toronto (4118) within 0.5 s" in error
    assert "TRENDS_X_API_TIMEOUT" in error and "attempt 2 of 2" in error
    assert len(fake_x_api.requests_for(4118)) == 2
    assert archived_bodies(archive_dir, 4118) == []


def test_an_unreachable_api_is_retried_then_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setenv("TRENDS_X_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("TRENDS_X_API_RETRIES", "1")

    _, failure = failed_run([4118])

    error = failure.outcomes[0].error
    assert error is not None
    assert f"Could not reach the X API at http://127.0.0.1:{port}" in error
    assert "attempt 2 of 2" in error


def test_a_rate_limit_is_waited_out_until_its_reset(
    fake_x_api: FakeXApi, archive_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    limited = problem(429, "about:blank", "Too Many Requests", detail="Too Many")
    limited.headers = {
        "x-rate-limit-remaining": "0",
        "x-rate-limit-reset": str(int(time.time()) + 1),
        "retry-after": "0",
    }
    fake_x_api.then(4118, limited)
    fake_x_api.always(4118, Reply.trends("Leafs"))

    [outcome] = daily_trends(locations=[4118], as_of=AS_OF)

    assert (outcome.received, outcome.new) == (1, 1)
    assert len(fake_x_api.requests_for(4118)) == 2
    assert archived_bodies(archive_dir, 4118)[0] == limited.body
    assert any(
        r.levelno == logging.WARNING and "rate limit is spent for Toronto" in r.message
        for r in caplog.records
    )


def test_a_rate_limit_that_resets_after_the_maximum_wait_fails_at_once(
    monkeypatch: pytest.MonkeyPatch, fake_x_api: FakeXApi
) -> None:
    monkeypatch.setenv("TRENDS_MAX_RATE_LIMIT_WAIT", "5")
    limited = problem(429, "about:blank", "Too Many Requests")
    limited.headers = {"x-rate-limit-reset": str(int(time.time()) + 600)}
    fake_x_api.always(4118, limited)

    _, failure = failed_run([4118])

    error = failure.outcomes[0].error
    assert error is not None
    assert "rate limit is spent for Toronto (4118)" in error
    assert "maximum wait of 5 s; raise TRENDS_MAX_RATE_LIMIT_WAIT" in error
    assert len(fake_x_api.requests_for(4118)) == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-rate-limit-reset": "1030", "retry-after": "0"}, 31.0),
        ({"x-rate-limit-reset": "900"}, 1.0),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0"}, 900.0),
        ({}, 900.0),
    ],
)
def test_the_wait_after_a_429_follows_the_reset_and_ignores_retry_after_zero(
    headers: dict[str, str], expected: float
) -> None:
    assert seconds_until_reset(headers, now=1000.0) == expected


def test_a_rate_limit_error_survives_pickling_with_its_key_and_reset() -> None:
    limited = pickle.loads(pickle.dumps(RateLimited("spent", "v2/a.json", 12.0)))

    assert (str(limited), limited.body_key, limited.reset_in) == (
        "spent",
        "v2/a.json",
        12.0,
    )


@pytest.mark.parametrize(
    ("body", "defect"),
    [
        pytest.param(b"<!DOCTYPE html><html>Down</html>", "not JSON", id="html"),
        pytest.param(b'{"data": [', "not JSON", id="truncated-json"),
        pytest.param(
            b'{"errors": [{"title": "Not Found Error"}]}',
            "no 'data' list",
            id="no-data",
        ),
        pytest.param(
            b'{"data": [{"trend_name": 42}]}', "no text trend_name", id="wrong-name"
        ),
        pytest.param(
            b'{"data": [{"trend_name": "Leafs", "tweet_count": "many"}]}',
            "tweet_count 'many'",
            id="wrong-count",
        ),
        pytest.param(
            json.dumps({"data": [{"trend_name": f"T{n}"} for n in range(51)]}).encode(),
            "lists 51 trends",
            id="over-50",
        ),
    ],
)
def test_a_bad_200_body_is_archived_and_none_of_it_loads(
    fake_x_api: FakeXApi,
    archive_dir: Path,
    database_url: str,
    body: bytes,
    defect: str,
) -> None:
    fake_x_api.always(4118, Reply.trends("Leafs"))
    fake_x_api.always(3534, Reply(body=body))

    state, _ = failed_run([4118, 3534])

    assert archived_bodies(archive_dir, 3534) == [body]
    assert loaded_woeids(database_url) == [4118]
    assert state.message is not None
    assert "Montreal (3534)" in state.message and defect in state.message
    assert len(fake_x_api.requests_for(3534)) == 1


def test_an_empty_trend_list_loads_as_an_empty_snapshot_with_a_warning(
    fake_x_api: FakeXApi, caplog: pytest.LogCaptureFixture
) -> None:
    fake_x_api.always(2972, Reply.json({"data": []}))

    [outcome] = daily_trends(locations=[2972], as_of=AS_OF)

    assert (outcome.received, outcome.new, outcome.error) == (0, 0, None)
    assert [
        r.message
        for r in caplog.records
        if r.levelno == logging.WARNING and "no trends" in r.message
    ] == ["The X API listed no trends for Winnipeg (2972); its snapshot is empty"]


def test_a_partial_failure_loads_the_others_and_fails_the_run_naming_each(
    monkeypatch: pytest.MonkeyPatch, fake_x_api: FakeXApi, database_url: str
) -> None:
    monkeypatch.setenv("TRENDS_X_API_RETRIES", "1")
    fake_x_api.always(4118, Reply.trends("Leafs"))
    fake_x_api.always(8775, Reply.trends("Flames"))
    fake_x_api.always(3534, problem(403, PROBLEMS + "client-forbidden", "Forbidden"))
    fake_x_api.always(9807, Reply(status=502, body=b"Bad Gateway"))

    state, failure = failed_run([4118, 3534, 9807, 8775])

    assert loaded_woeids(database_url) == [4118, 8775]
    assert state.message is not None
    assert "2 of 4 locations failed" in state.message
    assert "Montreal (3534): The X API refused the request" in state.message
    assert "Vancouver (9807): The X API failed for Vancouver (9807) (HTTP 502" in (
        state.message
    )
    assert [(o.woeid, o.error is None) for o in failure.outcomes] == [
        (4118, True),
        (3534, False),
        (9807, False),
        (8775, True),
    ]


def test_v1_1_calls_trends_place_and_keeps_its_as_of_url_and_query(
    monkeypatch: pytest.MonkeyPatch,
    fake_x_api: FakeXApi,
    archive_dir: Path,
    database_url: str,
) -> None:
    monkeypatch.setenv("TRENDS_X_API_VERSION", "1.1")
    body = [
        {
            "trends": [
                {
                    "name": "#Leafs",
                    "url": "http://twitter.com/search?q=%23Leafs",
                    "promoted_content": None,
                    "query": "%23Leafs",
                    "tweet_volume": 25000,
                },
                {
                    "name": "Snow Day",
                    "url": "http://twitter.com/search?q=%22Snow+Day%22",
                    "promoted_content": {"label": "Promoted"},
                    "query": "%22Snow+Day%22",
                    "tweet_volume": None,
                },
            ],
            "as_of": "2026-12-03T21:04:05Z",
            "created_at": "2026-12-03T18:00:00Z",
            "locations": [{"name": "Toronto", "woeid": 4118}],
        }
    ]
    fake_x_api.always(4118, Reply.json(body))

    [outcome] = daily_trends(locations=[4118], as_of=AS_OF)

    [request] = fake_x_api.requests_for(4118)
    assert (request.path, request.query) == ("/1.1/trends/place.json", {"id": ["4118"]})
    assert outcome.raw_object_key is not None
    assert outcome.raw_object_key.startswith("v1.1/woeid=4118/")
    with psycopg.connect(database_url) as connection:
        stored = connection.execute(
            "SELECT rank, name, as_of, url, query, promoted, promoted_content,"
            " tweet_volume, api_version FROM trend_observations ORDER BY rank"
        ).fetchall()
    as_of = datetime(2026, 12, 3, 21, 4, 5, tzinfo=UTC)
    assert stored == [
        (
            1,
            "#Leafs",
            as_of,
            body[0]["trends"][0]["url"],
            "%23Leafs",
            False,
            None,
            25000,
            "1.1",
        ),
        (
            2,
            "Snow Day",
            as_of,
            body[0]["trends"][1]["url"],
            "%22Snow+Day%22",
            True,
            {"label": "Promoted"},
            None,
            "1.1",
        ),
    ]


def test_v2_calls_trends_by_woeid_asking_for_50(fake_x_api: FakeXApi) -> None:
    fake_x_api.always(4118, Reply.trends("Leafs"))

    daily_trends(locations=[4118], as_of=AS_OF)

    [request] = fake_x_api.requests_for(4118)
    assert (request.path, request.query) == (
        "/2/trends/by/woeid/4118",
        {"max_trends": ["50"]},
    )
    assert request.headers["authorization"] == f"Bearer {TEST_TOKEN}"


def test_a_second_run_for_the_same_hour_sends_no_request(
    fake_x_api: FakeXApi, archive_dir: Path
) -> None:
    fake_x_api.always(4118, Reply.trends("Leafs", "Raptors"))
    fake_x_api.always(3534, Reply.trends("Habs"))
    daily_trends(locations=[4118, 3534], as_of=AS_OF)

    outcomes = daily_trends(locations=[4118, 3534], as_of=AS_OF)

    assert [(o.woeid, o.new, o.present) for o in outcomes] == [
        (4118, 0, 2),
        (3534, 0, 1),
    ]
    assert len(fake_x_api.requests) == 2
    assert len(archived_bodies(archive_dir, 4118)) == 1
    assert len(archived_bodies(archive_dir, 3534)) == 1


def test_refresh_asks_again_despite_the_cache(
    fake_x_api: FakeXApi, archive_dir: Path
) -> None:
    fake_x_api.then(4118, Reply.trends("Leafs"))
    fake_x_api.always(4118, Reply.trends("Leafs", "Raptors"))
    daily_trends(locations=[4118], as_of=AS_OF)

    [outcome] = daily_trends(locations=[4118], as_of=AS_OF, refresh=True)

    # The fresh answer is fetched and archived, but the slot keeps the snapshot
    # loaded first: a snapshot never mixes two responses.
    assert (outcome.received, outcome.new, outcome.present) == (2, 0, 2)
    assert len(fake_x_api.requests_for(4118)) == 2
    assert len(archived_bodies(archive_dir, 4118)) == 2


def test_the_command_refreshes_only_when_asked(fake_x_api: FakeXApi) -> None:
    fake_x_api.always(4118, Reply.trends("Leafs"))
    command = ["--locations", "4118", "--as-of", AS_OF.isoformat()]

    exit_codes = [main(command), main(command), main([*command, "--refresh"])]

    assert exit_codes == [0, 0, 0]
    assert len(fake_x_api.requests_for(4118)) == 2


def test_a_rejected_body_is_not_cached_so_the_next_run_asks_again(
    fake_x_api: FakeXApi, archive_dir: Path
) -> None:
    fake_x_api.then(3534, Reply(body=b"<html>maintenance</html>"))
    fake_x_api.always(3534, Reply.trends("Habs"))
    failed_run([3534])

    [outcome] = daily_trends(locations=[3534], as_of=AS_OF)

    assert (outcome.new, outcome.error) == (1, None)
    assert len(fake_x_api.requests_for(3534)) == 2
    assert archived_bodies(archive_dir, 3534)[0] == b"<html>maintenance</html>"


def test_a_flow_retry_asks_again_only_for_the_failed_location(
    fake_x_api: FakeXApi, database_url: str
) -> None:
    fake_x_api.always(4118, Reply.trends("Leafs"))
    fake_x_api.then(3534, problem(403, "about:blank", "Forbidden"))
    fake_x_api.always(3534, Reply.trends("Habs"))

    outcomes = daily_trends.with_options(retries=1)(locations=[4118, 3534], as_of=AS_OF)

    assert [(o.woeid, o.error) for o in outcomes] == [(4118, None), (3534, None)]
    assert len(fake_x_api.requests_for(4118)) == 1
    assert len(fake_x_api.requests_for(3534)) == 2
    assert loaded_woeids(database_url) == [3534, 4118]


@pytest.mark.parametrize("woeid", [2344924, 12345])
def test_a_location_without_trends_is_refused_before_any_request(
    fake_x_api: FakeXApi, woeid: int
) -> None:
    with pytest.raises(UnknownLocationError, match=f"woeid {woeid} is") as refused:
        daily_trends(locations=[4118, woeid], as_of=AS_OF)

    assert fake_x_api.requests == []
    assert "3444" in str(refused.value)


@pytest.mark.usefixtures("budget_reset")
def test_each_request_takes_a_slot_of_the_shared_budget(
    fake_x_api: FakeXApi,
) -> None:
    drop_budget()
    ensure_request_budget(15)
    fake_x_api.always(4118, Reply.trends("Leafs"))
    fake_x_api.then(3534, Reply(status=503, body=b"down"))
    fake_x_api.always(3534, Reply.trends("Habs"))

    daily_trends(locations=[4118, 3534], as_of=AS_OF)

    # One slot frees up every 60 s, so the three requests still hold theirs.
    assert budget_slots_taken() >= 3


@pytest.mark.usefixtures("budget_reset")
def test_a_spent_budget_makes_the_fetch_give_up_in_time_sending_nothing(
    monkeypatch: pytest.MonkeyPatch, fake_x_api: FakeXApi
) -> None:
    drop_budget()
    ensure_request_budget(1)
    spend_budget()
    monkeypatch.setenv("TRENDS_MAX_RATE_LIMIT_WAIT", "1")
    fake_x_api.always(4118, Reply.trends("Leafs"))

    _, failure = failed_run([4118])

    assert fake_x_api.requests == []
    error = failure.outcomes[0].error
    assert error is not None
    assert "No slot of the shared X API request budget 'x-api-requests'" in error
    assert "within 1 s for Toronto (4118), so nothing was sent" in error


@pytest.mark.usefixtures("budget_reset")
def test_a_strict_run_without_the_budget_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, fake_x_api: FakeXApi
) -> None:
    drop_budget()
    monkeypatch.setenv("TRENDS_STRICT_REQUEST_BUDGET", "true")
    fake_x_api.always(4118, Reply.trends("Leafs"))

    _, failure = failed_run([4118])

    assert fake_x_api.requests == []
    assert failure.outcomes[0].error is not None
    assert "ensure_request_budget()" in failure.outcomes[0].error


@pytest.mark.usefixtures("budget_reset")
def test_a_lenient_run_without_the_budget_still_fetches(
    fake_x_api: FakeXApi,
) -> None:
    drop_budget()
    fake_x_api.always(4118, Reply.trends("Leafs"))

    [outcome] = daily_trends(locations=[4118], as_of=AS_OF)

    assert outcome.new == 1


def test_the_token_appears_in_no_log_archive_object_error_or_artifact(
    monkeypatch: pytest.MonkeyPatch,
    fake_x_api: FakeXApi,
    archive_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("TRENDS_X_API_RETRIES", "1")
    caplog.set_level(logging.DEBUG)
    fake_x_api.always(4118, Reply.trends("Leafs"))
    fake_x_api.always(3534, problem(403, "about:blank", "Forbidden"))
    fake_x_api.always(9807, Reply(status=503, body=b"down"))
    limited = problem(429, "about:blank", "Too Many Requests")
    limited.headers = {"x-rate-limit-reset": str(int(time.time()) + 1)}
    fake_x_api.then(8775, limited)
    fake_x_api.always(8775, Reply.trends("Flames"))

    state, failure = failed_run([4118, 3534, 9807, 8775])

    assert fake_x_api.requests[0].headers["authorization"].endswith(TEST_TOKEN)
    texts = [record.getMessage() for record in caplog.records]
    texts += [
        "".join(traceback.format_exception(failure)),
        repr(failure),
        str(state.message),
    ]
    texts += [repr(outcome) for outcome in failure.outcomes]
    texts += [text for text in _api_texts(state) if text]
    assert texts and not [text for text in texts if TEST_TOKEN in text]
    stored = [path for path in archive_dir.rglob("*") if path.is_file()]
    assert any(".prefect-results" in str(path) for path in stored)
    assert not [path for path in stored if TEST_TOKEN.encode() in path.read_bytes()]


def _api_texts(state: State[Any]) -> list[str]:
    """The run's logs and artifacts as the Prefect API holds them."""
    APILogHandler().flush()
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
        )
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])
            )
        )
    assert logs
    return [log.message for log in logs] + [
        f"{a.key} {a.description} {a.data}" for a in artifacts
    ]


def test_the_fetch_cache_lives_in_a_local_archive() -> None:
    archive = LocalArchive(Path("/srv/raw"))

    assert fetch_result_storage(archive) == Path("/srv/raw/.prefect-results")


def test_an_s3_archive_from_a_plain_url_leaves_the_cache_in_default_storage(
    s3_archive_url: str,
) -> None:
    assert fetch_result_storage(open_archive(s3_archive_url)) is None


@pytest.mark.usefixtures("trends_env")
def test_a_cached_run_against_an_s3_archive_block_sends_no_request(
    fake_x_api: FakeXApi, s3_archive_url: str
) -> None:
    bucket_name, _, folder = s3_archive_url.removeprefix("s3://").partition("/")
    block_name = f"archive-{secrets.token_hex(4)}"
    S3Bucket(
        bucket_name=bucket_name,
        bucket_folder=folder,
        credentials=aws_credentials_from_env(),
    ).save(block_name)
    fake_x_api.always(4118, Reply.trends("Leafs", "Raptors"))
    daily_trends(locations=[4118], as_of=AS_OF, archive_block=block_name)

    [outcome] = daily_trends(locations=[4118], as_of=AS_OF, archive_block=block_name)

    assert (outcome.new, outcome.present) == (0, 2)
    assert len(fake_x_api.requests_for(4118)) == 1
    listed = boto3.client("s3").list_objects_v2(
        Bucket=bucket_name, Prefix=f"{folder}/fetch-trends/"
    )
    assert [entry["Key"] for entry in listed.get("Contents", [])] == [
        f"{folder}/fetch-trends/v2/woeid=4118/as_of={AS_OF:%Y%m%dT%H%M%SZ}"
    ]
