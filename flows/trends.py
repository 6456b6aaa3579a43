"""The daily trends flow: fetch each location, archive it raw, normalise, load.

Run it with ``python -m flows.trends``; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prefect import flow, get_run_logger, runtime
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import SecretStr

from flows.settings import TrendsSettings
from tasks.archive import ArchivedResponse, archive_response, open_archive
from tasks.database import embedded_database_url, migrate
from tasks.fetch import fetch_trends, read_sample_trends
from tasks.load import load_trends
from tasks.locations import DEFAULT_WOEIDS, Location, resolve_locations
from tasks.normalise import Snapshot, normalise_trends

MAX_CONCURRENT_FETCHES = 9
MISSING_TOKEN = (
    "No X API token: set X_BEARER_TOKEN to an app-only bearer token, "
    "or pass --sample to run on the bundled sample responses."
)


@dataclass(frozen=True)
class LocationOutcome:
    """What one run did for one location."""

    woeid: int
    name: str
    received: int = 0
    new: int = 0
    present: int = 0
    raw_object_key: str | None = None
    error: str | None = None


class LocationsFailed(RuntimeError):
    """Some locations could not be collected; the others were loaded."""

    def __init__(self, message: str, outcomes: list[LocationOutcome]) -> None:
        super().__init__(message, outcomes)
        self.outcomes = outcomes

    def __str__(self) -> str:
        return str(self.args[0])


@flow(
    name="daily-trends",
    # Prefect declares the parameter invariant in the future type it runs.
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_CONCURRENT_FETCHES),  # type: ignore[arg-type]
)
def daily_trends(
    # Prefect shows this default in the run form; the flow never mutates it.
    locations: list[int] = list(DEFAULT_WOEIDS),  # noqa: B006
    as_of: datetime | None = None,
    sample: bool = False,
) -> list[LocationOutcome]:
    """Collect the trend lists of the given locations into PostgreSQL.

    Args:
        locations: WOEIDs to collect; Canada and its eight trend cities by default.
        as_of: Snapshot time to file the trends under; the current hour by default.
        sample: Use the bundled sample responses instead of calling the X API.
    """
    logger = get_run_logger()
    settings = TrendsSettings()
    places = resolve_locations(locations)
    token = _require_token(settings, sample)
    database_url = settings.database_url or embedded_database_url(settings.data_dir)
    applied = migrate(database_url)
    if applied:
        logger.info("Applied schema migrations %s", ", ".join(applied))
    archive = open_archive(settings.resolved_archive_url)

    fetched_at = datetime.now(UTC)
    snapshot_time = (as_of or fetched_at).astimezone(UTC)
    if as_of is None:
        snapshot_time = snapshot_time.replace(minute=0, second=0, microsecond=0)
    logger.info(
        "Collecting trends of %d locations as of %s%s",
        len(places),
        snapshot_time.isoformat(),
        " from the bundled samples" if sample else "",
    )

    responses = [
        read_sample_trends.submit(place, snapshot_time, fetched_at)
        if token is None
        else fetch_trends.submit(
            place, snapshot_time, fetched_at, settings.x_api_url, token
        )
        for place in places
    ]
    # Every fetch is queued before any archive task: a queued archive task holds a
    # worker while it waits for its fetch, which would leave fewer fetches running.
    archived = [
        # Prefect hands the task the future's result; mypy only sees the future.
        archive_response.submit(response, archive)  # type: ignore[call-overload]
        for response in responses
    ]
    flow_run_id = runtime.flow_run.id
    snapshots = [normalise_trends.submit(entry, flow_run_id) for entry in archived]

    return _load_and_report(places, archived, snapshots, database_url)


def _require_token(settings: TrendsSettings, sample: bool) -> SecretStr | None:
    if sample:
        return None
    if settings.x_bearer_token is None:
        raise ValueError(MISSING_TOKEN)
    return settings.x_bearer_token


def _load_and_report(
    places: list[Location],
    archived: list[PrefectFuture[ArchivedResponse]],
    snapshots: list[PrefectFuture[Snapshot]],
    database_url: str,
) -> list[LocationOutcome]:
    """Load every snapshot that survived its fetch, archive and checks, and report.

    Raises:
        LocationsFailed: when any location failed, after the others were loaded.
    """
    failures: dict[int, str] = {}
    keys: dict[int, str] = {}
    ready: list[Snapshot] = []
    for place, entry, snapshot in zip(places, archived, snapshots, strict=True):
        try:
            keys[place.woeid] = entry.result().body_key
            ready.append(snapshot.result())
        except Exception as error:
            failures[place.woeid] = str(error)

    counts = dict(
        zip(
            (s.woeid for s in ready),
            load_trends(ready, database_url) if ready else [],
            strict=True,
        )
    )
    received = {s.woeid: s.received for s in ready}
    outcomes = [
        LocationOutcome(
            woeid=place.woeid,
            name=place.name,
            received=received.get(place.woeid, 0),
            new=counts[place.woeid].new if place.woeid in counts else 0,
            present=counts[place.woeid].present if place.woeid in counts else 0,
            raw_object_key=keys.get(place.woeid),
            error=failures.get(place.woeid),
        )
        for place in places
    ]
    if failures:
        lines = [f"{o.name} ({o.woeid}): {o.error}" for o in outcomes if o.error]
        raise LocationsFailed(
            f"{len(failures)} of {len(places)} locations failed:\n" + "\n".join(lines),
            outcomes,
        )
    return outcomes


def format_summary(outcomes: Sequence[LocationOutcome], archive_url: str) -> str:
    """A plain-text table of what a run did, one line per location."""
    header = ("Location", "WOEID", "Received", "New", "Present", "Raw object")
    rows = [
        (
            o.name,
            str(o.woeid),
            str(o.received),
            str(o.new),
            str(o.present),
            o.raw_object_key or "-" if o.error is None else f"FAILED: {o.error}",
        )
        for o in outcomes
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[5]
        for row in [header, *rows]
    ]
    lines.append(f"Raw responses are archived under {archive_url}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the daily flow once from the command line and print its summary."""
    args = _parse_args(argv)
    settings = TrendsSettings()
    if not args.sample and settings.x_bearer_token is None:
        print(MISSING_TOKEN, file=sys.stderr)
        return 2

    state = daily_trends(
        locations=args.locations,
        as_of=args.as_of,
        sample=args.sample,
        return_state=True,
    )
    result = state.result(raise_on_failure=False)
    if isinstance(result, LocationsFailed):
        print(format_summary(result.outcomes, settings.resolved_archive_url))
        return 1
    if isinstance(result, BaseException):
        print(f"The run failed: {result}", file=sys.stderr)
        return 1
    print(format_summary(result, settings.resolved_archive_url))
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.trends",
        description="Collect X trends into the raw archive and PostgreSQL.",
    )
    parser.add_argument(
        "--locations",
        type=_woeid_list,
        default=list(DEFAULT_WOEIDS),
        metavar="WOEID,...",
        help="comma-separated WOEIDs (default: Canada and its eight trend cities)",
    )
    parser.add_argument(
        "--as-of",
        type=_timestamp,
        default=None,
        metavar="ISO-8601",
        help="snapshot time to file the trends under; without an offset it is UTC "
        "(default: the current hour)",
    )
    parser.add_argument(
        "--sample",
        action="store_true",
        help="use the bundled sample responses instead of the X API",
    )
    return parser.parse_args(argv)


def _woeid_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated WOEIDs such as 23424775,4118; got {text!r}"
        ) from None


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time such as 2026-12-03T16:00:00-05:00; got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


if __name__ == "__main__":
    sys.exit(main())
