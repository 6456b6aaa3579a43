"""The analysis views on a small hand-built set of trend observations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from tasks.locations import KNOWN_LOCATIONS

DAY_1 = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
DAY_2 = DAY_1 + timedelta(days=1)
DAY_3 = DAY_1 + timedelta(days=2)
CANADA, TORONTO, MONTREAL, OTTAWA = 23424775, 4118, 3534, 3369

Observation = tuple[int, datetime, int, str, int | None]


def insert(
    database_url: str, observations: list[Observation], is_sample: bool = False
) -> None:
    """Insert (woeid, as_of, rank, name, tweet_volume) rows with their locations."""
    with psycopg.connect(database_url) as connection:
        for woeid in {row[0] for row in observations}:
            location = KNOWN_LOCATIONS[woeid]
            connection.execute(
                "INSERT INTO locations (woeid, name, kind, country_code)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (woeid, location.name, location.kind, location.country_code),
            )
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO trend_observations (woeid, as_of, rank, name,"
                " tweet_volume, promoted, api_version, raw_object_key, fetched_at,"
                " is_sample) VALUES (%s, %s, %s, %s, %s, false, '2', 'hand-built',"
                " %s, %s)",
                [(*row, row[1], is_sample) for row in observations],
            )


def query(database_url: str, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(statement).fetchall()


def test_daily_top_trends_keeps_the_best_rank_of_each_utc_day(
    database_url: str,
) -> None:
    insert(
        database_url,
        [
            (TORONTO, DAY_1, 3, "Leafs", None),
            (TORONTO, DAY_1 + timedelta(hours=6), 1, "Leafs", 20_000),
            (TORONTO, DAY_1 + timedelta(hours=10, minutes=59), 2, "Leafs", 15_000),
            (TORONTO, DAY_1 + timedelta(hours=11), 4, "Leafs", None),
            (TORONTO, DAY_1, 1, "#Snow", None),
        ],
    )
    insert(database_url, [(TORONTO, DAY_1, 1, "Sample only", None)], is_sample=True)

    rows = query(
        database_url,
        "SELECT day, location, name, best_rank, snapshots, peak_tweet_volume"
        " FROM daily_top_trends ORDER BY day, best_rank, name",
    )

    assert rows == [
        (date(2026, 11, 2), "Toronto", "#Snow", 1, 1, None),
        (date(2026, 11, 2), "Toronto", "Leafs", 1, 3, 20_000),
        (date(2026, 11, 3), "Toronto", "Leafs", 4, 1, None),
    ]


def test_trend_lifetimes_span_first_to_last_sighting_per_location(
    database_url: str,
) -> None:
    insert(
        database_url,
        [
            (TORONTO, DAY_1, 7, "Leafs", None),
            (TORONTO, DAY_1 + timedelta(hours=3), 5, "Leafs", None),
            (TORONTO, DAY_3, 2, "Leafs", None),
            (MONTREAL, DAY_2, 9, "Leafs", None),
        ],
    )

    rows = query(
        database_url,
        "SELECT location, name, first_seen, last_seen, days_on_list, snapshots,"
        " best_rank FROM trend_lifetimes ORDER BY location",
    )

    assert rows == [
        ("Montreal", "Leafs", DAY_2, DAY_2, 1, 1, 9),
        ("Toronto", "Leafs", DAY_1, DAY_3, 2, 3, 2),
    ]


def test_trend_city_arrivals_start_at_the_first_city_and_skip_the_country(
    database_url: str,
) -> None:
    insert(
        database_url,
        [
            (CANADA, DAY_1 - timedelta(hours=5), 1, "#Budget", None),
            (TORONTO, DAY_1, 6, "#Budget", None),
            (MONTREAL, DAY_1, 2, "#Budget", None),
            (MONTREAL, DAY_2, 1, "#Budget", None),
            (OTTAWA, DAY_2 + timedelta(hours=4), 3, "#Budget", None),
            (OTTAWA, DAY_1, 1, "Elsewhere", None),
        ],
    )
    insert(database_url, [(OTTAWA, DAY_1, 2, "#Budget", None)], is_sample=True)

    rows = query(
        database_url,
        "SELECT name, city, arrived_at, arrival_rank, arrival_order, origin_city,"
        " lag, cities_reached FROM trend_city_arrivals"
        " ORDER BY name, arrival_order, city",
    )

    assert rows == [
        ("#Budget", "Montreal", DAY_1, 2, 1, "Montreal", timedelta(0), 3),
        ("#Budget", "Toronto", DAY_1, 6, 1, "Montreal", timedelta(0), 3),
        ("#Budget", "Ottawa", DAY_2 + timedelta(hours=4), 3, 2, "Montreal",
         timedelta(days=1, hours=4), 3),
        ("Elsewhere", "Ottawa", DAY_1, 1, 1, "Ottawa", timedelta(0), 1),
    ]  # fmt: skip


def test_trend_kind_share_counts_distinct_hashtags_and_phrases_per_day(
    database_url: str,
) -> None:
    insert(
        database_url,
        [
            (OTTAWA, DAY_1, 1, "#Budget", None),
            (OTTAWA, DAY_1 + timedelta(hours=1), 2, "#Budget", None),
            (OTTAWA, DAY_1, 2, "Parliament Hill", None),
            (OTTAWA, DAY_1, 3, "Snow day", None),
            (OTTAWA, DAY_2, 1, "#Sens", None),
        ],
    )

    rows = query(
        database_url,
        "SELECT day, location, trends, hashtags, phrases, hashtag_share"
        " FROM trend_kind_share ORDER BY day",
    )

    assert rows == [
        (date(2026, 11, 2), "Ottawa", 3, 1, 2, Decimal("0.3333")),
        (date(2026, 11, 3), "Ottawa", 1, 1, 0, Decimal("1.0000")),
    ]


@pytest.mark.parametrize(
    "view",
    ["daily_top_trends", "trend_lifetimes", "trend_city_arrivals", "trend_kind_share"],
)
def test_every_view_is_documented_in_the_database(database_url: str, view: str) -> None:
    [(comment,)] = query(
        database_url, f"SELECT obj_description('{view}'::regclass, 'pg_class')"
    )

    assert comment
