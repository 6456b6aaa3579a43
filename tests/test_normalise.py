"""Normalising v2 bodies into typed trend rows."""

from __future__ import annotations

import json
from dataclasses import replace
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
    parse_v1_body,
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


def v1_body(**overrides: object) -> bytes:
    place = {
        "trends": [
            {
                "name": "#GreyCup",
                "url": "http://twitter.com/search?q=%23GreyCup",
                "promoted_content": None,
                "query": "%23GreyCup",
                "tweet_volume": 48211,
            },
            {
                "name": "Argos",
                "url": "http://twitter.com/search?q=Argos",
                "promoted_content": None,
                "query": "Argos",
                "tweet_volume": None,
            },
        ],
        "as_of": "2024-11-17T23:10:05Z",
        "created_at": "2024-11-17T19:02:11Z",
        "locations": [{"name": "Toronto", "woeid": 4118}],
        **overrides,
    }
    # Real v1.1 bodies escape every slash.
    return json.dumps([place]).replace("/", "\\/").encode()


def test_a_v1_body_keeps_its_own_as_of_url_query_and_promoted_value() -> None:
    entry = archived(v1_body())
    entry = ArchivedResponse(
        replace(entry.response, api_version="1.1"), entry.body_key, entry.meta_key
    )

    snapshot = normalise_trends.fn(entry, None)

    assert snapshot.as_of == datetime(2024, 11, 17, 23, 10, 5, tzinfo=UTC)
    assert snapshot.trends.select(
        "rank", "name", "tweet_volume", "url", "query", "promoted", "promoted_content"
    ).rows() == [
        (
            1,
            "#GreyCup",
            48211,
            "http://twitter.com/search?q=%23GreyCup",
            "%23GreyCup",
            False,
            None,
        ),
        (2, "Argos", None, "http://twitter.com/search?q=Argos", "Argos", False, None),
    ]


def test_a_v1_promoted_mark_is_kept_as_it_came() -> None:
    mark = {"metadata": {"campaign": 7}}
    body = json.loads(v1_body())
    body[0]["trends"][0]["promoted_content"] = mark

    parsed = parse_v1_body(json.dumps(body).encode(), "Toronto (4118)")

    assert parsed.trends[0].promoted_content == mark
    assert (parsed.woeid, parsed.location_name) == (4118, "Toronto")


@pytest.mark.parametrize(
    ("body", "defect"),
    [
        (b'{"trends": []}', "not a one-element list"),
        (b"[]", "not a one-element list"),
        (v1_body(as_of="yesterday"), "as_of 'yesterday'"),
        (v1_body(as_of="2024-11-17T23:10:05"), "without a time zone"),
        (b'{"errors":[{"code":34,"message":"Sorry"}]}', "not a one-element list"),
    ],
)
def test_malformed_v1_bodies_are_rejected_naming_the_defect(
    body: bytes, defect: str
) -> None:
    with pytest.raises(SnapshotRejected, match=defect):
        parse_v1_body(body, "Toronto (4118)")


def test_more_than_fifty_trends_is_not_a_trend_list() -> None:
    body = json.dumps({"data": [{"trend_name": f"t{i}"} for i in range(51)]})

    with pytest.raises(
        SnapshotRejected, match="lists 51 trends; a trend list holds at most 50"
    ):
        parse_v2_body(body.encode(), "Toronto (4118)")
