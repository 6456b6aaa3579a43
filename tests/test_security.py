"""The README's least-privilege loader role; no secret anywhere a run writes."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler

from flows.trends import LocationsFailed, daily_trends
from tasks.database import DatabaseError
from tasks.locations import DEFAULT_WOEIDS
from tests.conftest import TEST_TOKEN
from tests.fake_x_api import FakeXApi, Reply

AS_OF = datetime(2026, 12, 3, 21, tzinfo=UTC)
README = Path(__file__).parents[1] / "README.md"


def loader_grants(role: str, database: str) -> str:
    """The GRANT statements of the README's security section, for this role."""
    text = README.read_text()
    section = text[text.index("### A least-privilege database role") :]
    block = re.search(r"```sql\n(.*?)```", section, re.S)
    assert block, "the README shows the loader's grants in an sql block"
    statements = block[1].replace("trends_loader", role)
    statements = statements.replace("DATABASE trends", f'DATABASE "{database}"')
    return "\n".join(
        line for line in statements.splitlines() if not line.startswith("CREATE ROLE")
    )


@pytest.fixture
def loader_url(database_url: str) -> Iterator[str]:
    """The test database's URL for a new role holding only the README's grants.

    The test server trusts local connections, so the password is never checked,
    but it travels in the URL exactly as a real one would.
    """
    role = f"trends_loader_{secrets.token_hex(4)}"
    password = "pw-" + secrets.token_urlsafe(18)
    parts = urlsplit(database_url)
    database = parts.path.lstrip("/")
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        owner.execute(loader_grants(role, database))
    host = parts.hostname or "127.0.0.1"
    netloc = f"{role}:{password}@{host}:{parts.port or 5432}"
    try:
        yield urlunsplit(parts._replace(netloc=netloc))
    finally:
        with psycopg.connect(database_url, autocommit=True) as owner:
            owner.execute(f"DROP OWNED BY {role}")
            owner.execute(f"DROP ROLE {role}")


def password_of(url: str) -> str:
    password = urlsplit(url).password
    assert password
    return password


@pytest.mark.usefixtures("trends_env")
def test_a_whole_run_leaves_no_token_or_password_anywhere(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fake_x_api: FakeXApi,
    loader_url: str,
    archive_dir: Path,
) -> None:
    secrets_to_find = [TEST_TOKEN, password_of(loader_url)]
    monkeypatch.setenv("TRENDS_DATABASE_URL", loader_url)
    for woeid in DEFAULT_WOEIDS:
        fake_x_api.always(woeid, Reply.trends(f"#Safe{woeid}", "Leafs"))
    fake_x_api.always(3534, Reply.json({"title": "Service Unavailable"}, 503))
    fake_x_api.always(9807, Reply.trends("nul\x00byte"))
    caplog.set_level(logging.DEBUG)

    state = daily_trends(as_of=AS_OF, return_state=True)

    failure = state.result(raise_on_failure=False)
    assert isinstance(failure, LocationsFailed)
    assert sum(o.new for o in failure.outcomes) == 14
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    texts = {
        "exception": f"{failure!s}\n{failure!r}\n{failure.outcomes!r}",
        "caplog": "\n".join(
            f"{record.getMessage()} {record.exc_text or ''} {record.args!r}"
            for record in caplog.records
        ),
        **prefect_records(flow_run_id),
        **{
            f"archive {path.name}": path.read_bytes().decode("utf-8", "replace")
            for path in archive_dir.rglob("*")
            if path.is_file()
        },
    }
    assert len(texts) > 4 and len(texts["prefect logs"]) > 1_000
    for where, text in texts.items():
        for secret in secrets_to_find:
            assert secret not in text, f"a secret leaked into {where}"


def prefect_records(flow_run_id: UUID) -> dict[str, str]:
    """Everything Prefect's API holds about a flow run, as text."""
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
        flow_run = client.read_flow_run(flow_run_id)
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        artifacts = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {
        "prefect logs": "\n".join(log.model_dump_json() for log in logs),
        "prefect flow run": flow_run.model_dump_json(),
        "prefect task runs": "\n".join(run.model_dump_json() for run in task_runs),
        "prefect artifacts": "\n".join(a.model_dump_json() for a in artifacts),
    }


@pytest.mark.usefixtures("trends_env")
def test_the_loader_role_loads_but_cannot_change_the_schema(
    monkeypatch: pytest.MonkeyPatch, fake_x_api: FakeXApi, loader_url: str
) -> None:
    monkeypatch.setenv("TRENDS_DATABASE_URL", loader_url)
    fake_x_api.always(4118, Reply.trends("Leafs", "TTC"))

    [outcome] = daily_trends(locations=[4118], as_of=AS_OF)

    assert (outcome.new, outcome.present) == (2, 0)
    with psycopg.connect(loader_url) as connection:
        for statement in (
            "CREATE TABLE intruder (id int)",
            "DELETE FROM trend_observations",
            "UPDATE trend_observations SET rank = 1",
            "ALTER TABLE trend_observations DROP CONSTRAINT"
            " trend_observations_name_fits_key",
        ):
            with (
                pytest.raises(psycopg.errors.InsufficientPrivilege),
                connection.transaction(),
            ):
                connection.execute(statement)


@pytest.mark.usefixtures("trends_env")
def test_pending_migrations_stop_the_loader_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
    fake_x_api: FakeXApi,
    database_url: str,
    loader_url: str,
) -> None:
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute(
            "DELETE FROM schema_migrations WHERE version = '004_trend_name_limits'"
        )
    monkeypatch.setenv("TRENDS_DATABASE_URL", loader_url)
    fake_x_api.always(4118, Reply.trends("Leafs"))

    with pytest.raises(DatabaseError) as failed:
        daily_trends(locations=[4118], as_of=AS_OF)

    assert str(failed.value).endswith(
        "lacks migrations 004_trend_name_limits, and this role may not apply them "
        "(permission denied for schema public). Run `python -m tasks.database "
        "migrate` with the schema owner's URL first."
    )
    assert password_of(loader_url) not in str(failed.value)
    assert fake_x_api.requests == []
