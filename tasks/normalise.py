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

MAX_TRENDS_PER_SNAPSHOT = 50
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
class Snapshot:
    """The trends of one location at one as_of, ready to load."""

    archived: ArchivedResponse
    trends: pl.DataFrame
    received: int

    @property
    def woeid(self) -> int:
        return self.archived.response.location.woeid

    @property
    def as_of(self) -> datetime:
        return self.archived.response.as_of


@task(name="normalise-trends", cache_policy=NO_CACHE)
def normalise_trends(archived: ArchivedResponse, flow_run_id: str | None) -> Snapshot:
    """Validate an archived v2 response and return its trends as typed rows.

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

    items = parse_v2_body(response.body, where)
    validate_trends([(i["trend_name"], i.get("tweet_count")) for i in items], where)
    trends = pl.DataFrame(
        {
            "woeid": [response.location.woeid] * len(items),
            "as_of": [response.as_of] * len(items),
            "rank": list(range(1, len(items) + 1)),
            "name": [item["trend_name"] for item in items],
            "tweet_volume": [item.get("tweet_count") for item in items],
            "promoted": [False] * len(items),
            "promoted_content": [None] * len(items),
            "api_version": [response.api_version] * len(items),
            "raw_object_key": [archived.body_key] * len(items),
            "fetched_at": [response.fetched_at] * len(items),
            "flow_run_id": [flow_run_id] * len(items),
            "is_sample": [response.is_sample] * len(items),
        },
        schema=TREND_SCHEMA,
    )
    return Snapshot(
        archived=archived, trends=keep_best_rank(trends), received=len(items)
    )


def parse_v2_body(body: bytes, where: str) -> list[dict[str, Any]]:
    """Return the trend items of a v2 body after checking their shape.

    Raises:
        SnapshotRejected: when the body is not JSON, has no data list, or an item
            lacks a text trend_name or has a tweet_count that is not a whole number.
    """
    try:
        document = json.loads(body)
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
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise SnapshotRejected(
            f"The response for {where} has no 'data' list of trends; its top-level "
            f"keys are {sorted(document) if isinstance(document, dict) else []}."
        )

    items: list[dict[str, Any]] = document["data"]
    for position, item in enumerate(items, start=1):
        name = item.get("trend_name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise SnapshotRejected(
                f"Trend {position} of {where} has no text trend_name: {excerpt(item)}."
            )
        volume = item.get("tweet_count")
        if volume is not None and (type(volume) is not int or volume < 0):
            raise SnapshotRejected(
                f"Trend {position} ({excerpt(name)}) of {where} has tweet_count "
                f"{excerpt(volume)}; expected a whole number of zero or more, or none."
            )
    return items


def validate_trends(trends: Sequence[tuple[str, int | None]], where: str) -> None:
    """Check that every (name, tweet volume) of a parsed snapshot can be stored.

    This is the one place that decides whether a well-formed trend list is
    loadable: each name is stored byte for byte or the whole snapshot is refused,
    never altered, so one hostile list cannot stop the other locations' loads.

    Raises:
        SnapshotRejected: for the first trend that breaks a rule, naming the
            location, the trend's position and the rule.
    """
    if len(trends) > MAX_TRENDS_PER_SNAPSHOT:
        raise SnapshotRejected(
            f"The response for {where} lists {len(trends)} trends; a trend list holds "
            f"at most {MAX_TRENDS_PER_SNAPSHOT}, so ranks past that cannot be stored."
        )
    for position, (name, volume) in enumerate(trends, start=1):
        trend = f"Trend {position} of {where}"
        _check_name(name, trend)
        if volume is not None and volume > MAX_TWEET_VOLUME:
            raise SnapshotRejected(
                f"{trend} has tweet_count {excerpt(volume)}, more than PostgreSQL "
                f"bigint holds ({MAX_TWEET_VOLUME:,})."
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
