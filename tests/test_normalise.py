"""Normalising v2 bodies into typed trend rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pytest

from tasks.archive import ArchivedResponse
from tasks.fetch import RawResponse
from tasks.locations import KNOWN_LOCATIONS
from tasks.normalise import (
    TREND_SCHEMA,
    SnapshotRejected,
    keep_best_rank,
    normalise_trends,
    parse_v2_body,
)

AS_OF = datetime(2026, 12, 3, 21, tzinfo=UTC)
FETCHED_AT = datetime(2026, 12, 3, 21, 4, 5, 123456, tzinfo=UTC)


def archived(body: bytes, status: int = 200) -> ArchivedResponse:
    response = RawResponse(
        location=KNOWN_LOCATIONS[4118],
        api_version="2",
        request_url="http://fake/2/trends/by/woeid/4118?max_trends=50",
        status_code=status,
        body=body,
        fetched_at=FETCHED_AT,
        as_of=AS_OF,
    )
    return ArchivedResponse(response, "v2/key.json", "v2/key.meta.json")


def test_rows_follow_the_schema_with_rank_from_list_order() -> None:
    body = {
        "data": [{"trend_name": "#Leafs", "tweet_count": 12000}, {"trend_name": "TTC"}]
    }

    snapshot = normalise_trends.fn(archived(json.dumps(body).encode()), "run-1")

    assert snapshot.trends.schema == TREND_SCHEMA
    assert snapshot.trends.select("rank", "name", "tweet_volume").rows() == [
        (1, "#Leafs", 12000),
        (2, "TTC", None),
    ]
    assert snapshot.trends["raw_object_key"].unique().to_list() == ["v2/key.json"]
    assert snapshot.trends["as_of"].unique().to_list() == [AS_OF]
    assert snapshot.received == 2


def test_an_empty_data_list_is_an_empty_snapshot() -> None:
    snapshot = normalise_trends.fn(archived(b'{"data": []}'), None)

    assert snapshot.trends.height == 0 and snapshot.trends.schema == TREND_SCHEMA


def test_an_error_status_is_rejected_with_the_problem_title() -> None:
    body = (
        b'{"title":"Unauthorized","type":"about:blank","status":401,'
        b'"detail":"Unauthorized"}'
    )

    with pytest.raises(
        SnapshotRejected, match=r"HTTP 401 for Toronto \(4118\): Unauthorized"
    ):
        normalise_trends.fn(archived(body, status=401), None)


@pytest.mark.parametrize(
    ("body", "defect"),
    [
        (b"<html>busy</html>", "is not JSON"),
        (b'{"errors": [{"message": "x"}]}', "has no 'data' list"),
        (b'[{"trend_name": "a"}]', "has no 'data' list"),
        (
            b'{"data": [{"name": "a"}]}',
            "Trend 1 of Toronto \\(4118\\) has no text trend_name",
        ),
        (b'{"data": [{"trend_name": ""}]}', "has no text trend_name"),
        (b'{"data": [{"trend_name": "a", "tweet_count": "12"}]}', "tweet_count '12'"),
        (b'{"data": [{"trend_name": "a", "tweet_count": -1}]}', "tweet_count -1"),
        (b'{"data": [{"trend_name": "a", "tweet_count": true}]}', "tweet_count True"),
    ],
)
def test_malformed_bodies_are_rejected_naming_the_defect(
    body: bytes, defect: str
) -> None:
    with pytest.raises(SnapshotRejected, match=defect):
        parse_v2_body(body, "Toronto (4118)")


def test_a_repeated_name_keeps_its_best_rank_and_order() -> None:
    trends = pl.DataFrame(
        {
            "woeid": [1, 1, 1, 1],
            "as_of": [AS_OF] * 4,
            "rank": [1, 2, 3, 4],
            "name": ["a", "b", "a", "c"],
        }
    )

    assert keep_best_rank(trends).select("name", "rank").rows() == [
        ("a", 1),
        ("b", 2),
        ("c", 4),
    ]
