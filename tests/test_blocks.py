"""python -m blocks against the Prefect test server, and flows that run on blocks."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL
from prefect_aws.s3 import S3Bucket
from prefect_sqlalchemy import SqlAlchemyConnector
from sqlalchemy.engine import make_url

from blocks.__main__ import main
from flows.preflight import ConfigurationError
from flows.settings import database_url_of
from flows.trends import daily_trends
from tasks.archive import open_archive
from tasks.budget import REQUEST_BUDGET_LIMIT
from tasks.database import describe_url
from tests.conftest import TEST_AWS_SECRET, TEST_TOKEN
from tests.fake_x_api import FakeXApi, Reply

DB_PASSWORD = "db-pw-" + secrets.token_hex(8)


@pytest.fixture
def names() -> list[str]:
    tail = secrets.token_hex(4)
    return [f"{kind}-{tail}" for kind in ("aws", "archive", "database", "token")]


def flags(names: list[str]) -> list[str]:
    return [
        f"--{kind}-block={name}"
        for kind, name in zip(
            ("aws", "archive", "database", "token"), names, strict=True
        )
    ]


@pytest.fixture
def blocks_env(
    monkeypatch: pytest.MonkeyPatch, s3_archive_url: str, trends_env: None
) -> str:
    monkeypatch.setenv("TRENDS_ARCHIVE_URL", s3_archive_url)
    monkeypatch.setenv("TRENDS_X_API_REQUESTS_PER_WINDOW", "60")
    return s3_archive_url


def test_the_command_creates_then_updates_every_block_without_printing_secrets(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    blocks_env: str,
    database_url: str,
    names: list[str],
) -> None:
    with_password = (
        make_url(database_url)
        .set(password=DB_PASSWORD)
        .render_as_string(hide_password=False)
    )
    monkeypatch.setenv("TRENDS_DATABASE_URL", with_password)

    assert main(flags(names)) == 0
    created = capsys.readouterr().out
    assert main(flags(names)) == 0
    updated = capsys.readouterr().out

    aws, archive, database, token = names
    assert f"Created AWS Credentials {aws!r}" in created
    assert f"Created S3 Bucket {archive!r} ({blocks_env}" in created
    assert (
        f"Created SQLAlchemy Connector {database!r} ({describe_url(database_url)})"
        in created
    )
    assert f"Created Secret {token!r}" in created
    assert "Set global concurrency limit 'x-api-requests' to 60 requests" in created
    assert updated.count("Updated ") == 4 and "Created" not in updated
    for secret in (TEST_TOKEN, TEST_AWS_SECRET, DB_PASSWORD):
        assert secret not in created + updated

    bucket = S3Bucket.load(archive)
    assert (bucket.bucket_name, bucket.bucket_folder) == (
        blocks_env.removeprefix("s3://").split("/")[0],
        "raw",
    )
    assert (
        bucket.credentials.aws_client_parameters.endpoint_url
        == os.environ["AWS_ENDPOINT_URL"]
    )
    assert Secret.load(token).get() == TEST_TOKEN
    url = database_url_of(SqlAlchemyConnector.load(database))
    assert make_url(url) == make_url(with_password).set(drivername="postgresql+psycopg")
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(REQUEST_BUDGET_LIMIT)
    assert limit.limit == 60


def test_the_command_skips_what_the_environment_does_not_describe(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    names: list[str],
) -> None:
    monkeypatch.setenv("TRENDS_ARCHIVE_URL", str(tmp_path))
    monkeypatch.delenv("TRENDS_DATABASE_URL", raising=False)
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)

    assert main(flags(names)) == 0

    printed = capsys.readouterr().out
    assert "Skipped S3 Bucket" in printed and "not an s3://bucket/prefix URL" in printed
    assert "Skipped SQLAlchemy Connector" in printed and "Skipped Secret" in printed


def test_the_command_runs_as_a_process_against_the_prefect_server(
    blocks_env: str, names: list[str]
) -> None:
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}

    finished = subprocess.run(
        [sys.executable, "-m", "blocks", *flags(names)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).parents[1],
    )

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.count("Created ") == 4
    for secret in (TEST_TOKEN, TEST_AWS_SECRET):
        assert secret not in finished.stdout + finished.stderr
    assert Secret.load(names[3]).get() == TEST_TOKEN


def test_the_daily_flow_runs_on_blocks_alone(
    monkeypatch: pytest.MonkeyPatch,
    blocks_env: str,
    database_url: str,
    fake_x_api: FakeXApi,
    names: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(flags(names))
    capsys.readouterr()
    for variable in (
        "X_BEARER_TOKEN",
        "TRENDS_DATABASE_URL",
        "TRENDS_ARCHIVE_URL",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        monkeypatch.delenv(variable)
    fake_x_api.always(8775, Reply.trends("Flames", "Stampede"))

    [outcome] = daily_trends(
        locations=[8775],
        as_of=datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
        archive_block=names[1],
        database_block=names[2],
        token_block=names[3],
    )

    assert outcome.new == 2 and outcome.raw_object_key is not None
    with psycopg.connect(database_url) as connection:
        assert connection.execute(
            "SELECT count(*) FROM trend_observations"
        ).fetchone() == (2,)
    monkeypatch.setenv(
        "AWS_ENDPOINT_URL",
        S3Bucket.load(names[1]).credentials.aws_client_parameters.endpoint_url or "",
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_AWS_SECRET)
    body = open_archive(blocks_env).read(outcome.raw_object_key)
    assert b"Flames" in body


def test_a_missing_block_says_how_to_create_it(
    monkeypatch: pytest.MonkeyPatch, trends_env: None
) -> None:
    with pytest.raises(
        ConfigurationError, match=r"No Secret block named 'nowhere'.*python -m blocks"
    ):
        daily_trends(locations=[8775], token_block="nowhere")
