"""The data behind each chart of the trends report, read from the analysis views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
import psycopg

TOP_TRENDS_PER_BUMP = 10
TRENDS_PER_HEATMAP = 25
TRENDS_PER_SPREAD = 15

BUMP_SCHEMA = pl.Schema(
    {
        "day": pl.Date(),
        "woeid": pl.Int64(),
        "location": pl.String(),
        "name": pl.String(),
        "best_rank": pl.Int16(),
    }
)
HEATMAP_SCHEMA = pl.Schema(
    {"location": pl.String(), "name": pl.String(), "days_on_list": pl.Int64()}
)
SPREAD_SCHEMA = pl.Schema(
    {
        "name": pl.String(),
        "city": pl.String(),
        "origin_city": pl.String(),
        "arrival_order": pl.Int64(),
        "lag_hours": pl.Float64(),
        "cities_reached": pl.Int64(),
    }
)


@dataclass(frozen=True)
class ReportWindow:
    """The UTC days and locations a report covers, both ends included."""

    first_day: date
    last_day: date
    woeids: tuple[int, ...]


def bump_data(
    connection: psycopg.Connection[Any], window: ReportWindow, woeid: int
) -> pl.DataFrame:
    """Daily best rank of a location's top trends: those most often in its top ten.

    Every day a chosen trend was listed gives one row, whatever its rank that day.
    """
    rows = connection.execute(
        """
        WITH in_window AS (
            SELECT * FROM daily_top_trends
            WHERE woeid = %(woeid)s AND day BETWEEN %(first)s AND %(last)s
        ), chosen AS (
            SELECT name FROM in_window
            GROUP BY name
            ORDER BY count(*) FILTER (WHERE best_rank <= 10) DESC, min(best_rank),
                name
            LIMIT %(top)s
        )
        SELECT day, woeid, location, name, best_rank
        FROM in_window JOIN chosen USING (name)
        ORDER BY day, best_rank
        """,
        {**_window_params(window), "woeid": woeid, "top": TOP_TRENDS_PER_BUMP},
    ).fetchall()
    return pl.DataFrame(rows, schema=BUMP_SCHEMA, orient="row")


def heatmap_data(
    connection: psycopg.Connection[Any], window: ReportWindow
) -> pl.DataFrame:
    """Days on the list per location for the trends listed on the most location-days."""
    rows = connection.execute(
        """
        WITH in_window AS (
            SELECT location, name, count(*) AS days_on_list
            FROM daily_top_trends
            WHERE woeid = ANY(%(woeids)s) AND day BETWEEN %(first)s AND %(last)s
            GROUP BY location, name
        ), chosen AS (
            SELECT name FROM in_window
            GROUP BY name
            ORDER BY sum(days_on_list) DESC, name
            LIMIT %(top)s
        )
        SELECT location, name, days_on_list
        FROM in_window JOIN chosen USING (name)
        ORDER BY location, name
        """,
        {**_window_params(window), "top": TRENDS_PER_HEATMAP},
    ).fetchall()
    return pl.DataFrame(rows, schema=HEATMAP_SCHEMA, orient="row")


def spread_data(
    connection: psycopg.Connection[Any], window: ReportWindow
) -> pl.DataFrame:
    """Hours from each trend's first city to the others, for the most widespread.

    Trends listed in the chosen locations inside the window, and whose first city
    listed them inside the window too, are candidates; the ones that reached most of
    the chosen cities are kept. The origin can be a city that was not chosen.
    """
    rows = connection.execute(
        """
        WITH arrivals AS (
            SELECT * FROM trend_city_arrivals
            -- A list of names lets the view use its name index instead of
            -- computing every trend's arrivals.
            WHERE name = ANY(ARRAY(
                    SELECT DISTINCT name FROM daily_top_trends
                    WHERE woeid = ANY(%(woeids)s)
                      AND day BETWEEN %(first)s AND %(last)s))
              AND woeid = ANY(%(woeids)s)
              AND (arrived_at - lag) >= %(first)s::date::timestamp AT TIME ZONE 'UTC'
              AND (arrived_at - lag)
                  < (%(last)s::date + 1)::timestamp AT TIME ZONE 'UTC'
        ), chosen AS (
            SELECT name, count(*) AS cities_reached FROM arrivals
            GROUP BY name
            HAVING count(*) > 1
            ORDER BY count(*) DESC, min(arrived_at), name
            LIMIT %(top)s
        )
        SELECT name, city, origin_city, arrival_order,
            extract(epoch FROM lag)::float8 / 3600 AS lag_hours,
            chosen.cities_reached
        FROM arrivals JOIN chosen USING (name)
        ORDER BY chosen.cities_reached DESC, name, arrived_at, city
        """,
        {**_window_params(window), "top": TRENDS_PER_SPREAD},
    ).fetchall()
    return pl.DataFrame(rows, schema=SPREAD_SCHEMA, orient="row")


def _window_params(window: ReportWindow) -> dict[str, Any]:
    return {
        "first": window.first_day,
        "last": window.last_day,
        "woeids": list(window.woeids),
    }
