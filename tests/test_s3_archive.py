"""The S3 archive against moto's S3 server: same keys and bytes as the folder."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import boto3
import psycopg
import pytest
from moto.server import ThreadedMotoServer
from prefect import flow

from flows.trends import LocationsFailed, daily_trends
from tasks.archive import (
    ArchivedResponse,
    LocalArchive,
    ObjectExists,
    RawArchive,
    archive_response,
    open_archive,
)
from tasks.fetch import RawResponse
from tasks.locations import KNOWN_LOCATIONS
from tasks.s3_archive import S3Archive
from tests.conftest import TEST_AWS_SECRET, TEST_TOKEN, wait_for
from tests.fake_x_api import FakeXApi, Reply

AS_OF = datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
KEY_PATTERN = re.compile(
    r"^v2/woeid=(\d+)/date=\d{4}-\d{2}-\d{2}/\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}"
    r"\.(json|meta\.json)$"
)


@pytest.fixture(params=["folder", "s3"])
def any_archive(
    request: pytest.FixtureRequest, tmp_path: Path, s3_archive_url: str
) -> RawArchive:
    url = str(tmp_path / "raw") if request.param == "folder" else s3_archive_url
    return open_archive(url)


def test_both_archives_store_list_and_return_the_same_objects(
    any_archive: RawArchive,
) -> None:
    any_archive.write("v2/woeid=4118/date=2026-12-03/a.json", b'{"data":[]}')
    any_archive.write("v2/woeid=4118/date=2026-12-04/b.json", "Québec 🍁".encode())
    any_archive.write("v2/woeid=41180/date=2026-12-03/c.json", b"other place")

    assert list(any_archive.keys("v2/woeid=4118/")) == [
        "v2/woeid=4118/date=2026-12-03/a.json",
        "v2/woeid=4118/date=2026-12-04/b.json",
    ]
    assert list(
        any_archive.keys("v2/woeid=4118/", start_after="v2/woeid=4118/date=2026-12-04")
    ) == ["v2/woeid=4118/date=2026-12-04/b.json"]
    assert any_archive.read("v2/woeid=4118/date=2026-12-04/b.json") == (
        "Québec 🍁".encode()
    )


def test_an_object_is_never_overwritten(any_archive: RawArchive) -> None:
    key = "v2/woeid=3534/date=2026-12-03/x.json"
    any_archive.write(key, b"first")

    any_archive.write(key, b"first")  # a retry of the same write is harmless
    with pytest.raises(ObjectExists, match="never overwritten"):
        any_archive.write(key, b"second")

    assert any_archive.read(key) == b"first"


def test_s3_keys_live_under_the_url_prefix(s3_archive_url: str) -> None:
    archive = open_archive(s3_archive_url)
    archive.write("v2/woeid=9807/date=2026-12-03/x.json", b"{}")

    bucket = s3_archive_url.removeprefix("s3://").split("/")[0]
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]
    assert [entry["Key"] for entry in listed] == [
        "raw/v2/woeid=9807/date=2026-12-03/x.json"
    ]
    assert isinstance(archive, S3Archive)
    assert archive.url == s3_archive_url


@pytest.mark.usefixtures("trends_env")
def test_the_daily_flow_archives_to_s3_byte_for_byte(
    monkeypatch: pytest.MonkeyPatch, fake_x_api: FakeXApi, s3_archive_url: str
) -> None:
    monkeypatch.setenv("TRENDS_ARCHIVE_URL", s3_archive_url)
    bodies = {
        4118: '{"data":[{"trend_name":"Leafs","tweet_count":31000}]}',
        3444: '{"data":[{"trend_name":"#Carnaval de Québec","tweet_count":null}]}',
    }
    for woeid, body in bodies.items():
        fake_x_api.always(woeid, Reply(body=body.encode()))

    outcomes = daily_trends(locations=[4118, 3444], as_of=AS_OF)

    archive = open_archive(s3_archive_url)
    keys = list(archive.keys("v2/"))
    assert len(keys) == 4 and all(KEY_PATTERN.match(key) for key in keys)
    for outcome in outcomes:
        assert outcome.raw_object_key is not None
        body = archive.read(outcome.raw_object_key)
        assert body == bodies[outcome.woeid].encode()
        meta_key = outcome.raw_object_key.removesuffix(".json") + ".meta.json"
        meta = json.loads(archive.read(meta_key))
        assert meta["request"]["woeid"] == outcome.woeid
        assert meta["response"]["body_key"] == outcome.raw_object_key
        assert TEST_TOKEN.encode() not in body + archive.read(meta_key)
        assert TEST_AWS_SECRET.encode() not in archive.read(meta_key)


class FlakyArchive(LocalArchive):
    """A folder archive whose first write fails as a dropped connection would."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.attempts = 0

    def write(self, key: str, data: bytes) -> None:
        self.attempts += 1
        if self.attempts == 1:
            raise ConnectionResetError("connection reset by peer")
        super().write(key, data)


def sample_response() -> RawResponse:
    moment = datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
    return RawResponse(
        location=KNOWN_LOCATIONS[2972],
        api_version="2",
        request_url="https://api.x.com/2/trends/by/woeid/2972?max_trends=50",
        status_code=200,
        body=b'{"data":[{"trend_name":"Jets"}]}',
        fetched_at=moment,
        as_of=moment,
    )


def test_a_failed_archive_write_is_retried(tmp_path: Path) -> None:
    archive = FlakyArchive(tmp_path)

    @flow
    def archive_once() -> ArchivedResponse:
        return archive_response(sample_response(), archive)

    archived = archive_once()

    assert archive.attempts == 3  # the failed body, then the body and its metadata
    assert archive.read(archived.body_key) == b'{"data":[{"trend_name":"Jets"}]}'


@pytest.mark.usefixtures("trends_env")
def test_a_response_that_cannot_be_archived_is_not_loaded_and_fails_its_location(
    monkeypatch: pytest.MonkeyPatch, fake_x_api: FakeXApi, database_url: str
) -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_AWS_SECRET)
    monkeypatch.setenv("AWS_REGION", "ca-central-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    boto3.client("s3").create_bucket(
        Bucket="x-trends-lost",
        CreateBucketConfiguration={"LocationConstraint": "ca-central-1"},
    )
    monkeypatch.setenv("TRENDS_ARCHIVE_URL", "s3://x-trends-lost/raw")
    # The answer comes late, so the storage is gone by the time it is archived.
    fake_x_api.always(4118, Reply(body=b'{"data":[{"trend_name":"Leafs"}]}', delay=2))

    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            run = pool.submit(
                daily_trends,
                locations=[4118],
                as_of=AS_OF,
                refresh=True,
                return_state=True,
            )
            wait_for(lambda: len(fake_x_api.requests) > 0, 120, "the fetch")
            server.stop()
            state = run.result(timeout=300)
    finally:
        server.stop()

    failure = state.result(raise_on_failure=False)
    assert isinstance(failure, LocationsFailed)
    assert re.fullmatch(
        r"1 of 1 locations failed:\nToronto \(4118\): Could not archive the response"
        r" to s3://x-trends-lost/raw: .+ It is not loaded; make the archive "
        r"storage reachable and run again\.",
        str(failure),
    ), str(failure)
    with psycopg.connect(database_url) as connection:
        assert connection.execute(
            "SELECT (SELECT count(*) FROM trend_observations),"
            " (SELECT count(*) FROM raw_objects)"
        ).fetchone() == (0, 0)
