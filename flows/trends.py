"""The daily trends flow: fetch each location, archive it raw, normalise, load.

Run it with ``python -m flows.trends``; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from prefect import Task, flow, get_run_logger, runtime
from prefect.client.schemas.objects import State
from prefect.futures import PrefectFuture, wait
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff
from pydantic import SecretStr

from flows.cli import add_locations_option
from flows.preflight import ConfigurationError, load_settings, prepare_run
from flows.settings import RunSettings, TrendsSettings
from tasks import ledger
from tasks.archive import ArchivedResponse, RawArchive, archive_response
from tasks.artifacts import publish_run_artifacts
from tasks.catch_up import catch_up_archive
from tasks.database import DatabaseError, connect, is_transaction_conflict, migrate
from tasks.fetch import XApiOptions, fetch_trends, read_sample_trends
from tasks.fetch_cache import fetch_result_storage
from tasks.load import LoadCounts, load_trends
from tasks.locations import DEFAULT_WOEIDS, Location, resolve_locations
from tasks.normalise import (
    Snapshot,
    SnapshotRejected,
    normalise_trends,
    parse_v1_body,
    parse_v2_body,
)
from tasks.replay import read_archived
from tasks.x_api_errors import FetchFailed

MAX_CONCURRENT_FETCHES = 9
# Two runs of the same hour can deadlock in PostgreSQL; it rolls one back whole.
LOAD_RETRIES = 3
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


class CatchUpFailed(RuntimeError):
    """Objects archived by earlier runs could not be loaded; this run's were."""


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
    refresh: bool = False,
    archive_block: str | None = None,
    database_block: str | None = None,
    token_block: str | None = None,
) -> list[LocationOutcome]:
    """Collect the trend lists of the given locations into PostgreSQL.

    Settings, the database and the archive are checked before any request is
    spent. Responses are archived before anything is loaded, so a database lost
    during the run loses nothing: the next run finds what this one archived and
    loads it.

    Args:
        locations: WOEIDs to collect; Canada and its eight trend cities by default.
        as_of: Snapshot time to file the trends under; the current hour by default.
        sample: Use the bundled sample responses instead of calling the X API.
        refresh: Ask the X API again even for locations already fetched for this
            snapshot time, instead of reusing their cached responses.
        archive_block: Name of an S3Bucket block to archive to, instead of
            TRENDS_ARCHIVE_URL.
        database_block: Name of a SqlAlchemyConnector block, instead of
            TRENDS_DATABASE_URL.
        token_block: Name of a Secret block holding the X token, instead of
            X_BEARER_TOKEN.
    """
    logger = get_run_logger()
    places = resolve_locations(locations)
    run = prepare_run(archive_block, database_block, token_block)
    token = _require_token(run.x_bearer_token, sample)
    applied = migrate(run.database_url)
    if applied:
        logger.info("Applied schema migrations %s", ", ".join(applied))

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

    archived: list[PrefectFuture[ArchivedResponse]] = []
    if token is None:
        for place in places:
            response = read_sample_trends.submit(place, snapshot_time, fetched_at)
            # Prefect hands the task the future's result; mypy only sees the future.
            archived.append(archive_response.submit(response, run.archive))  # type: ignore[call-overload]
    else:
        fetch = _fetch_task(run.environment, run.archive, refresh)
        options = _x_api_options(run.environment, token)
        keep = partial(archive_response.fn, archive=run.archive)
        check = parse_v1_body if options.api_version == "1.1" else parse_v2_body
        for place in places:
            archived.append(fetch.submit(place, snapshot_time, options, keep, check))
    flow_run_id = runtime.flow_run.id
    snapshots = [
        normalise_trends.submit(entry, flow_run_id)  # type: ignore[call-overload]
        for entry in archived
    ]

    _check_database_answers(run, archived)
    caught_up = catch_up_archive(
        run.archive,
        run.database_url,
        [place.woeid for place in places],
        fetched_at,
        flow_run_id,
        this_run_keys=_archived_keys(archived),
        days=run.environment.catch_up_days,
        return_state=True,
    )
    outcomes = _load_and_report(places, archived, snapshots, run)
    if caught_up.is_failed():
        raise CatchUpFailed(
            "This run's trends are loaded, but loading what earlier runs archived "
            f"failed: {caught_up.message}. The next run tries again."
        )
    return outcomes


def _check_database_answers(
    run: RunSettings, archived: list[PrefectFuture[ArchivedResponse]]
) -> None:
    """Once this run's responses are archived, check that the database still answers.

    The schema was migrated before the first request, so connecting is enough.

    Raises:
        DatabaseError: when the database is unreachable, saying that the archived
            responses wait for the next run.
    """
    wait(archived)
    try:
        connect(run.database_url).close()
    except DatabaseError as error:
        count = len(_archived_keys(archived))
        raise DatabaseError(
            f"{error} This run archived {count} responses in {run.archive.url}; "
            "none were loaded. The next run that reaches the database loads them."
        ) from error


def _archived_keys(archived: list[PrefectFuture[ArchivedResponse]]) -> list[str]:
    return [entry.result().body_key for entry in archived if entry.state.is_completed()]


def _require_token(token: SecretStr | None, sample: bool) -> SecretStr | None:
    if sample:
        return None
    if token is None:
        raise ValueError(MISSING_TOKEN)
    return token


