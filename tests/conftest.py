"""Shared fixtures: a Prefect test harness, a real PostgreSQL, and the fake X API.

Prefect reads its home folder when it is first imported, so the environment is set
before anything imports it.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

_PREFECT_HOME = tempfile.mkdtemp(prefix="x-trends-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = os.path.join(_PREFECT_HOME, "storage")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# Tests call some tasks' functions directly, outside any flow run; their log lines
# stay local instead of warning that no run exists to send them to.
os.environ["PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW"] = "ignore"

import psycopg  # noqa: E402
import pytest  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

from tasks.budget import ensure_request_budget  # noqa: E402
from tasks.database import migrate  # noqa: E402
from tests.fake_x_api import FakeXApi  # noqa: E402

pytest_plugins = ["tests.prefect_server"]

TEST_TOKEN = "test-bearer-" + secrets.token_hex(12)
# Wide enough that no test waits for a slot unless it narrows the budget itself.
TEST_REQUESTS_PER_WINDOW = 100_000
TEST_AWS_SECRET = "test-aws-secret-" + secrets.token_hex(12)


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """The URL of a PostgreSQL server: TRENDS_DATABASE_URL's, or an embedded one."""
    url = os.environ.get("TRENDS_DATABASE_URL")
    if url:
        yield url
        return
    import pgserver

    # As root, pgserver runs PostgreSQL as another user and opens the folders above
    # its data to it; each pytest session that starts closes pytest's temporary root
    # to other users again, so the data lives outside that root.
    data = Path(tempfile.mkdtemp(prefix="x-trends-pg-"))
    server = pgserver.get_server(data, cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@pytest.fixture
def empty_database_url(postgres_server_url: str) -> Iterator[str]:
    """A new, empty database of this test's own on the server, dropped afterwards."""
    name = f"xtrends_test_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(postgres_server_url, name)
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A database of this test's own with the project's schema."""
    migrate(empty_database_url)
    return empty_database_url


@pytest.fixture
def fake_x_api() -> Iterator[FakeXApi]:
    with FakeXApi(token=TEST_TOKEN).running() as fake:
        yield fake


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "raw"


@pytest.fixture
def trends_env(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    fake_x_api: FakeXApi,
    archive_dir: Path,
    tmp_path: Path,
) -> None:
    """Point every setting of the pipeline at this test's database, fake and folder.

    Retries follow at once, and the shared request budget is wide open.
    """
    monkeypatch.setenv("X_BEARER_TOKEN", TEST_TOKEN)
    monkeypatch.setenv("TRENDS_X_API_URL", fake_x_api.url)
    monkeypatch.setenv("TRENDS_DATABASE_URL", database_url)
    monkeypatch.setenv("TRENDS_ARCHIVE_URL", str(archive_dir))
    monkeypatch.setenv("TRENDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRENDS_X_API_RETRY_DELAY", "0")
    ensure_request_budget(TEST_REQUESTS_PER_WINDOW)


@pytest.fixture(params=["folder", "s3"])
def archive_url(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    archive_dir: Path,
    trends_env: None,
) -> str:
    """The test's archive, once as a local folder and once on moto's S3 server."""
    if request.param == "folder":
        return str(archive_dir)
    url: str = request.getfixturevalue("s3_archive_url")
    monkeypatch.setenv("TRENDS_ARCHIVE_URL", url)
    return url


def with_database(url: str, name: str) -> str:
    """The same server URL with another database name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def s3_endpoint_url() -> Iterator[str]:
    """The URL of moto's S3 server on loopback, shared by the session's tests."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_archive_url(monkeypatch: pytest.MonkeyPatch, s3_endpoint_url: str) -> str:
    """An empty bucket of this test's own; the environment points boto3 at it."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_AWS_SECRET)
    monkeypatch.setenv("AWS_REGION", "ca-central-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"x-trends-{secrets.token_hex(6)}"
    boto3.client("s3").create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": "ca-central-1"},
    )
    return f"s3://{bucket}/raw"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll condition until it holds, failing the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {what}")
        time.sleep(0.05)
