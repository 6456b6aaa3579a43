"""Write the report's charts to PNG files and one HTML page, and publish them."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import polars as pl
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from tasks.charts import bump_chart, heatmap_chart, render_png, spread_chart
from tasks.locations import Location
from tasks.report_data import ReportWindow

REPORT_KEY = "trends-report"
PAGE_NAME = "index.html"


@dataclass(frozen=True)
class ChartImage:
    """One rendered chart: what it shows, the stable artifact key, and its PNG."""

    title: str
    key: str
    path: Path
    png: bytes


@dataclass(frozen=True)
class ChartPlan:
    """A chart to draw: title, artifact key, file name; no chart when no data."""

    title: str
    key: str
    file_name: str
    chart: alt.TopLevelMixin | None


@task(name="write-report", cache_policy=NO_CACHE)
def write_report(
    bumps: dict[Location, pl.DataFrame],
    heatmap: pl.DataFrame,
    spread: pl.DataFrame,
    window: ReportWindow,
    out: Path,
) -> tuple[list[ChartImage], Path]:
    """Render every chart that has data to a PNG in out, then the page holding them.

    Returns:
        The images written and the path of the HTML page.
    """
    logger = get_run_logger()
    logger.info("Rendering the trends report into %s", out)
    out.mkdir(parents=True, exist_ok=True)

    plans = plan_charts(bumps, heatmap, spread)
    images = []
    for plan in plans:
        if plan.chart is None:
            logger.warning("No trends to chart for %r in this window", plan.title)
            continue
        image = ChartImage(
            plan.title, plan.key, out / plan.file_name, render_png(plan.chart)
        )
        image.path.write_bytes(image.png)
        images.append(image)
    empty = [plan.title for plan in plans if plan.chart is None]
    page = out / PAGE_NAME
    page.write_text(report_html(images, empty, window), encoding="utf-8")

    logger.info("Wrote %d charts and %s; %d had no data", len(images), page, len(empty))
    return images, page


def plan_charts(
    bumps: dict[Location, pl.DataFrame], heatmap: pl.DataFrame, spread: pl.DataFrame
) -> list[ChartPlan]:
    """One bump chart per location, then the heatmap and the spread chart."""
    plans = [
        ChartPlan(
            f"Rank over time in {place.name}",
            f"{REPORT_KEY}-bump-{place.woeid}",
            f"bump-{place.woeid}.png",
            bump_chart(frame, place.name) if frame.height else None,
        )
        for place, frame in bumps.items()
    ]
    plans.append(
        ChartPlan(
            "Days on the list by location",
            f"{REPORT_KEY}-heatmap",
            "heatmap.png",
            heatmap_chart(heatmap) if heatmap.height else None,
        )
    )
    plans.append(
        ChartPlan(
            "Spread across the cities",
            f"{REPORT_KEY}-spread",
            "spread.png",
            spread_chart(spread) if spread.height else None,
        )
    )
    return plans


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report(
    images: Sequence[ChartImage], page: Path, window: ReportWindow
) -> None:
    """Publish each chart as a markdown artifact with the image inside, and an index."""
    logger = get_run_logger()
    logger.info("Publishing %d charts as Prefect artifacts", len(images))

    for image in images:
        create_markdown_artifact(
            markdown=f"## {image.title}\n\n![{image.title}]({data_uri(image.png)})\n",
            key=image.key,
            description=f"{image.title}, {_period(window)}",
        )
    lines = [f"# Trends report, {_period(window)}", "", f"Page: `{page.resolve()}`", ""]
    lines += [f"- {image.title}: `{image.path.resolve()}`" for image in images]
    create_markdown_artifact(
        markdown="\n".join(lines) + "\n",
        key=REPORT_KEY,
        description=f"Trends report, {_period(window)}",
    )

    logger.info(
        "Published %d chart artifacts and the index %s", len(images), REPORT_KEY
    )


def report_html(
    images: Sequence[ChartImage], empty: Sequence[str], window: ReportWindow
) -> str:
    """A self-contained page: every chart inline, so it can be mailed or moved."""
    title = html.escape(f"Trends report, {_period(window)}")
    sections = [
        f"<section><h2>{html.escape(image.title)}</h2>"
        f'<img src="{data_uri(image.png)}" alt="{html.escape(image.title)}" '
        'style="max-width:100%"></section>'
        for image in images
    ]
    sections += [
        f"<section><h2>{html.escape(name)}</h2><p>No trends in this window.</p>"
        "</section>"
        for name in empty
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n"
        f'<body style="font-family:sans-serif"><h1>{title}</h1>\n'
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


def data_uri(png: bytes) -> str:
    """A PNG as a data: URI, which both the page and the Prefect UI display."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _period(window: ReportWindow) -> str:
    return f"{window.first_day.isoformat()} to {window.last_day.isoformat()} (UTC)"