def _fetch_task(
    settings: TrendsSettings, archive: RawArchive, refresh: bool
) -> Task[..., ArchivedResponse]:
    """The fetch task with this run's retries and its cache beside the archive."""
    fetch = fetch_trends.with_options(
        retries=settings.x_api_retries,
        retry_delay_seconds=exponential_backoff(settings.x_api_retry_delay),
        refresh_cache=refresh,
    )
    storage = fetch_result_storage(archive)
    return fetch if storage is None else fetch.with_options(result_storage=storage)


def _x_api_options(settings: TrendsSettings, token: SecretStr) -> XApiOptions:
    strict = settings.strict_request_budget
    if strict is None:
        # Deployments share the budget with other runs and must not run unpaced.
        strict = runtime.deployment.id is not None
    return XApiOptions(
        api_url=settings.x_api_url,
        api_version=settings.x_api_version,
        token=token,
        timeout=settings.x_api_timeout,
        max_rate_limit_wait=settings.max_rate_limit_wait,
        strict_budget=strict,
    )


def _load_and_report(
    places: list[Location],
    archived: list[PrefectFuture[ArchivedResponse]],
    snapshots: list[PrefectFuture[Snapshot]],
    run: RunSettings,
) -> list[LocationOutcome]:
    """Load every snapshot that survived its fetch, archive and checks, and report.

    Raises:
        LocationsFailed: when any location failed, after the others were loaded.
    """
    failures: dict[int, str] = {}
    keys: dict[int, str] = {}
    stored: list[ArchivedResponse] = []
    ready: list[Snapshot] = []
    rejected: list[tuple[ArchivedResponse, str]] = []
    for place, entry, snapshot in zip(places, archived, snapshots, strict=True):
        try:
            stored.append(entry.result())
            keys[place.woeid] = stored[-1].body_key
            ready.append(snapshot.result())
        except FetchFailed as failed:
            failures[place.woeid] = str(failed)
            if failed.body_key:
                # The last answer is archived; its metadata tells the budget left.
                answer = read_archived(run.archive, failed.body_key)
                keys[place.woeid] = failed.body_key
                stored.append(answer)
                rejected.append((answer, str(failed)))
        except SnapshotRejected as error:
            failures[place.woeid] = str(error)
            rejected.append((entry.result(), str(error)))
        except Exception as error:
            failures[place.woeid] = str(error)

    database_url = run.database_url
    ledger.record_archived(
        database_url, [e.result() for e in archived if e.state.is_completed()]
    )
    load_counts = _load_retrying_conflicts(ready, database_url) if ready else []
    ledger.mark_rejected(database_url, rejected)
    counts = dict(zip((s.woeid for s in ready), load_counts, strict=True))
    received = {s.woeid: s.received for s in ready}
    _warn_of_empty(ready)
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
    # Published before any failure is raised, so a partial run still shows it.
    publish_run_artifacts(outcomes, stored, ready)
    if failures:
        lines = [f"{o.name} ({o.woeid}): {o.error}" for o in outcomes if o.error]
        raise LocationsFailed(
            f"{len(failures)} of {len(places)} locations failed:\n" + "\n".join(lines),
            outcomes,
        )
    return outcomes


def _load_retrying_conflicts(
    snapshots: list[Snapshot], database_url: str
) -> list[LoadCounts]:
    """Load, running the whole transaction again if a concurrent run collided."""
    loader = load_trends.with_options(
        retries=LOAD_RETRIES,
        retry_delay_seconds=[1, 2, 4],
        retry_jitter_factor=0.5,
        retry_condition_fn=_collided,
    )
    # The ledger marks the objects loaded in the transaction that loads them.
    return loader(snapshots, database_url, keep_ledger=True)


def _collided(task: object, task_run: object, state: State[Any]) -> bool:
    error = state.result(raise_on_failure=False)
    return isinstance(error, BaseException) and is_transaction_conflict(error)


def _warn_of_empty(ready: list[Snapshot]) -> None:
    for empty in (s for s in ready if s.received == 0):
        location = empty.archived.response.location
        get_run_logger().warning(
            "The X API listed no trends for %s (%d); its snapshot is empty",
            location.name,
            location.woeid,
        )


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
            f"FAILED: {o.error}" if o.error else (o.raw_object_key or "-"),
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
    try:
        if not args.sample and load_settings().x_bearer_token is None:
            raise ConfigurationError(MISSING_TOKEN)
        run = prepare_run()
    except ConfigurationError as error:
        print(error, file=sys.stderr)
        return 2

    state = daily_trends(
        locations=args.locations,
        as_of=args.as_of,
        sample=args.sample,
        refresh=args.refresh,
        return_state=True,
    )
    result = state.result(raise_on_failure=False)
    if isinstance(result, LocationsFailed):
        print(format_summary(result.outcomes, run.archive.url))
        return 1
    if isinstance(result, BaseException):
        print(f"The run failed: {result}", file=sys.stderr)
        return 1
    print(format_summary(result, run.archive.url))
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.trends",
        description="Collect X trends into the raw archive and PostgreSQL.",
    )
    add_locations_option(parser)
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
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="ask the X API again for locations already fetched for this snapshot "
        "time instead of reusing their cached responses",
    )
    return parser.parse_args(argv)


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
