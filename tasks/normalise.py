"""Turn one archived trends response into typed rows, one per trend."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.archive import ArchivedResponse

MAX_TRENDS = 50
# A btree index entry holds at most about 2,700 bytes; the key (woeid, name, as_of)
# needs room for the other columns and headers, so names stop well short of it.
MAX_NAME_BYTES = 2_000
MAX_TWEET_VOLUME = 2**63 - 1
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
EXCERPT_CHARS = 80

TREND_SCHEMA = pl.Schema(
    {
        "woeid": pl.Int64(),
        "as_of": pl.Datetime("us", "UTC"),
        "rank": pl.Int16(),
        "name": pl.String(),
        "tweet_volume": pl.Int64(),
        "promoted": pl.Boolean(),
        "promoted_content": pl.String(),
        "url": pl.String(),
        "query": pl.String(),
        "api_version": pl.String(),
        "raw_object_key": pl.String(),
        "fetched_at": pl.Datetime("us", "UTC"),
        "flow_run_id": pl.String(),
        "is_sample": pl.Boolean(),
    }
)


class SnapshotRejected(ValueError):
    """A response that cannot be turned into a trend snapshot; none of it loads."""


@dataclass(frozen=True)
class Trend:
    """One entry of a trend list, in the API's own terms."""

    name: str
    tweet_volume: int | None = None
    promoted_content: Any = None
    url: str | None = None
    query: str | None = None


@dataclass(frozen=True)
class TrendList:
    """The parsed body of a trends response.

    v1.1 bodies say when the list was computed and for which place; v2 bodies say
    neither, so those fields are None for them.
    """

    trends: list[Trend]
    as_of: datetime | None = None
    woeid: int | None = None
    location_name: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """The trends of one location at one as_of, ready to load."""

    archived: ArchivedResponse
    trends: pl.DataFrame
    received: int
    as_of: datetime

    @property
    def woeid(self) -> int:
        return self.archived.response.location.woeid


@task(name="normalise-trends", cache_policy=NO_CACHE)
def normalise_trends(archived: ArchivedResponse, flow_run_id: str | None) -> Snapshot:
    """Validate an archived response and return its trends as typed rows.

    The snapshot time is the body's own ``as_of`` for v1.1 and the requested one
    for v2, which carries no time.

    Raises:
        SnapshotRejected: when the status or body is not a trend list, naming the
            location and the defect.
    """
    response = archived.response
    where = f"{response.location.name} ({response.location.woeid})"
    if response.status_code != 200:
        raise SnapshotRejected(
            f"The X API answered HTTP {response.status_code} for {where}: "
            f"{_problem_summary(response.body)}. The raw body is archived at "
            f"{archived.body_key}."
        )

    parse = parse_v1_body if response.api_version == "1.1" else parse_v2_body
    parsed = parse(response.body, where)
    as_of = parsed.as_of or response.as_of
    count = len(parsed.trends)
    validate_trends(parsed.trends, where)
    trends = pl.DataFrame(
        {
            "woeid": [response.location.woeid] * count,
            "as_of": [as_of] * count,
            "rank": list(range(1, count + 1)),
            "name": [trend.name for trend in parsed.trends],
            "tweet_volume": [trend.tweet_volume for trend in parsed.trends],
            "promoted": [trend.promoted_content is not None for trend in parsed.trends],
            "promoted_content": [
                None
                if trend.promoted_content is None
                else json.dumps(trend.promoted_content)
                for trend in parsed.trends
            ],
            "url": [trend.url for trend in parsed.trends],
            "query": [trend.query for trend in parsed.trends],
            "api_version": [response.api_version] * count,
            "raw_object_key": [archived.body_key] * count,
            "fetched_at": [response.fetched_at] * count,
            "flow_run_id": [flow_run_id] * count,
            "is_sample": [response.is_sample] * count,
        },
        schema=TREND_SCHEMA,
    )
    return Snapshot(
        archived=archived, trends=keep_best_rank(trends), received=count, as_of=as_of
    )


def parse_v2_body(body: bytes, where: str) -> TrendList:
    """Parse a v2 ``/2/trends/by/woeid`` body: ``{"data": [{"trend_name", ...}]}``.

    Raises:
        SnapshotRejected: when the body is not JSON, has no data list, lists more
            than 50 trends, or an item lacks a text trend_name or has a tweet_count
            that is not a whole number.
    """
    document = _json(body, where)
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise SnapshotRejected(
            f"The response for {where} has no 'data' list of trends; its top-level "
            f"keys are {sorted(document) if isinstance(document, dict) else []}."
        )
    items = _checked_items(document["data"], where)
    trends = [
        Trend(
            name=_text(item, "trend_name", position, where),
            tweet_volume=_volume(item, "tweet_count", position, where),
        )
        for position, item in enumerate(items, start=1)
    ]
    return TrendList(trends=trends)


