"""Replay of the raw archive and import of the legacy archive, folder and S3."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import boto3
import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import Artifact

from flows.backfill import backfill, main
from flows.trends import daily_trends
from tests.fake_x_api import FakeXApi, Reply

CITIES = [23424775, 4118, 9807]
HOURS = [datetime(2026, 12, 3, hour, 0, tzinfo=UTC) for hour in (9, 13, 17)]
ROW_QUERY = (
    "SELECT woeid, as_of, rank, name, tweet_volume, api_version, raw_object_key"
    " FROM trend_observations ORDER BY woeid, as_of, rank"
)


def rows(database_url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(query).fetchall()


def empty_tables(database_url: str) -> None:
    with psycopg.connect(database_url) as connection:
        connection.execute("DELETE FROM trend_observations")
        connection.execute("DELETE FROM raw_objects")


def test_a_replay_rebuilds_the_rows_and_a_second_one_inserts_nothing(
    fake_x_api: FakeXApi, database_url: str, archive_url: str
) -> None:
    fake_x_api.always(23424775, Reply.trends("#CanadaDay", "Poilievre", "Carney"))
    fake_x_api.always(4118, Reply.trends("Leafs", "TTC", volumes={"Leafs": 52_000}))
    fake_x_api.always(9807, Reply.trends("Canucks", "#VanRain", "BC Ferries"))
    for hour in HOURS:
        daily_trends(locations=CITIES, as_of=hour)
    loaded = rows(database_url, ROW_QUERY)
    empty_tables(database_url)
    today = datetime.now(UTC).date()

    state = backfill(
        since=today, until=today, locations=CITIES, batch_rows=10, return_state=True
    )
    first = state.result()
    second = backfill(since=today, until=today, locations=CITIES)

    assert rows(database_url, ROW_QUERY) == loaded
    assert len(loaded) == 24
    assert (first.summary.objects, first.summary.loaded) == (9, 9)
    assert (first.summary.new_rows, first.summary.present_rows) == (24, 0)
    assert (second.summary.new_rows, second.summary.present_rows) == (0, 24)
    assert rows(
        database_url, "SELECT state, count(*) FROM raw_objects GROUP BY state"
    ) == [("loaded", 9)]
    artifacts = {a.type: a for a in run_artifacts(state.state_details.flow_run_id)}
    assert artifacts["progress"].data == 100.0
    assert "Loaded 9 snapshots: 24 new trend rows" in str(artifacts["markdown"].data)


def run_artifacts(flow_run_id: UUID | None) -> list[Artifact]:
    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
            )
        )


@pytest.mark.usefixtures("trends_env")
def test_a_replay_outside_the_dates_or_locations_reads_nothing(
    fake_x_api: FakeXApi, database_url: str
) -> None:
    fake_x_api.always(4118, Reply.trends("Leafs"))
    daily_trends(locations=[4118], as_of=HOURS[0])
    today = datetime.now(UTC).date()

    before = backfill(since=date(2026, 1, 1), until=date(2026, 1, 31))
    elsewhere = backfill(since=today, locations=[3534])

    assert before.summary.objects == elsewhere.summary.objects == 0


def legacy_body(
    woeid: int, name: str, as_of: str, trends: list[tuple[str, int | None]]
) -> bytes:
    document = [
        {
            "trends": [
                {
                    "name": trend,
                    "url": f"http://twitter.com/search?q={trend.replace('#', '%23')}",
                    "promoted_content": None,
                    "query": trend.replace("#", "%23").replace(" ", "+"),
                    "tweet_volume": volume,
                }
                for trend, volume in trends
            ],
            "as_of": as_of,
            "created_at": as_of.replace(":43Z", ":11Z"),
            "locations": [{"name": name, "woeid": woeid}],
        }
    ]
    return json.dumps(document).encode()


LEGACY_FILES = {
    "raw_trending_json_190419.json": legacy_body(
        23424775,
        "Canada",
        "2019-04-19T08:43:43Z",
        [("#GoodFriday", 212_840), ("Raptors", 48_211), ("#Québec", None)],
    ),
    "raw_trending_json_190420.json": legacy_body(
        4118,
        "Toronto",
        "2019-04-20T08:43:43Z",
        [("#WeTheNorth", 91_034), ("TTC", None)],
    ),
    "raw_trending_json_190421.json": legacy_body(
        4177, "Halifax", "2019-04-21T08:43:43Z", [("#Bluenose", None)]
    ),
    "raw_trending_json_190422.json": b"<html>Rate limit exceeded</html>",
    "notes.txt": b"moved to the new pipeline",
}


@pytest.fixture(params=["folder", "s3"])
def legacy_url(request: pytest.FixtureRequest, tmp_path: Path, trends_env: None) -> str:
    if request.param == "folder":
        folder = tmp_path / "legacy"
        folder.mkdir()
        for name, body in LEGACY_FILES.items():
            (folder / name).write_bytes(body)
        return str(folder)
    url: str = request.getfixturevalue("s3_archive_url")
    bucket = url.removeprefix("s3://").split("/")[0]
    client = boto3.client("s3")
    for name, body in LEGACY_FILES.items():
        client.put_object(Bucket=bucket, Key=f"old-script/{name}", Body=body)
    return f"s3://{bucket}/old-script/"


def test_the_legacy_archive_imports_once_with_its_own_time_and_places(
    database_url: str, legacy_url: str
) -> None:
    first = backfill(legacy_url=legacy_url)
    second = backfill(legacy_url=legacy_url)

    assert (first.summary.objects, first.summary.new_rows) == (4, 6)
    assert (second.summary.new_rows, second.summary.present_rows) == (0, 6)
    [(broken, reason)] = first.summary.unreadable.items()
    assert broken.endswith("raw_trending_json_190422.json") and "not" in reason
    assert rows(
        database_url,
        "SELECT woeid, as_of, rank, name, tweet_volume, query, api_version"
        " FROM trend_observations ORDER BY as_of, rank",
    ) == [
        (23424775, datetime(2019, 4, 19, 8, 43, 43, tzinfo=UTC), 1, "#GoodFriday",
         212_840, "%23GoodFriday", "1.1"),
        (23424775, datetime(2019, 4, 19, 8, 43, 43, tzinfo=UTC), 2, "Raptors",
         48_211, "Raptors", "1.1"),
        (23424775, datetime(2019, 4, 19, 8, 43, 43, tzinfo=UTC), 3, "#Québec",
         None, "%23Québec", "1.1"),
        (4118, datetime(2019, 4, 20, 8, 43, 43, tzinfo=UTC), 1, "#WeTheNorth",
         91_034, "%23WeTheNorth", "1.1"),
        (4118, datetime(2019, 4, 20, 8, 43, 43, tzinfo=UTC), 2, "TTC", None, "TTC",
         "1.1"),
        (4177, datetime(2019, 4, 21, 8, 43, 43, tzinfo=UTC), 1, "#Bluenose", None,
         "%23Bluenose", "1.1"),
    ]  # fmt: skip
    assert rows(
        database_url, "SELECT name, kind FROM locations WHERE woeid = 4177"
    ) == [("Halifax", "unknown")]
    [(key,)] = rows(
        database_url,
        "SELECT DISTINCT raw_object_key FROM trend_observations WHERE woeid = 4118",
    )
    assert key == f"{legacy_url.rstrip('/')}/raw_trending_json_190420.json"


@pytest.mark.usefixtures("trends_env")
def test_the_command_imports_a_range_of_legacy_days_and_prints_a_summary(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "legacy"
    folder.mkdir()
    for name, body in LEGACY_FILES.items():
        (folder / name).write_bytes(body)

    exit_code = main(
        ["--legacy", str(folder), "--since", "2019-04-20", "--until", "2019-04-21"]
    )

    printed = capsys.readouterr().out
    assert exit_code == 0
    assert f"Replayed 2 raw objects from {folder}" in printed
    assert "Loaded 2 snapshots: 3 new trend rows, 0 already present" in printed
    assert rows(database_url, "SELECT count(*) FROM trend_observations") == [(3,)]


def test_the_command_needs_a_start_date_or_a_legacy_archive(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([])

    assert stopped.value.code == 2
    assert "pass --since DATE to replay the archive, or --legacy URL" in (
        capsys.readouterr().err
    )
