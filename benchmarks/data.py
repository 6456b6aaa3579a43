"""Generated trend snapshots and a generated raw archive, the same on every run."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from tasks.archive import (
    BODY_SUFFIX,
    META_SUFFIX,
    ArchivedResponse,
    LocalArchive,
    _metadata,
    raw_object_stem,
)
from tasks.fetch import RawResponse
from tasks.locations import DEFAULT_WOEIDS, KNOWN_LOCATIONS
from tasks.normalise import TREND_SCHEMA, Snapshot

TRENDS_PER_SNAPSHOT = 50
FIRST_HOUR = datetime(2025, 1, 1, tzinfo=UTC)
# Words from which names are drawn: hashtags, accents and emoji, as on X.
WORDS = (
    "#Leafs",
    "Raptors",
    "#Québec",
    "Canadiens",
    "Snow Day",
    "Ottawa 🍁",
    "#cdnpoli",
    "Oilers",
    "Flames",
    "Jets",
    "Canucks",
    "Sénateurs",
    "TTC",
    "Bombers",
    "#GreyCup",
    "Tim Hortons",
)


def generated_snapshots(rows: int, seed: int = 2026) -> list[Snapshot]:
    """Hourly snapshots of the nine default locations, about rows rows in all."""
    chooser = random.Random(seed)
    count = max(1, rows // TRENDS_PER_SNAPSHOT)
    snapshots = []
    for index in range(count):
        woeid = DEFAULT_WOEIDS[index % len(DEFAULT_WOEIDS)]
        as_of = FIRST_HOUR + timedelta(hours=index // len(DEFAULT_WOEIDS))
        names = trend_names(chooser, TRENDS_PER_SNAPSHOT)
        snapshots.append(snapshot(woeid, as_of, names, chooser))
    return snapshots


def trend_names(chooser: random.Random, count: int) -> list[str]:
    """count distinct names, each two words and a number."""
    names: dict[str, None] = {}
    while len(names) < count:
        first, second = chooser.sample(WORDS, 2)
        names[f"{first} {second} {chooser.randrange(10_000)}"] = None
    return list(names)


def snapshot(
    woeid: int, as_of: datetime, names: list[str], chooser: random.Random
) -> Snapshot:
    """A snapshot as normalise_trends would make it, without a response body."""
    fetched_at = as_of + timedelta(minutes=2)
    response = RawResponse(
        location=KNOWN_LOCATIONS[woeid],
        api_version="2",
        request_url=f"https://api.x.com/2/trends/by/woeid/{woeid}?max_trends=50",
        status_code=200,
        body=b"",
        fetched_at=fetched_at,
        as_of=as_of,
    )
    key = f"{raw_object_stem(response)}{BODY_SUFFIX}"
    height = len(names)
    trends = pl.DataFrame(
        {
            "woeid": [woeid] * height,
            "as_of": [as_of] * height,
            "rank": list(range(1, height + 1)),
            "name": names,
            "tweet_volume": [
                chooser.choice((None, chooser.randrange(10_000, 900_000)))
                for _ in names
            ],
            "promoted": [False] * height,
            "promoted_content": [None] * height,
            "url": [None] * height,
            "query": [None] * height,
            "api_version": ["2"] * height,
            "raw_object_key": [key] * height,
            "fetched_at": [fetched_at] * height,
            "flow_run_id": ["0b7f3c3e-5a61-4c4e-9d1e-2f0a6b7c8d9e"] * height,
            "is_sample": [False] * height,
        },
        schema=TREND_SCHEMA,
    )
    archived = ArchivedResponse(response, key, key.replace(BODY_SUFFIX, META_SUFFIX))
    return Snapshot(archived=archived, trends=trends, received=height, as_of=as_of)


def write_archive_year(root: Path, days: int = 365, seed: int = 2026) -> int:
    """Write days of daily v2 responses for the nine locations, as runs store them.

    Returns:
        The number of responses written, each a body and its metadata object.
    """
    chooser = random.Random(seed)
    archive = LocalArchive(root)
    written = 0
    for response in archive_responses(days, chooser):
        stem = raw_object_stem(response)
        archive.write(stem + BODY_SUFFIX, response.body)
        # The archive's own metadata writer, so the objects match what runs store.
        archive.write(stem + META_SUFFIX, _metadata(response, stem + BODY_SUFFIX))
        written += 1
    return written


def archive_responses(days: int, chooser: random.Random) -> Iterator[RawResponse]:
    """One response a day per location, fetched at 16:00 UTC."""
    for day in range(days):
        as_of = FIRST_HOUR + timedelta(days=day, hours=16)
        for woeid in DEFAULT_WOEIDS:
            items = [
                {"trend_name": name, "tweet_count": chooser.randrange(10_000, 900_000)}
                for name in trend_names(chooser, TRENDS_PER_SNAPSHOT)
            ]
            yield RawResponse(
                location=KNOWN_LOCATIONS[woeid],
                api_version="2",
                request_url=f"https://api.x.com/2/trends/by/woeid/{woeid}"
                "?max_trends=50",
                status_code=200,
                body=json.dumps({"data": items}, ensure_ascii=False).encode(),
                fetched_at=as_of + timedelta(seconds=chooser.randrange(1, 30)),
                as_of=as_of,
                headers={"content-type": "application/json;charset=utf-8"},
            )
