"""Run every benchmark once, on the same generated data, and print the results."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from benchmarks import daily, loaders
from benchmarks.backfill import BackfillResult
from benchmarks.data import FIRST_HOUR, generated_snapshots, write_archive_year
from benchmarks.database import (
    benchmark_database,
    benchmark_server,
    empty_trend_observations,
)
from tasks.locations import DEFAULT_WOEIDS
from tasks.normalise import Snapshot

BACKFILL_TIMEOUT = 600
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sizes:
    """How much work each part of the benchmark does."""

    rows: int
    row_by_row_rows: int
    repetitions: int
    backfill_days: int
    api_delay: float = daily.API_DELAY
    daily: bool = True


@dataclass
class Timings:
    """Seconds of each repetition, per method, with the rows each loaded."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def add(self, method: str, rows: int, seconds: float) -> None:
        self.rows[method] = rows
        self.seconds.setdefault(method, []).append(seconds)

    def rows_per_second(self, method: str) -> float:
        return self.rows[method] / statistics.median(self.seconds[method])


@dataclass(frozen=True)
class Method:
    """One way of loading, and what must be emptied before each repetition."""

    name: str
    load: loaders.Loader
    reset: Callable[[str], None]
    reload_name: str | None = None
    smaller: bool = False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print a table, then the one-line summary."""
    sizes = parse_sizes(argv)
    with benchmark_server() as server_url, benchmark_database(server_url) as url:
        print(describe_machine(url))
        timings = compare_loaders(url, sizes)
        print_loader_table(timings)
        backfill = measure_backfill(url, sizes.backfill_days)
        print_backfill(backfill)
        concurrency, peak_rss = (
            measure_daily(url, sizes.api_delay) if sizes.daily else (0.0, 0.0)
        )
    print(summary_line(timings, backfill, concurrency, peak_rss))
    return 0


def compare_loaders(database_url: str, sizes: Sizes) -> Timings:
    """Time every method on the same snapshots, interleaving the repetitions."""
    snapshots = generated_snapshots(sizes.rows)
    fewer = generated_snapshots(sizes.row_by_row_rows)
    methods = available_methods()
    timings = Timings()
    for repetition in range(sizes.repetitions):
        # Rotate the order, so that no method always runs first or last.
        shift = repetition % len(methods)
        for method in methods[shift:] + methods[:shift]:
            data = fewer if method.smaller else snapshots
            method.reset(database_url)
            timings.add(
                method.name, count_rows(data), timed(method.load, database_url, data)
            )
            if method.reload_name:
                seconds = timed(method.load, database_url, data)
                timings.add(method.reload_name, count_rows(data), seconds)
            print(f"  repetition {repetition + 1}: {method.name} done", flush=True)
    return timings


def available_methods() -> list[Method]:
    """Every method, and dlt's merge when dlt is installed."""
    methods = [
        Method(
            "our load path",
            loaders.load_with_our_path,
            empty_trend_observations,
            reload_name="our load path, reload",
        ),
        Method("bare COPY", loaders.load_with_bare_copy, empty_trend_observations),
        Method(
            "staging + ON CONFLICT",
            loaders.load_with_staging,
            empty_trend_observations,
            reload_name="staging + ON CONFLICT, reload",
        ),
        Method(
            "row-by-row INSERT",
            loaders.load_row_by_row,
            empty_trend_observations,
            smaller=True,
        ),
    ]
    dlt_merge = loaders.dlt_merge_loader()
    if dlt_merge is not None:
        methods.append(Method("dlt merge", dlt_merge, loaders.drop_dlt_dataset))
    return methods


def measure_backfill(database_url: str, days: int) -> BackfillResult:
    """Backfill half of the days, then all of them, each from an empty table.

    Both peaks are printed: memory that does not grow with the size of the
    backfill is the same for both. At the default sizes each run fills at least
    one loader batch, so the smaller one is not flattered by a part-filled batch.
    """
    half = backfill_days(database_url, max(1, days // 2))
    print(f"  backfill of {days // 2} days: peak RSS {half.peak_rss_mb:.0f} MB")
    return backfill_days(database_url, days)


def backfill_days(database_url: str, days: int) -> BackfillResult:
    """Write days of archive for nine locations, then replay it in its own process."""
    empty_trend_observations(database_url)
    with tempfile.TemporaryDirectory(prefix="x-trends-archive-") as folder:
        started = time.perf_counter()
        objects = write_archive_year(Path(folder), days=days)
        seconds = time.perf_counter() - started
        print(f"  wrote {objects} archive objects in {seconds:.1f} s", flush=True)
        since = FIRST_HOUR.date()
        until = since + timedelta(days=days - 1)
        finished = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.backfill",
                folder,
                database_url,
                since.isoformat(),
                until.isoformat(),
            ],
            capture_output=True,
            text=True,
            timeout=BACKFILL_TIMEOUT,
            check=True,
            cwd=PROJECT_ROOT,
        )
    return BackfillResult(**json.loads(finished.stdout.strip().splitlines()[-1]))


