"""Render the report's charts from their data with altair, to PNG via vl-convert."""

from __future__ import annotations

import altair as alt
import polars as pl
import vl_convert

WIDTH = 640
# Text stays legible at 1; 2 makes sharper files four times the size.
PNG_SCALE = 1.0


def bump_chart(data: pl.DataFrame, location: str) -> alt.LayerChart:
    """Rank over time of a location's top trends; rank 1 at the top."""
    lowest = max(int(data["best_rank"].max() or 1), 10)  # type: ignore[arg-type]
    base = alt.Chart(data, title=f"Top trends of {location}: daily best rank").encode(
        x=alt.X("day:T", title="Day (UTC)", axis=alt.Axis(format="%b %d")),
        y=alt.Y(
            "best_rank:Q",
            title="Rank",
            scale=alt.Scale(reverse=True, domain=[1, lowest], nice=False),
        ),
        color=alt.Color("name:N", title="Trend"),
        tooltip=["day:T", "name:N", "best_rank:Q"],
    )
    layers = base.mark_line() + base.mark_point(filled=True, size=40)
    chart: alt.LayerChart = layers.properties(width=WIDTH, height=320)
    return chart


def heatmap_chart(data: pl.DataFrame) -> alt.LayerChart:
    """Days on the list of each trend (rows) in each location (columns)."""
    order = (
        data.group_by("name")
        .agg(pl.col("days_on_list").sum())
        .sort(["days_on_list", "name"], descending=[True, False])["name"]
        .to_list()
    )
    base = alt.Chart(data, title="Days on the list, by location").encode(
        x=alt.X("location:N", title="Location", axis=alt.Axis(labelAngle=-30)),
        y=alt.Y("name:N", title="Trend", sort=order),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("days_on_list:Q", title="Days", scale=alt.Scale(scheme="blues"))
    )
    labels = base.mark_text(fontSize=10).encode(text="days_on_list:Q")
    chart: alt.LayerChart = (cells + labels).properties(
        width=WIDTH * 0.75, height=alt.Step(16)
    )
    return chart


def spread_chart(data: pl.DataFrame) -> alt.Chart:
    """Hours after its first city at which each trend reached the other cities."""
    order = data.unique("name", maintain_order=True)["name"].to_list()
    chart: alt.Chart = (
        alt.Chart(data, title="Spread of trends across the cities")
        .mark_circle(size=50, opacity=0.9)
        .encode(
            x=alt.X("lag_hours:Q", title="Hours after the first city"),
            y=alt.Y("name:N", title="Trend", sort=order),
            # Cities reached in the same snapshot would hide each other on one line.
            yOffset=alt.YOffset("city:N"),
            color=alt.Color("city:N", title="City"),
            tooltip=["name:N", "city:N", "origin_city:N", "lag_hours:Q"],
        )
        .properties(width=WIDTH, height=alt.Step(48))
    )
    return chart


def render_png(chart: alt.TopLevelMixin) -> bytes:
    """The chart as PNG bytes, rendered without a browser."""
    png: bytes = vl_convert.vegalite_to_png(chart.to_json(), scale=PNG_SCALE)
    return png
