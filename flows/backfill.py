"""Replay archived raw objects into PostgreSQL, or import the legacy daily archive.

Run it with ``python -m flows.backfill``; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import cast
from uuid import UUID

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from flows.cli import add_locations_option
from flows.preflight import prepare_run
from tasks.archive import RawArchive, open_archive
from tasks.database import migrate
from tasks.legacy import legacy_keys, read_legacy
from tasks.load import BATCH_ROWS
from tasks.locations import DEFAULT_WOEIDS, resolve_locations
from tasks.replay import (
    ReplaySummary,
    archived_body_keys,
    read_archived,
    replay_objects,
)


@dataclass(frozen=True)
class BackfillResult:
    """What a backfill read, from where, how long it took and what it loaded."""

    source: str
    summary: ReplaySummary
    seconds: float


@flow(name="backfill")
def backfill(
    since: date | None = None,
    until: date | None = None,
    # Prefect shows this default in the run form; the flow never mutates it.
    locations: list[int] = list(DEFAULT_WOEIDS),  # noqa: B006
    legacy_url: str | None = None,
    archive_block: str | None = None,
    database_block: str | None = None,
    batch_rows: int = BATCH_ROWS,
) -> BackfillResult:
    """Load archived raw objects again; rows already present are left alone.

    Args:
        since: First archive date (UTC fetch date) to replay; required unless
            importing a legacy archive.
        until: Last archive date to replay; today by default.
        locations: WOEIDs to replay; Canada and its eight trend cities by default.
            A legacy import takes every location its bodies name.
        legacy_url: Folder or s3://bucket/prefix of the replaced script's archive
            of daily raw_trending_json_YYMMDD.json v1.1 bodies, to import instead.
        archive_block: Name of an S3Bucket block to replay from, instead of
            TRENDS_ARCHIVE_URL.
        database_block: Name of a SqlAlchemyConnector block, instead of
            TRENDS_DATABASE_URL.
        batch_rows: About how many trend rows each load transaction takes.
    """
    logger = get_run_logger()
    started = time.monotonic()
    run = prepare_run(archive_block, database_block)
    migrate(run.database_url)

    if legacy_url:
        archive = _open_legacy_archive(legacy_url)
        keys = legacy_keys(archive, since, until)
        readers = [(key, partial(read_legacy, archive, key)) for key in keys]
    else:
        archive = run.archive
        first, last = _date_range(since, until)
        woeids = [place.woeid for place in resolve_locations(locations)]
        keys = archived_body_keys(archive, woeids, first, last)
        readers = [(key, partial(read_archived, archive, key)) for key in keys]
    logger.info(
        "Replaying %d raw objects from %s into trend_observations, about %d rows "
        "a transaction",
        len(readers),
        archive.url,
        batch_rows,
    )

    with _progress(len(readers), archive.url) as advance:
        summary = replay_objects(
            readers,
            run.database_url,
            runtime.flow_run.id,
            keep_ledger=not legacy_url,
            batch_rows=batch_rows,
            on_progress=advance,
        )

    result = BackfillResult(archive.url, summary, time.monotonic() - started)
    report = format_summary(result)
    for line in report.splitlines():
        logger.info(line)
    create_markdown_artifact(
        key="backfill-summary", markdown=f"```\n{report}\n```", description=report
    )
    return result


def format_summary(result: BackfillResult) -> str:
    """A few lines saying what a backfill did; rejected objects are named."""
    summary = result.summary
    lines = [
        f"Replayed {summary.objects} raw objects from {result.source} in "
        f"{result.seconds:.1f} s",
        f"Loaded {summary.loaded} snapshots: {summary.new_rows} new trend rows, "
        f"{summary.present_rows} already present",
        f"Rejected {len(summary.rejected)} objects; "
        f"{len(summary.unreadable)} could not be read",
    ]
    problems = {**summary.rejected, **summary.unreadable}
    lines += [f"  {key}: {reason}" for key, reason in sorted(problems.items())[:20]]
    if len(problems) > 20:
        lines.append(f"  ... and {len(problems) - 20} more")
    return "\n".join(lines)


def _open_legacy_archive(url: str) -> RawArchive:
    if not url.startswith("s3://") and not Path(url).expanduser().is_dir():
        raise ValueError(
            f"The legacy archive folder {url!r} does not exist; pass the folder "
            "that holds the raw_trending_json_YYMMDD.json files, or an "
            "s3://bucket/prefix URL."
        )
    return open_archive(url)


def _date_range(since: date | None, until: date | None) -> tuple[date, date]:
    last = until or datetime.now(UTC).date()
    if since is None:
        raise ValueError(
            "A replay needs --since, the first archive date to replay, such as "
            "--since 2026-01-01; or pass --legacy URL to import the legacy archive."
        )
    if since > last:
        raise ValueError(
            f"--since {since.isoformat()} is after --until {last.isoformat()}; "
            "swap them."
        )
    return since, last


@contextmanager
def _progress(total: int, source: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on the terminal and a progress artifact in Prefect."""
    # Called from synchronous code, Prefect returns the id, never a coroutine.
    artifact_id = cast(
        UUID,
        create_progress_artifact(
            progress=0.0, description=f"Replaying {total} raw objects from {source}"
        ),
    )
    done = 0
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )

    def advance(count: int) -> None:
        nonlocal done
        done += count
        bar.advance(task_id, count)
        update_progress_artifact(artifact_id, progress=100.0 * done / max(total, 1))

    with bar:
        task_id = bar.add_task("Replaying raw objects", total=total)
        yield advance
    update_progress_artifact(artifact_id, progress=100.0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a backfill from the command line and print its summary."""
    args = _parse_args(argv)
    state = backfill(
        since=args.since,
        until=args.until,
        locations=args.locations,
        legacy_url=args.legacy,
        batch_rows=args.batch_rows,
        return_state=True,
    )
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        print(f"The backfill failed: {result}", file=sys.stderr)
        return 1
    print(format_summary(result))
    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.backfill",
        description="Replay the raw archive into PostgreSQL, or import the legacy "
        "daily archive. Rows already loaded are left alone.",
    )
    parser.add_argument(
        "--since", type=date.fromisoformat, metavar="DATE", help="first archive date"
    )
    parser.add_argument(
        "--until",
        type=date.fromisoformat,
        metavar="DATE",
        help="last archive date (default: today)",
    )
    add_locations_option(parser)
    parser.add_argument(
        "--legacy",
        metavar="URL",
        help="folder or s3://bucket/prefix of raw_trending_json_YYMMDD.json files",
    )
    parser.add_argument(
        "--batch-rows",
        type=int,
        default=BATCH_ROWS,
        metavar="N",
        help=f"about how many rows each transaction loads (default: {BATCH_ROWS})",
    )
    args = parser.parse_args(argv)
    if args.since is None and args.legacy is None:
        parser.error("pass --since DATE to replay the archive, or --legacy URL")
    return args


if __name__ == "__main__":
    sys.exit(main())
