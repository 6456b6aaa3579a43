"""The artifacts a daily run publishes, read back from the Prefect test server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from prefect.client.schemas.objects import Artifact

from flows.trends import LocationsFailed, daily_trends
from tasks.artifacts import SUMMARY_KEY, TOP_TRENDS_KEY
from tests.conftest import TEST_TOKEN
from tests.fake_x_api import FakeXApi, Reply

AS_OF = datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
TORONTO, MONTREAL = 4118, 3534
# A reset a day ahead, so that the rate limit is still spent whenever the test runs.
RESET_AT = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
RESET = str(int(RESET_AT.timestamp()))
RESET_TEXT = f"{RESET_AT:%Y-%m-%d %H:%M:%S} UTC"


def with_budget(reply: Reply, remaining: int) -> Reply:
    reply.headers = {
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": RESET,
    }
    return reply


def run_artifacts(flow_run_id: UUID) -> dict[str, Artifact]:
    """The artifacts of one flow run, by key."""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
            )
        )
    return {artifact.key: artifact for artifact in artifacts if artifact.key}


def artifact_history(key: str) -> list[Artifact]:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )


def archived_body_keys(archive_dir: Path, woeid: int) -> list[str]:
    """The keys of the response bodies a run archived for one location."""
    bodies = (archive_dir / "v2" / f"woeid={woeid}").rglob("*.json")
    return [
        body.relative_to(archive_dir).as_posix()
        for body in bodies
        if not body.name.endswith(".meta.json")
    ]


def run_flow(**parameters: Any) -> tuple[UUID, Any]:
    state = daily_trends(return_state=True, **parameters)
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    return flow_run_id, state.result(raise_on_failure=False)


@pytest.mark.usefixtures("trends_env")
def test_a_run_publishes_each_locations_top_ten_and_a_summary(
    fake_x_api: FakeXApi, archive_dir: Path
) -> None:
    toronto = [f"#Leafs{rank}" for rank in range(1, 13)]
    fake_x_api.always(
        TORONTO,
        with_budget(Reply.trends(*toronto, volumes={"#Leafs1": 52_000}), 61),
    )
    fake_x_api.always(MONTREAL, with_budget(Reply.trends("Habs", "Poutine"), 60))

    flow_run_id, _ = run_flow(locations=[TORONTO, MONTREAL], as_of=AS_OF)

    artifacts = run_artifacts(flow_run_id)
    table = json.loads(artifacts[TOP_TRENDS_KEY].data)
    assert artifacts[TOP_TRENDS_KEY].type == "table"
    assert [(row["location"], row["rank"], row["trend"]) for row in table] == [
        *(("Toronto", rank, f"#Leafs{rank}") for rank in range(1, 11)),
        ("Montreal", 1, "Habs"),
        ("Montreal", 2, "Poutine"),
    ]
    assert [row["tweet_volume"] for row in table[:2]] == [52_000, None]
    summary = artifacts[SUMMARY_KEY].data
    assert artifacts[SUMMARY_KEY].type == "markdown"
    assert "# Daily trends as of 2026-12-03 21:00 UTC" in summary
    assert (
        f"| Toronto | 4118 | 12 | 12 | 0 | loaded | 61 of 75 | {RESET_TEXT} |"
    ) in summary
    assert "| Montreal | 3534 | 2 | 2 | 0 | loaded | 60 of 75 |" in summary
    assert "budget left after the run: 60 of 75 requests" in summary
    keys = archived_body_keys(archive_dir, TORONTO)
    assert keys and all(f"`{key}`" in summary for key in keys)
    assert summary.count(".meta.json`") == 2


@pytest.mark.usefixtures("trends_env")
def test_the_keys_stay_the_same_so_each_run_adds_a_version(
    fake_x_api: FakeXApi,
) -> None:
    fake_x_api.always(TORONTO, Reply.trends("Leafs"))

    first, _ = run_flow(locations=[TORONTO], as_of=AS_OF)
    second, _ = run_flow(locations=[TORONTO], as_of=AS_OF + timedelta(days=1))

    for key in (TOP_TRENDS_KEY, SUMMARY_KEY):
        runs = {artifact.flow_run_id for artifact in artifact_history(key)}
        assert {first, second} <= runs
    summary = run_artifacts(second)[SUMMARY_KEY].data
    assert "| Toronto | 4118 | 1 | 1 | 0 | loaded |" in summary


@pytest.mark.usefixtures("trends_env")
def test_a_partly_failed_run_still_publishes_the_reason_without_the_token(
    fake_x_api: FakeXApi, archive_dir: Path
) -> None:
    fake_x_api.always(TORONTO, Reply.trends("Leafs", "Raptors"))
    fake_x_api.always(
        MONTREAL,
        Reply.json(
            {
                "title": "Too Many Requests",
                "detail": f"Rejected Authorization: Bearer {TEST_TOKEN}",
                "status": 429,
            },
            status=429,
            headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": RESET},
        ),
    )

    flow_run_id, result = run_flow(locations=[TORONTO, MONTREAL], as_of=AS_OF)

    assert isinstance(result, LocationsFailed)
    artifacts = run_artifacts(flow_run_id)
    summary = artifacts[SUMMARY_KEY].data
    assert "| Montreal | 3534 | 0 | 0 | 0 | failed | 0 of 75 |" in summary
    assert RESET_TEXT in summary
    assert "budget left after the run: 0 of 75 requests" in summary
    assert (
        "- **Montreal (3534)**: The X API rate limit is spent for Montreal (3534)"
        in summary
    )
    assert "Bearer [redacted]" in summary
    keys = archived_body_keys(archive_dir, MONTREAL)
    assert keys and all(f"`{key}`" in summary for key in keys)
    assert [row["trend"] for row in json.loads(artifacts[TOP_TRENDS_KEY].data)] == [
        "Leafs",
        "Raptors",
    ]
    for artifact in artifacts.values():
        assert TEST_TOKEN not in json.dumps(artifact.data)


@pytest.mark.usefixtures("trends_env")
def test_a_sample_run_says_no_response_carried_rate_limit_headers() -> None:
    flow_run_id, _ = run_flow(locations=[TORONTO], as_of=AS_OF, sample=True)

    summary = run_artifacts(flow_run_id)[SUMMARY_KEY].data
    assert "| Toronto | 4118 | 20 | 20 | 0 | loaded | - | - |" in summary
    assert "No response carried rate-limit headers." in summary