def measure_daily(database_url: str, api_delay: float) -> tuple[float, float]:
    """The speedup of the concurrent fetch phase over one at a time, and peak RSS.

    One task at a time also pays each task's own overhead in turn, so the speedup
    can exceed the number of locations; the time that nine answers in a row would
    take at the least is printed beside it.
    """
    concurrent, sequential = daily.fetch_phases(database_url, api_delay)
    floor = len(DEFAULT_WOEIDS) * api_delay
    print(
        f"daily fetch phase, nine locations answering after {api_delay:g} s: "
        f"{concurrent:.2f} s concurrent, {sequential:.2f} s one task at a time; "
        f"nine answers in a row take at least {floor:g} s, "
        f"{floor / concurrent:.1f}x the concurrent phase"
    )
    peak = daily.daily_peak_rss_mb(database_url)
    print(f"daily sample run in one process: peak RSS {peak:.0f} MB")
    return sequential / concurrent, peak


def print_loader_table(timings: Timings) -> None:
    reference = timings.rows_per_second("our load path")
    print(f"{'method':<32}{'rows':>10}{'median s':>10}{'rows/s':>12}{'ours/this':>11}")
    for method in timings.rows:
        rate = timings.rows_per_second(method)
        median = statistics.median(timings.seconds[method])
        print(
            f"{method:<32}{timings.rows[method]:>10}{median:>10.2f}{rate:>12,.0f}"
            f"{reference / rate:>10.2f}x"
        )


def print_backfill(result: BackfillResult) -> None:
    print(
        f"backfill: {result.objects} objects, {result.rows} rows in "
        f"{result.seconds:.1f} s: {result.objects / result.seconds:,.0f} objects/s, "
        f"{result.rows / result.seconds:,.0f} rows/s, "
        f"peak RSS {result.peak_rss_mb:.0f} MB"
    )


def summary_line(
    timings: Timings, backfill: BackfillResult, concurrency: float, peak_rss: float
) -> str:
    ours = timings.rows_per_second("our load path")
    reload = timings.rows_per_second("our load path, reload")
    dlt = timings.rows_per_second("dlt merge") if "dlt merge" in timings.rows else 0
    return (
        f"load_vs_copy={ours / timings.rows_per_second('bare COPY'):.2f} "
        f"dlt_ratio={ours / dlt if dlt else 0:.1f} "
        f"reload_speedup={reload / ours:.1f} "
        f"backfill_rows_per_s={backfill.rows / backfill.seconds:.0f} "
        f"daily_concurrency_speedup={concurrency:.1f} "
        f"peak_rss_mb={peak_rss:.0f}"
    )


def describe_machine(database_url: str) -> str:
    with psycopg.connect(database_url) as connection:
        [(version,)] = connection.execute("SHOW server_version").fetchall()
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, PostgreSQL {version}"
    )


def timed(load: loaders.Loader, database_url: str, data: Sequence[Snapshot]) -> float:
    started = time.perf_counter()
    load(database_url, data)
    return time.perf_counter() - started


def count_rows(snapshots: Sequence[Snapshot]) -> int:
    return sum(snapshot.trends.height for snapshot in snapshots)


def parse_sizes(argv: Sequence[str] | None) -> Sizes:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument(
        "--rows",
        type=int,
        default=_env_int("BENCH_ROWS", 100_000),
        help="rows loaded by each method (env BENCH_ROWS)",
    )
    parser.add_argument(
        "--row-by-row-rows",
        type=int,
        default=_env_int("BENCH_ROW_BY_ROW_ROWS", 10_000),
        help="rows loaded by the row-by-row INSERT",
    )
    parser.add_argument(
        "--repetitions", type=int, default=_env_int("BENCH_REPETITIONS", 3)
    )
    parser.add_argument(
        "--backfill-days", type=int, default=_env_int("BENCH_BACKFILL_DAYS", 365)
    )
    parser.add_argument(
        "--api-delay",
        type=float,
        default=daily.API_DELAY,
        help="seconds the fake X API takes to answer in the daily benchmark",
    )
    parser.add_argument(
        "--skip-daily",
        action="store_true",
        help="skip the daily flow's fetch phase and memory",
    )
    args = parser.parse_args(argv)
    return Sizes(
        args.rows,
        args.row_by_row_rows,
        args.repetitions,
        args.backfill_days,
        api_delay=args.api_delay,
        daily=not args.skip_daily,
    )


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))
