"""The benchmarks run end to end on tiny sizes, so that they cannot rot."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from benchmarks.data import write_archive_year
from benchmarks.run import main
from tasks.archive import BODY_SUFFIX, META_SUFFIX

SUMMARY = re.compile(
    r"load_vs_copy=\d+\.\d\d dlt_ratio=\d+\.\d reload_speedup=\d+\.\d "
    r"backfill_rows_per_s=\d+ daily_concurrency_speedup=\d+\.\d peak_rss_mb=\d+"
)


def test_every_installed_method_runs_and_the_summary_line_is_last(
    monkeypatch: pytest.MonkeyPatch,
    postgres_server_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRENDS_DATABASE_URL", postgres_server_url)

    exit_code = main(
        [
            "--rows=300",
            "--row-by-row-rows=50",
            "--repetitions=1",
            "--backfill-days=2",
            "--api-delay=0.2",
        ]
    )

    printed = capsys.readouterr().out
    assert exit_code == 0
    assert SUMMARY.fullmatch(printed.strip().splitlines()[-1])
    for method in (
        "our load path",
        "our load path, reload",
        "bare COPY",
        "staging + ON CONFLICT",
        "row-by-row INSERT",
    ):
        assert re.search(rf"^{re.escape(method)} +\d+ ", printed, re.M), method
    # dlt is a benchmark-only extra; the dev environment may lack it.
    has_dlt = importlib.util.find_spec("dlt") is not None
    assert bool(re.search(r"^dlt merge +300 ", printed, re.M)) == has_dlt
    assert "backfill: 18 objects, 900 rows" in printed
    assert re.search(r"peak RSS \d+ MB", printed)


def test_the_generated_archive_is_laid_out_like_the_runs_archive(
    tmp_path: Path,
) -> None:
    written = write_archive_year(tmp_path, days=1)

    keys = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*"))
    assert written == 9 and len(keys) == 18
    bodies = [key for key in keys if not key.endswith(META_SUFFIX)]
    for body in bodies:
        assert re.fullmatch(
            r"v2/woeid=\d+/date=2025-01-01/20250101T16\d{4}\.\d{6}Z-[0-9a-f]{8}\.json",
            body,
        )
        assert body.removesuffix(BODY_SUFFIX) + META_SUFFIX in keys
