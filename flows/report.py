"""The trends report: charts rendered from the database into PNGs and one HTML page.

Run it with ``python -m flows.report``; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.cli import add_locations_option
from flows.settings import TrendsSettings
from tasks.database import connect, embedded_database_url, migrate
from tasks.locations import DEFAULT_WOEIDS, Location, resolve_locations
from tasks.report_data import ReportWindow, bump_data, heatmap_data, spread_data
from tasks.report_page import ChartImage, publish_report, write_report


@dataclass(frozen=True)
class ChartData:
    """The rows behind every chart of one report."""

    window: ReportWindow
    bumps: dict[Location, pl.DataFrame] = field(default_factory=dict)
    heatmap: pl.DataFrame = field(default_factory=pl.DataFrame)
    spread: pl.DataFrame = field(default_factory=pl.DataFrame)


@dataclass(frozen=True)
class Report:
    """What a report run wrote: the data of each chart, its images and its page."""

    data: ChartData
    images: list[ChartImage]
    page: Path


@flow(name="trends-report")
def trends_report(
    days: int = 30,
    # Prefect shows this default in the run form; the flow never mutates it.
    locations: list[int] = list(DEFAULT_WOEIDS),  # noqa: B006
    out: Path = Path("reports"),
    until: date | None = None,
) -> Report:
    """Chart the last days of trends from the database and publish the charts.

    Args:
        days: How many UTC days the report covers, ending with until.
        locations: WOEIDs to chart; Canada and its eight trend cities by default.
        out: Folder for the PNG files and the HTML page.
        until: Last UTC day of the report; today by default.
    """
    if days < 1:
        raise ValueError(f"days must be 1 or more; got {days}.")
    settings = TrendsSettings()
    places = resolve_locations(locations)
    last_day = until or datetime.now(UTC).date()
    window = ReportWindow(
        first_day=last_day - timedelta(days=days - 1),
        last_day=last_day,
        woeids=tuple(place.woeid for place in places),
    )
    database_url = settings.database_url or embedded_database_url(settings.data_dir)
    migrate(database_url)

    data = collect_chart_data(database_url, window, places)
    images, page = write_report(data.bumps, data.heatmap, data.spread, window, out)
    publish_report(images, page, window)
    return Report(data=data, images=images, page=page)


@task(name="collect-chart-data", cache_policy=NO_CACHE)
def collect_chart_data(
    database_url: str, window: ReportWindow, places: list[Location]
) -> ChartData:
    """Query the analysis views for the rows behind each chart."""
    logger = get_run_logger()
    logger.info(
        "Reading chart data of %d locations from %s to %s",
        len(places),
        window.first_day,
        window.last_day,
    )

    with connect(database_url) as connection:
        data = ChartData(
            window=window,
            bumps={
                place: bump_data(connection, window, place.woeid) for place in places
            },
            heatmap=heatmap_data(connection, window),
            spread=spread_data(connection, window),
        )

    logger.info(
        "Read %d bump, %d heatmap and %d spread rows",
        sum(frame.height for frame in data.bumps.values()),
        data.heatmap.height,
        data.spread.height,
    )
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """Render the report once from the command line and print where it went."""
    args = _parse_args(argv)
    state = trends_report(
        days=args.days,
        locations=args.locations,
        out=args.out,
        until=args.until,
        return_state=True,
    )
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        print(f"The report failed: {result}", file=sys.stderr)
        return 1
    for image in result.images:
        print(image.path)
    print(result.page)
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.report",
        description="Chart the trends in the database into PNGs and an HTML page.",
    )
    parser.add_argument(
        "--days", type=int, default=30, help="UTC days to cover (default: 30)"
    )
    add_locations_option(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("reports"),
        help="folder for the PNGs and the HTML page (default: reports)",
    )
    parser.add_argument(
        "--until",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="last UTC day of the report (default: today)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