def parse_v1_body(body: bytes, where: str) -> TrendList:
    """Parse a v1.1 ``trends/place`` body: a one-element list holding the trends,
    their ``as_of`` and the location.

    Raises:
        SnapshotRejected: when the body is not that shape, ``as_of`` is not an
            ISO 8601 time, or a trend lacks a text name or has a bad tweet_volume.
    """
    document = _json(body, where)
    if (
        not isinstance(document, list)
        or len(document) != 1
        or not isinstance(document[0], dict)
        or not isinstance(document[0].get("trends"), list)
    ):
        raise SnapshotRejected(
            f"The v1.1 response for {where} is not a one-element list holding "
            f"'trends'; it starts with {body[:60]!r}."
        )
    place = document[0]
    items = _checked_items(place["trends"], where)
    trends = [
        Trend(
            name=_text(item, "name", position, where),
            tweet_volume=_volume(item, "tweet_volume", position, where),
            promoted_content=item.get("promoted_content"),
            url=item.get("url"),
            query=item.get("query"),
        )
        for position, item in enumerate(items, start=1)
    ]
    location = (place.get("locations") or [{}])[0]
    return TrendList(
        trends=trends,
        as_of=_timestamp(place.get("as_of"), where),
        woeid=location.get("woeid") if isinstance(location, dict) else None,
        location_name=location.get("name") if isinstance(location, dict) else None,
    )


def validate_trends(trends: Sequence[Trend], where: str) -> None:
    """Check that every name and tweet volume of a parsed snapshot can be stored.

    This is the one place that decides whether a well-formed trend list is
    loadable: each name is stored byte for byte or the whole snapshot is refused,
    never altered, so one hostile list cannot stop the other locations' loads.

    Raises:
        SnapshotRejected: for the first trend that breaks a rule, naming the
            location, the trend's position and the rule.
    """
    for position, trend in enumerate(trends, start=1):
        which = f"Trend {position} of {where}"
        _check_name(trend.name, which)
        if trend.tweet_volume is not None and trend.tweet_volume > MAX_TWEET_VOLUME:
            raise SnapshotRejected(
                f"{which} has tweet_count {excerpt(trend.tweet_volume)}, more than "
                f"PostgreSQL bigint holds ({MAX_TWEET_VOLUME:,})."
            )


def _check_name(name: str, trend: str) -> None:
    nul = name.find("\x00")
    if nul >= 0:
        raise SnapshotRejected(
            f"{trend} contains a NUL byte at character {nul + 1}, "
            f"which PostgreSQL text cannot hold: {excerpt(name)}."
        )
    surrogate = LONE_SURROGATE.search(name)
    if surrogate:
        raise SnapshotRejected(
            f"{trend} contains the lone surrogate U+{ord(surrogate[0]):04X} at "
            f"character {surrogate.start() + 1}, which is not a Unicode character "
            f"and has no UTF-8 form: {excerpt(name)}."
        )
    size = len(name.encode())
    if size > MAX_NAME_BYTES:
        raise SnapshotRejected(
            f"{trend} is {len(name):,} characters ({size:,} UTF-8 bytes) long; names "
            f"over {MAX_NAME_BYTES:,} bytes do not fit the key of trend_observations: "
            f"{excerpt(name)}."
        )


def excerpt(value: object) -> str:
    """The repr of a value, shortened so that a hostile one cannot flood a message."""
    text = repr(value)
    if len(text) <= EXCERPT_CHARS:
        return text
    return f"{text[:EXCERPT_CHARS]}... ({len(text) - EXCERPT_CHARS:,} more characters)"


def keep_best_rank(trends: pl.DataFrame) -> pl.DataFrame:
    """Drop repeated names within a snapshot, keeping each name's best rank."""
    return trends.sort("rank").unique(
        subset=["woeid", "name", "as_of"], keep="first", maintain_order=True
    )


def _json(body: bytes, where: str) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SnapshotRejected(
            f"The response for {where} is not JSON ({error}); it starts with "
            f"{body[:60]!r}."
        ) from error
    except RecursionError as error:
        raise SnapshotRejected(
            f"The response for {where} nests its JSON too deeply to read; it starts "
            f"with {body[:60]!r}."
        ) from error


def _checked_items(items: list[Any], where: str) -> list[dict[str, Any]]:
    if len(items) > MAX_TRENDS:
        raise SnapshotRejected(
            f"The response for {where} lists {len(items)} trends; a trend list holds "
            f"at most {MAX_TRENDS}, so the body is not one."
        )
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise SnapshotRejected(
                f"Trend {position} of {where} is not an object: {excerpt(item)}."
            )
    return items


def _text(item: dict[str, Any], field: str, position: int, where: str) -> str:
    name = item.get(field)
    if not isinstance(name, str) or not name:
        raise SnapshotRejected(
            f"Trend {position} of {where} has no text {field}: {excerpt(item)}."
        )
    return name


def _volume(item: dict[str, Any], field: str, position: int, where: str) -> int | None:
    volume = item.get(field)
    if volume is not None and (type(volume) is not int or volume < 0):
        raise SnapshotRejected(
            f"Trend {position} ({excerpt(item.get('name') or item.get('trend_name'))})"
            f" of {where} has {field} {excerpt(volume)}; expected a whole number of "
            "zero or more, or none."
        )
    return volume


def _timestamp(value: Any, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise SnapshotRejected(
            f"The v1.1 response for {where} has as_of {value!r}; expected an ISO 8601 "
            "time such as 2019-04-19T08:43:43Z."
        ) from None
    if moment.tzinfo is None:
        raise SnapshotRejected(
            f"The v1.1 response for {where} has as_of {value!r} without a time zone."
        )
    return moment


def _problem_summary(body: bytes) -> str:
    try:
        problem = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return f"a body that is not JSON, starting {body[:60]!r}"
    if isinstance(problem, dict):
        title = problem.get("title") or problem.get("errors")
        detail = problem.get("detail")
        return f"{title}: {detail}" if detail else str(title)
    return repr(problem)[:120]
