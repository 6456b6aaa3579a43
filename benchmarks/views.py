"""Time the analysis views and the report queries on a year of synthetic trends.

Creates a scratch database on the server TRENDS_DATABASE_URL points at (or an
embedded one when it is unset), fills it with 9 locations x 365 days x 50 trends, and
prints EXPLAIN ANALYZE times:

    TRENDS_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m benchmarks.views [--keep]

With --keep the database stays, so the report can be rendered from it.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import polars as pl
import psycopg

from benchmarks.database import benchmark_database, benchmark_server
from tasks.locations import CANADA, CANADIAN_CITIES
from tasks.report_data import ReportWindow, bump_data, heatmap_data, spread_data

LOCATIONS = (CANADA, *CANADIAN_CITIES)
DAYS = 365
TRENDS_PER_LIST = 50
LAST_DAY = date(2026, 11, 30)
QUERIES = {
    "one day's top ten everywhere": (
        "SELECT * FROM daily_top_trends WHERE day = '2026-11-15' AND best_rank <= 10"
    ),
    "a month of one location": (
        "SELECT * FROM daily_top_trends WHERE woeid = 4118"
        " AND day BETWEEN '2026-11-01' AND '2026-11-30'"
    ),
    "lifetimes of one trend": "SELECT * FROM trend_lifetimes WHERE name = '#Topic42'",
    "longest-lived trends, whole year": (
        "SELECT * FROM trend_lifetimes ORDER BY days_on_list DESC LIMIT 20"
    ),
    "arrivals of one trend": (
        "SELECT * FROM trend_city_arrivals WHERE name = '#Topic42'"
    ),
    "slowest spreads, whole year": (
        "SELECT * FROM trend_city_arrivals ORDER BY lag DESC LIMIT 20"
    ),
    "hashtag share, one month": (
        "SELECT * FROM trend_kind_share WHERE day BETWEEN '2026-11-01' AND '2026-11-30'"
    ),
    "hashtag share, whole year": (
        "SELECT location, avg(hashtag_share) FROM trend_kind_share GROUP BY location"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    with (
        benchmark_server() as server_url,
        benchmark_database(server_url, keep=args.keep) as url,
    ):
        rows = fill(url)
        print(f"Database {urlsplit(url).path[1:]}: {rows} trend rows")
        explain_views(url)
        time_report_queries(url)


def fill(url: str) -> int:
    """Load a year of synthetic snapshots, one a day per location, then ANALYZE."""
    # benchmark_database has added every known location.
    with psycopg.connect(url) as connection:
        with connection.cursor() as cursor:
            count = 0
            with cursor.copy(
                "COPY trend_observations (woeid, as_of, rank, name, tweet_volume,"
                " promoted, api_version, raw_object_key, fetched_at)"
                " FROM STDIN"
            ) as copy:
                for row in synthetic_rows(random.Random(20261203)):
                    copy.write_row(row)
                    count += 1
        connection.commit()
    # As autovacuum would have done over a year; it lets index-only scans pay off.
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE trend_observations")
        connection.execute("ANALYZE locations")
    return count


def synthetic_rows(rng: random.Random) -> Iterator[tuple[object, ...]]:
    """Topics that live a few days and appear in some cities, some a day late."""
    topics: dict[str, tuple[int, float]] = {}  # name -> (last day, popularity)
    next_topic = 0
    for offset in range(DAYS):
        day = LAST_DAY - timedelta(days=DAYS - 1 - offset)
        topics = {n: t for n, t in topics.items() if t[0] >= offset}
        while len(topics) < 140:
            prefix = "#Topic" if rng.random() < 0.4 else "Topic "
            topics[f"{prefix}{next_topic}"] = (
                offset + int(rng.expovariate(1 / 3)),
                rng.random(),
            )
            next_topic += 1
        as_of = datetime(day.year, day.month, day.day, 13, tzinfo=UTC)
        for place in LOCATIONS:
            scored = sorted(
                ((pop + rng.random() * 0.6, name) for name, (_, pop) in topics.items()),
                reverse=True,
            )[:TRENDS_PER_LIST]
            key = f"v2/woeid={place.woeid}/date={day}/bench.json"
            for rank, (_, name) in enumerate(scored, start=1):
                volume = rng.randrange(10_000, 900_000) if rng.random() < 0.4 else None
                yield (place.woeid, as_of, rank, name, volume, False, "2", key, as_of)


def explain_views(url: str) -> None:
    with psycopg.connect(url) as connection:
        for label, query in QUERIES.items():
            plan = connection.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query}").fetchall()
            text = "\n".join(line for (line,) in plan)
            execution = re.search(r"Execution Time: ([\d.]+) ms", text)
            print(f"{label:38} {execution[1] if execution else '?':>9} ms")


def time_report_queries(url: str) -> None:
    window = ReportWindow(
        LAST_DAY - timedelta(days=29), LAST_DAY, tuple(p.woeid for p in LOCATIONS)
    )
    with psycopg.connect(url) as connection:
        queries: list[tuple[str, Callable[[], pl.DataFrame]]] = [
            (
                "report: bump data, one location",
                lambda: bump_data(connection, window, 4118),
            ),
            ("report: heatmap data, 30 days", lambda: heatmap_data(connection, window)),
            ("report: spread data, 30 days", lambda: spread_data(connection, window)),
        ]
        for label, run in queries:
            start = time.perf_counter()
            rows = run().height
            elapsed = (time.perf_counter() - start) * 1000
            print(f"{label:38} {elapsed:9.1f} ms ({rows} rows)")


if __name__ == "__main__":
    main()
