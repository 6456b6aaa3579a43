"""The daily flow end to end: fake X API, raw archive folder, real PostgreSQL."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from flows.trends import LocationsFailed, daily_trends, main
from tasks.locations import DEFAULT_WOEIDS
from tests.conftest import TEST_TOKEN
from tests.fake_x_api import FakeXApi, Reply

AS_OF = datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
HOSTILE_NAMES = (
    "#Québec2026",
    "Ottawa 🍁🇨🇦",
    '"Snow Day"',
    "back\\slash \\N",
    "tab\there",
    "Cafe\u0301 combining",
    "مرحبا بالعالم",
    "שלום",
    "  padded  ",
    "'; DROP TABLE trend_observations; --",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 astral 🧑‍🚀",
    "line\nbreak",
    'comma, "quote"',
)


def rows(database_url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(query).fetchall()


def script_default_locations(fake: FakeXApi) -> dict[int, list[str]]:
    names = {
        woeid: [f"#Trend{woeid}_{rank}" for rank in range(1, 6)]
        for woeid in DEFAULT_WOEIDS
    }
    for woeid, listed in names.items():
        fake.always(woeid, Reply.trends(*listed, volumes={listed[0]: 125_000}))
    return names


@pytest.mark.usefixtures("trends_env")
def test_a_run_loads_every_location_with_rank_volume_and_provenance(
    fake_x_api: FakeXApi, database_url: str, archive_dir: Path
) -> None:
    expected = script_default_locations(fake_x_api)

    outcomes = daily_trends(as_of=AS_OF)

    assert [(o.woeid, o.received, o.new, o.present) for o in outcomes] == [
        (woeid, 5, 5, 0) for woeid in DEFAULT_WOEIDS
    ]
    loaded = rows(
        database_url,
        "SELECT woeid, rank, name, tweet_volume, promoted, api_version, as_of,"
        " raw_object_key, flow_run_id IS NOT NULL, is_sample"
        " FROM trend_observations ORDER BY woeid, rank",
    )
    assert len(loaded) == 45
    for (
        woeid,
        rank,
        name,
        volume,
        promoted,
        version,
        as_of,
        key,
        has_run,
        sample,
    ) in loaded:
        assert name == expected[woeid][rank - 1]
        assert volume == (125_000 if rank == 1 else None)
        assert (promoted, version, as_of, has_run, sample) == (
            False,
            "2",
            AS_OF,
            True,
            False,
        )
        assert (archive_dir / key).is_file()
    requests = fake_x_api.requests_for(4118)
    assert [r.query for r in requests] == [{"max_trends": ["50"]}]


@pytest.mark.usefixtures("trends_env")
def test_a_second_run_with_the_same_as_of_inserts_nothing(
    fake_x_api: FakeXApi, database_url: str
) -> None:
    script_default_locations(fake_x_api)
    daily_trends(as_of=AS_OF)

    outcomes = daily_trends(as_of=AS_OF)

    assert all((o.new, o.present) == (0, 5) for o in outcomes)
    assert rows(database_url, "SELECT count(*) FROM trend_observations") == [(45,)]


@pytest.mark.usefixtures("trends_env")
def test_without_as_of_the_snapshot_is_the_fetch_hour(
    fake_x_api: FakeXApi, database_url: str
) -> None:
    fake_x_api.always(4118, Reply.trends("Maple Leafs"))
    before = datetime.now(UTC)

    daily_trends(locations=[4118])

    [(as_of, fetched_at)] = rows(
        database_url, "SELECT as_of, fetched_at FROM trend_observations"
    )
    assert as_of == fetched_at.replace(minute=0, second=0, microsecond=0)
    assert fetched_at >= before


@pytest.mark.usefixtures("trends_env")
def test_names_round_trip_byte_for_byte(
    fake_x_api: FakeXApi, database_url: str
) -> None:
    fake_x_api.always(3534, Reply.trends(*HOSTILE_NAMES))

    daily_trends(locations=[3534], as_of=AS_OF)

    stored = rows(database_url, "SELECT name FROM trend_observations ORDER BY rank")
    assert [name for (name,) in stored] == list(HOSTILE_NAMES)


@pytest.mark.usefixtures("trends_env")
def test_a_name_listed_twice_keeps_its_better_rank(
    fake_x_api: FakeXApi, database_url: str
) -> None:
    fake_x_api.always(4118, Reply.trends("Leafs", "Raptors", "Leafs", "TTC"))

    [outcome] = daily_trends(locations=[4118], as_of=AS_OF)

    assert (outcome.received, outcome.new) == (4, 3)
    assert rows(
        database_url, "SELECT name, rank FROM trend_observations ORDER BY rank"
    ) == [
        ("Leafs", 1),
        ("Raptors", 2),
        ("TTC", 4),
    ]


@pytest.mark.usefixtures("trends_env")
def test_the_raw_response_is_archived_untouched_with_its_metadata(
    fake_x_api: FakeXApi, archive_dir: Path
) -> None:
    body = '{"data":[{"trend_name":"Jets","tweet_count":null}],"extra":"\\/kept"}'
    fake_x_api.always(2972, Reply(body=body.encode()))

    [outcome] = daily_trends(locations=[2972], as_of=AS_OF)

    assert outcome.raw_object_key is not None
    assert (archive_dir / outcome.raw_object_key).read_bytes() == body.encode()
    meta_path = archive_dir / outcome.raw_object_key.replace(".json", ".meta.json")
    meta = json.loads(meta_path.read_text())
    assert meta["request"]["woeid"] == 2972
    assert meta["request"]["url"].endswith("/2/trends/by/woeid/2972?max_trends=50")
    assert meta["request"]["as_of"] == AS_OF.isoformat()
    assert meta["response"]["status_code"] == 200
    assert meta["response"]["headers"]["x-rate-limit-limit"] == "75"
    for path in archive_dir.rglob("*"):
        if path.is_file():
            assert TEST_TOKEN.encode() not in path.read_bytes()


@pytest.mark.usefixtures("trends_env")
def test_a_failed_location_is_archived_and_the_others_still_load(
    fake_x_api: FakeXApi, database_url: str, archive_dir: Path
) -> None:
    fake_x_api.always(4118, Reply.trends("Maple Leafs"))
    fake_x_api.always(3534, Reply(status=200, body=b"<html>maintenance</html>"))

    with pytest.raises(LocationsFailed, match=r"Montreal \(3534\).*not JSON") as failed:
        daily_trends(locations=[4118, 3534], as_of=AS_OF)

    by_woeid = {o.woeid: o for o in failed.value.outcomes}
    assert by_woeid[4118].new == 1 and by_woeid[4118].error is None
    assert by_woeid[3534].new == 0 and by_woeid[3534].raw_object_key is not None
    assert (archive_dir / by_woeid[3534].raw_object_key).read_bytes() == (
        b"<html>maintenance</html>"
    )
    assert rows(database_url, "SELECT woeid FROM trend_observations") == [(4118,)]


@pytest.mark.usefixtures("trends_env")
def test_the_sample_run_loads_marked_rows_without_a_token(
    monkeypatch: pytest.MonkeyPatch, fake_x_api: FakeXApi, database_url: str
) -> None:
    monkeypatch.delenv("X_BEARER_TOKEN")

    outcomes = daily_trends(as_of=AS_OF, sample=True)

    assert len(outcomes) == 9 and all(o.new == o.received > 10 for o in outcomes)
    assert fake_x_api.requests == []
    assert rows(
        database_url,
        "SELECT bool_and(is_sample), count(*) FILTER (WHERE tweet_volume IS NULL) > 0,"
        " count(*) FILTER (WHERE name ~ '[^\\x01-\\x7f]') > 0 FROM trend_observations",
    ) == [(True, True, True)]


@pytest.mark.usefixtures("trends_env")
def test_the_command_prints_a_summary_per_location(
    capsys: pytest.CaptureFixture[str], archive_dir: Path
) -> None:
    exit_code = main(
        ["--sample", "--locations", "4118,3444", "--as-of", "2026-12-03T16:00"]
    )

    printed = capsys.readouterr().out
    assert exit_code == 0
    assert re.search(r"^Toronto +4118 +20 +20 +0 +v2/woeid=4118/", printed, re.M)
    assert re.search(r"^Quebec +3444 +16 +16 +0 +v2/woeid=3444/", printed, re.M)
    assert f"archived under {archive_dir}" in printed


def test_the_command_without_a_token_says_how_to_get_going(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TRENDS_DATA_DIR": str(tmp_path),
    }

    finished = subprocess.run(
        [sys.executable, "-m", "flows.trends"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[1],
    )

    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines() == [
        "No X API token: set X_BEARER_TOKEN to an app-only bearer token, "
        "or pass --sample to run on the bundled sample responses."
    ]
