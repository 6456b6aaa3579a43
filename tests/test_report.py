"""The chart report: the data behind each chart, the files written, the artifacts."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from flows.report import main, trends_report
from tests.test_views import DAY_1, DAY_2, DAY_3, MONTREAL, OTTAWA, TORONTO, insert

WINNIPEG = 2972
LOCATIONS = [TORONTO, MONTREAL, OTTAWA, WINNIPEG]
FIRST, SECOND, THIRD = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)


@pytest.fixture
def three_days_of_trends(database_url: str) -> None:
    """Three UTC days of trends in three cities, plus rows the report must ignore."""
    insert(
        database_url,
        [
            (TORONTO, DAY_1 - timedelta(days=1), 1, "Before the window", None),
            (TORONTO, DAY_1, 1, "#Budget", None),
            (TORONTO, DAY_1, 2, "Leafs", None),
            (TORONTO, DAY_2, 2, "#Budget", None),
            (TORONTO, DAY_2, 1, "Leafs", None),
            (TORONTO, DAY_3, 3, "#Budget", None),
            (MONTREAL, DAY_1, 1, "Habs", None),
            (MONTREAL, DAY_2, 4, "#Budget", None),
            (OTTAWA, DAY_3 + timedelta(hours=4), 5, "#Budget", None),
        ],
    )
    insert(database_url, [(WINNIPEG, DAY_2, 1, "Sample only", None)], is_sample=True)


@pytest.mark.usefixtures("trends_env", "three_days_of_trends")
def test_each_chart_is_drawn_from_the_rows_of_its_window(tmp_path: Path) -> None:
    report = trends_report(days=3, until=THIRD, locations=LOCATIONS, out=tmp_path)

    bumps = {place.woeid: frame for place, frame in report.data.bumps.items()}
    assert bumps[TORONTO].select("day", "name", "best_rank").rows() == [
        (FIRST, "#Budget", 1),
        (FIRST, "Leafs", 2),
        (SECOND, "Leafs", 1),
        (SECOND, "#Budget", 2),
        (THIRD, "#Budget", 3),
    ]
    assert bumps[MONTREAL].select("day", "name", "best_rank").rows() == [
        (FIRST, "Habs", 1),
        (SECOND, "#Budget", 4),
    ]
    assert bumps[WINNIPEG].is_empty()
    assert report.data.heatmap.rows() == [
        ("Montreal", "#Budget", 1),
        ("Montreal", "Habs", 1),
        ("Ottawa", "#Budget", 1),
        ("Toronto", "#Budget", 3),
        ("Toronto", "Leafs", 2),
    ]
    assert report.data.spread.rows() == [
        ("#Budget", "Toronto", "Toronto", 1, 0.0, 3),
        ("#Budget", "Montreal", "Toronto", 2, 24.0, 3),
        ("#Budget", "Ottawa", "Toronto", 3, 52.0, 3),
    ]


@pytest.mark.usefixtures("trends_env", "three_days_of_trends")
def test_the_report_writes_a_png_per_chart_with_data_and_one_page(
    tmp_path: Path,
) -> None:
    report = trends_report(days=3, until=THIRD, locations=LOCATIONS, out=tmp_path)

    written = sorted(path.name for path in tmp_path.glob("*.png"))
    assert written == sorted(
        ["bump-4118.png", "bump-3534.png", "bump-3369.png", "heatmap.png", "spread.png"]
    )
    for image in report.images:
        assert image.path.read_bytes() == image.png
        assert image.png.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(image.png) > 1_000
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert page.count('<img src="data:image/png;base64,') == 5
    assert "Rank over time in Winnipeg</h2><p>No trends in this window." in page
    assert "2026-11-02 to 2026-11-04 (UTC)" in page


@pytest.mark.usefixtures("trends_env", "three_days_of_trends")
def test_the_report_publishes_every_chart_as_an_artifact(tmp_path: Path) -> None:
    state = trends_report(
        days=3, until=THIRD, locations=LOCATIONS, out=tmp_path, return_state=True
    )
    report = state.result()
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None

    with get_client(sync_client=True) as client:
        artifacts = {
            artifact.key: artifact
            for artifact in client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )
        }

    assert set(artifacts) == {
        "trends-report",
        "trends-report-bump-4118",
        "trends-report-bump-3534",
        "trends-report-bump-3369",
        "trends-report-heatmap",
        "trends-report-spread",
    }
    for image in report.images:
        encoded = base64.b64encode(image.path.read_bytes()).decode()
        assert f"(data:image/png;base64,{encoded})" in artifacts[image.key].data
    index = artifacts["trends-report"].data
    assert str((tmp_path / "index.html").resolve()) in index
    assert "# Trends report, 2026-11-02 to 2026-11-04 (UTC)" in index


@pytest.mark.usefixtures("trends_env", "three_days_of_trends")
def test_the_command_writes_the_report_to_the_folder_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "charts"

    code = main(
        [
            "--days",
            "2",
            "--until",
            "2026-11-04",
            "--locations",
            "4118",
            "--out",
            str(out),
        ]
    )

    assert code == 0
    assert sorted(path.name for path in out.iterdir()) == [
        "bump-4118.png",
        "heatmap.png",
        "index.html",
    ]
    assert str(out / "index.html") in capsys.readouterr().out
