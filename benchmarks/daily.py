"""The daily flow end to end: its fetch phase against a slow API, and its memory.

Run as ``python -m benchmarks.daily rss`` it performs one sample run of the daily
flow and prints the peak resident memory of its process as JSON; with
``fetch-phase DATABASE_URL DELAY`` it prints the fetch phase's seconds, concurrent and
one task at a time.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect.task_runners import ThreadPoolTaskRunner

from benchmarks.memory import peak_rss_mb
from flows.trends import daily_trends, main
from tasks.locations import DEFAULT_WOEIDS
from tests.fake_x_api import FakeXApi, RecordedRequest, Reply

API_DELAY = 1.0
RUN_TIMEOUT = 300


class TimedFakeXApi(FakeXApi):
    """The fake X API, also noting when each request arrived."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.arrivals: list[float] = []

    def _answer(self, request: RecordedRequest) -> Reply:
        self.arrivals.append(time.monotonic())
        return super()._answer(request)

    def fetch_phase_seconds(self, delay: float) -> float:
        """From the first request to the last reply, as the API saw them."""
        return max(self.arrivals) + delay - min(self.arrivals)


def fetch_phase(database_url: str, concurrent: bool, delay: float = API_DELAY) -> float:
    """Seconds the daily flow spends fetching nine locations that answer slowly.

    With concurrent false the same flow runs its tasks one at a time.
    """
    token = "bench-" + secrets.token_hex(8)
    flow = daily_trends
    if not concurrent:
        # Prefect declares the parameter invariant in the future type it runs.
        flow = daily_trends.with_options(
            task_runner=ThreadPoolTaskRunner(max_workers=1)  # type: ignore[arg-type]
        )
    as_of = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=secrets.randbelow(9999))
    fake = TimedFakeXApi(token)
    for woeid in DEFAULT_WOEIDS:
        fake.always(
            woeid, Reply(body=b'{"data":[{"trend_name":"Leafs"}]}', delay=delay)
        )
    with (
        fake.running(),
        tempfile.TemporaryDirectory() as folder,
        flow_environment(database_url, Path(folder), fake.url, token),
    ):
        flow(as_of=as_of)
    return fake.fetch_phase_seconds(delay)


def daily_peak_rss_mb(database_url: str) -> float:
    """Peak resident memory of one sample run of the daily flow in its own process."""
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "TRENDS_DATABASE_URL": database_url,
            "TRENDS_ARCHIVE_URL": str(Path(folder) / "raw"),
            "TRENDS_DATA_DIR": folder,
        }
        report = run_module(["rss"], env)
    peak: float = report["peak_rss_mb"]
    return peak


def fetch_phases(database_url: str, delay: float = API_DELAY) -> tuple[float, float]:
    """The fetch phase of the flow as it is, and run one task at a time.

    Both run in a process of their own, so that the Prefect server they start and
    their logs stay out of the benchmark's process.
    """
    report = run_module(["fetch-phase", database_url, str(delay)], dict(os.environ))
    return report["concurrent"], report["sequential"]


def run_module(args: list[str], env: dict[str, str]) -> dict[str, float]:
    # On a busy machine the throwaway Prefect server can take longer than its default.
    startup = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    finished = subprocess.run(
        [sys.executable, "-m", "benchmarks.daily", *args],
        env={**startup, **env},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    if finished.returncode != 0:
        raise RuntimeError(
            f"benchmarks.daily {args[0]} failed with exit code "
            f"{finished.returncode}:\n{finished.stderr[-3000:]}"
        )
    report: dict[str, float] = json.loads(finished.stdout.strip().splitlines()[-1])
    return report


@contextmanager
def flow_environment(
    database_url: str, folder: Path, api_url: str, token: str
) -> Iterator[None]:
    """Point the flow's settings at the benchmark's database, fake API and folder."""
    values = {
        "X_BEARER_TOKEN": token,
        "TRENDS_X_API_URL": api_url,
        "TRENDS_DATABASE_URL": database_url,
        "TRENDS_ARCHIVE_URL": str(folder / "raw"),
        "TRENDS_DATA_DIR": str(folder),
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_sample_and_report() -> int:
    as_of = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=secrets.randbelow(9999))
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            exit_code = main(["--sample", "--as-of", as_of.isoformat()])
        finally:
            sys.stdout = stdout
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}))
    return exit_code


def _report_fetch_phases(database_url: str, delay: float) -> int:
    concurrent = fetch_phase(database_url, concurrent=True, delay=delay)
    sequential = fetch_phase(database_url, concurrent=False, delay=delay)
    print(json.dumps({"concurrent": concurrent, "sequential": sequential}))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "rss":
        sys.exit(_run_sample_and_report())
    sys.exit(_report_fetch_phases(sys.argv[2], float(sys.argv[3])))
