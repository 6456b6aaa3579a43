"""Configuration errors stop a run with one clear line before any API request."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from flows.preflight import ConfigurationError
from flows.trends import daily_trends
from tests.conftest import TEST_TOKEN, with_database
from tests.fake_x_api import FakeXApi, Reply

PROJECT = Path(__file__).parents[1]
PASSWORD = "pw-preflight-31337"


def closed_port() -> int:
    """A loopback port nobody listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_command(
    env: dict[str, str], prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "flows.trends", "--locations", "4118"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT,
    )


@pytest.fixture
def command_env(
    fake_x_api: FakeXApi, database_url: str, tmp_path: Path
) -> dict[str, str]:
    fake_x_api.always(4118, Reply.trends("Leafs"))
    return {
        "X_BEARER_TOKEN": TEST_TOKEN,
        "TRENDS_X_API_URL": fake_x_api.url,
        "TRENDS_DATABASE_URL": database_url,
        "TRENDS_ARCHIVE_URL": str(tmp_path / "raw"),
        "TRENDS_DATA_DIR": str(tmp_path / "data"),
    }


@pytest.mark.parametrize(
    ("database_url", "message"),
    [
        (
            f"postgresql://loader:{PASSWORD}@127.0.0.1:{closed_port()}/trends",
            r"^Cannot connect to PostgreSQL at 127\.0\.0\.1:\d+/trends: .*"
            r"Check that the server runs and TRENDS_DATABASE_URL is right\.$",
        ),
        (
            f"postgresql://loader:{PASSWORD}@127.0.0.1:notaport/trends",
            r"^TRENDS_DATABASE_URL is not a valid PostgreSQL URL: .*port.*"
            r"Use the form postgresql://user:password@host:5432/database\.$",
        ),
        (
            f"mysql://loader:{PASSWORD}@127.0.0.1/trends",
            r"^TRENDS_DATABASE_URL must be a PostgreSQL URL such as",
        ),
    ],
    ids=["unreachable", "bad-port", "not-postgres"],
)
def test_a_bad_database_url_is_one_line_before_any_request(
    command_env: dict[str, str],
    fake_x_api: FakeXApi,
    database_url: str,
    message: str,
) -> None:
    finished = run_command({**command_env, "TRENDS_DATABASE_URL": database_url})

    [line] = finished.stderr.splitlines()
    assert finished.returncode == 2
    assert re.match(message, line), line
    assert PASSWORD not in finished.stderr + finished.stdout
    assert fake_x_api.requests == []


def test_a_read_only_archive_folder_is_one_line_before_any_request(
    command_env: dict[str, str], fake_x_api: FakeXApi, tmp_path: Path
) -> None:
    archive = tmp_path / "read-only-raw"
    archive.mkdir()

    finished = run_command(
        {**command_env, "TRENDS_ARCHIVE_URL": str(archive)},
        prefix=read_only_folder_prefix(archive),
    )

    assert finished.stderr.splitlines() == [
        f"Cannot write to the archive folder {str(archive)!r}: Read-only file "
        "system. Point TRENDS_ARCHIVE_URL at a folder this user can write to."
        if os.geteuid() == 0
        else f"Cannot write to the archive folder {str(archive)!r}: Permission "
        "denied. Point TRENDS_ARCHIVE_URL at a folder this user can write to."
    ]
    assert finished.returncode == 2
    assert fake_x_api.requests == []
    assert list(archive.iterdir()) == []


def test_an_archive_path_inside_a_file_is_one_line_before_any_request(
    command_env: dict[str, str], fake_x_api: FakeXApi, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")

    finished = run_command({**command_env, "TRENDS_ARCHIVE_URL": str(blocker / "raw")})

    assert finished.stderr.splitlines() == [
        f"Cannot create the archive folder {str(blocker / 'raw')!r}: Not a "
        "directory. Point TRENDS_ARCHIVE_URL at a folder you can write to."
    ]
    assert fake_x_api.requests == []


def test_a_database_that_is_not_utf8_is_refused_before_any_request(
    command_env: dict[str, str],
    fake_x_api: FakeXApi,
    postgres_server_url: str,
) -> None:
    name = "xtrends_test_latin1_" + os.urandom(4).hex()
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE \"{name}\" ENCODING 'LATIN1' LC_COLLATE 'C'"
            " LC_CTYPE 'C' TEMPLATE template0"
        )
    try:
        finished = run_command(
            {
                **command_env,
                "TRENDS_DATABASE_URL": with_database(postgres_server_url, name),
            }
        )
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    [line] = finished.stderr.splitlines()
    assert line.endswith(
        "stores text as LATIN1, which cannot hold every trend name; create it "
        "with ENCODING 'UTF8'."
    )
    assert fake_x_api.requests == []


@pytest.mark.usefixtures("trends_env")
def test_the_flow_checks_its_database_before_fetching(
    monkeypatch: pytest.MonkeyPatch, fake_x_api: FakeXApi
) -> None:
    fake_x_api.always(4118, Reply.trends("Leafs"))
    unreachable = f"postgresql://loader:{PASSWORD}@127.0.0.1:{closed_port()}/x"
    monkeypatch.setenv("TRENDS_DATABASE_URL", unreachable)

    with pytest.raises(ConfigurationError, match="Cannot connect") as failed:
        daily_trends(locations=[4118])

    assert PASSWORD not in str(failed.value)
    assert fake_x_api.requests == []


def read_only_folder_prefix(folder: Path) -> list[str]:
    """A command prefix under which folder cannot be written to.

    Permission bits bind every user but root, and tests often run as root; for
    root the folder is bound read-only onto itself inside a private mount
    namespace, which binds root too and disappears with the process.
    """
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return []
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        'mount --bind -o ro "$0" "$0" && exec "$@"',
        str(folder),
    ]


def test_a_missing_bucket_is_one_line_before_any_request(
    command_env: dict[str, str], fake_x_api: FakeXApi, s3_endpoint_url: str
) -> None:
    bucket = "no-such-bucket-" + os.urandom(4).hex()
    aws = {
        "AWS_ENDPOINT_URL": s3_endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing-key-id",
        "AWS_SECRET_ACCESS_KEY": PASSWORD,
        "AWS_REGION": "ca-central-1",
    }

    finished = run_command(
        {**command_env, **aws, "TRENDS_ARCHIVE_URL": f"s3://{bucket}/x"}
    )

    assert finished.stderr.splitlines() == [
        f"The archive bucket {bucket!r} does not exist; create it or fix "
        "TRENDS_ARCHIVE_URL."
    ]
    assert finished.returncode == 2
    assert PASSWORD not in finished.stdout
    assert fake_x_api.requests == []
