"""What a daily run shows in the Prefect UI: its top trends and a run summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.archive import ArchivedResponse
from tasks.normalise import Snapshot
from tasks.x_api_errors import redact_credentials

TOP_TRENDS_KEY = "daily-trends-top"
SUMMARY_KEY = "daily-trends-summary"
TOP_TRENDS_PER_LOCATION = 10
# Whatever follows "Bearer" is a credential, wherever an error message quotes it.


class RunOutcome(Protocol):
    """What a run did for one location, as the daily flow reports it."""

    @property
    def woeid(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def received(self) -> int: ...
    @property
    def new(self) -> int: ...
    @property
    def present(self) -> int: ...
    @property
    def error(self) -> str | None: ...


@dataclass(frozen=True)
class RateLimit:
    """The request budget X reported in a response's rate-limit headers."""

    remaining: int | None
    limit: int | None
    resets_at: datetime | None


@dataclass(frozen=True)
class PublishedArtifacts:
    """The keys the run published under, and how many top-trend rows it listed."""

    top_trends_key: str
    summary_key: str
    top_trend_rows: int


@task(name="publish-run-artifacts", cache_policy=NO_CACHE)
def publish_run_artifacts(
    outcomes: Sequence[RunOutcome],
    archived: Sequence[ArchivedResponse],
    snapshots: Sequence[Snapshot],
) -> PublishedArtifacts:
    """Publish the run's top trends as a table and its outcome as a markdown summary.

    Args:
        outcomes: One per location asked for, failed ones included.
        archived: The responses that reached the archive, for their keys and
            rate-limit headers.
        snapshots: The snapshots that passed their checks, for their top trends.
    """
    logger = get_run_logger()
    logger.info(
        "Publishing artifacts %s and %s for %d locations",
        TOP_TRENDS_KEY,
        SUMMARY_KEY,
        len(outcomes),
    )

    names = {outcome.woeid: outcome.name for outcome in outcomes}
    top_trends = top_trend_rows(snapshots, names)
    create_table_artifact(
        table=top_trends,
        key=TOP_TRENDS_KEY,
        description=f"Top {TOP_TRENDS_PER_LOCATION} trends of each location",
    )
    create_markdown_artifact(
        markdown=summary_markdown(outcomes, archived),
        key=SUMMARY_KEY,
        description="Per location: received, new, present, failures, rate limit",
    )

    failed = sum(1 for outcome in outcomes if outcome.error)
    logger.info(
        "Published %d top-trend rows and a summary of %d locations (%d failed)",
        len(top_trends),
        len(outcomes),
        failed,
    )
    return PublishedArtifacts(TOP_TRENDS_KEY, SUMMARY_KEY, len(top_trends))


def top_trend_rows(
    snapshots: Sequence[Snapshot], names: dict[int, str]
) -> list[dict[str, Any]]:
    """The best-ranked trends of each snapshot as table rows, in location order."""
    rows: list[dict[str, Any]] = []
    for snapshot in snapshots:
        top = snapshot.trends.sort("rank").head(TOP_TRENDS_PER_LOCATION)
        location = names.get(snapshot.woeid, str(snapshot.woeid))
        rows.extend(
            {
                "location": location,
                "woeid": snapshot.woeid,
                "rank": trend["rank"],
                "trend": trend["name"],
                "tweet_volume": trend["tweet_volume"],
            }
            for trend in top.select("rank", "name", "tweet_volume").iter_rows(
                named=True
            )
        )
    return rows


def summary_markdown(
    outcomes: Sequence[RunOutcome], archived: Sequence[ArchivedResponse]
) -> str:
    """A markdown report of the run: a table per location, then failures and keys."""
    by_woeid = {entry.response.location.woeid: entry for entry in archived}
    as_of = _snapshot_time(archived)
    lines = [
        f"# Daily trends{f' as of {as_of}' if as_of else ''}",
        "",
        "| Location | WOEID | Received | New | Already present | Outcome "
        "| Rate limit left | Resets at |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for outcome in outcomes:
        budget = rate_limit(by_woeid.get(outcome.woeid))
        lines.append(
            f"| {_cell(outcome.name)} | {outcome.woeid} | {outcome.received} "
            f"| {outcome.new} | {outcome.present} "
            f"| {'failed' if outcome.error else 'loaded'} "
            f"| {_budget_text(budget)} | {_reset_text(budget)} |"
        )
    lines += _budget_lines(archived)
    lines += _failure_lines(outcomes)
    lines += _raw_object_lines(outcomes, by_woeid)
    return "\n".join(lines) + "\n"


def rate_limit(entry: ArchivedResponse | None) -> RateLimit:
    """Read the rate-limit headers of an archived response; None where absent."""
    headers = entry.response.headers if entry else {}
    reset = _as_int(headers.get("x-rate-limit-reset"))
    return RateLimit(
        remaining=_as_int(headers.get("x-rate-limit-remaining")),
        limit=_as_int(headers.get("x-rate-limit-limit")),
        resets_at=datetime.fromtimestamp(reset, UTC) if reset is not None else None,
    )


def _budget_lines(archived: Sequence[ArchivedResponse]) -> list[str]:
    # The budget is per app, so the run's budget is the lowest any response reported.
    budgets = [rate_limit(entry) for entry in archived]
    known = [b for b in budgets if b.remaining is not None]
    if not known:
        return ["", "No response carried rate-limit headers."]
    lowest = min(known, key=lambda budget: budget.remaining or 0)
    return [
        "",
        f"Rate-limit budget left after the run: {_budget_text(lowest)} requests, "
        f"resetting at {_reset_text(lowest)}.",
    ]


def _failure_lines(outcomes: Sequence[RunOutcome]) -> list[str]:
    failed = [outcome for outcome in outcomes if outcome.error]
    if not failed:
        return []
    lines = ["", "## Failures", ""]
    for outcome in failed:
        reason = " ".join(redact_credentials(outcome.error or "").split())
        lines.append(f"- **{outcome.name} ({outcome.woeid})**: {reason}")
    return lines


def _raw_object_lines(
    outcomes: Sequence[RunOutcome], by_woeid: dict[int, ArchivedResponse]
) -> list[str]:
    lines = ["", "## Raw objects", ""]
    for outcome in outcomes:
        entry = by_woeid.get(outcome.woeid)
        if entry is None:
            lines.append(f"- {outcome.name} ({outcome.woeid}): not archived")
        else:
            lines.append(
                f"- {outcome.name} ({outcome.woeid}): `{entry.body_key}`, "
                f"`{entry.meta_key}`"
            )
    return lines


def _snapshot_time(archived: Sequence[ArchivedResponse]) -> str | None:
    times = {entry.response.as_of for entry in archived}
    if len(times) != 1:
        return None
    return times.pop().astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _budget_text(budget: RateLimit) -> str:
    if budget.remaining is None:
        return "-"
    if budget.limit is None:
        return str(budget.remaining)
    return f"{budget.remaining} of {budget.limit}"


def _reset_text(budget: RateLimit) -> str:
    if budget.resets_at is None:
        return "-"
    return budget.resets_at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
