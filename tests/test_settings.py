"""Settings come from the environment when a run starts, and are checked there."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from pydantic import ValidationError

import flows.settings
from flows.settings import TrendsSettings

VARIABLES = (
    "X_BEARER_TOKEN",
    "TRENDS_X_API_URL",
    "TRENDS_X_API_VERSION",
    "TRENDS_DATABASE_URL",
    "TRENDS_ARCHIVE_URL",
    "TRENDS_DATA_DIR",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_use_the_embedded_database_and_a_local_archive() -> None:
    settings = TrendsSettings()

    assert settings.x_bearer_token is None
    assert settings.x_api_url == "https://api.x.com"
    assert settings.x_api_version == "2"
    assert settings.database_url is None
    assert settings.resolved_archive_url == str(Path(".data") / "raw")


def test_every_variable_is_read_when_the_settings_are_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    importlib.reload(flows.settings)
    monkeypatch.setenv("X_BEARER_TOKEN", "secret-token")
    monkeypatch.setenv("TRENDS_X_API_URL", "http://127.0.0.1:9999/")
    monkeypatch.setenv("TRENDS_DATABASE_URL", "postgresql://loader@db:5432/trends")
    monkeypatch.setenv("TRENDS_ARCHIVE_URL", "/srv/raw")

    settings = flows.settings.TrendsSettings()

    assert settings.x_bearer_token is not None
    assert settings.x_bearer_token.get_secret_value() == "secret-token"
    assert "secret-token" not in repr(settings)
    assert settings.x_api_url == "http://127.0.0.1:9999"
    assert settings.database_url == "postgresql://loader@db:5432/trends"
    assert settings.resolved_archive_url == "/srv/raw"


@pytest.mark.parametrize(
    "url", ["mysql://root@db/trends", "db.example.com:5432/trends", "sqlite:///x.db"]
)
def test_a_database_url_that_is_not_postgres_is_refused_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("TRENDS_DATABASE_URL", url)

    with pytest.raises(ValidationError, match="must be a PostgreSQL URL such as"):
        TrendsSettings()


def test_an_api_url_without_a_scheme_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRENDS_X_API_URL", "api.x.com")

    with pytest.raises(ValidationError, match="must start with http:// or https://"):
        TrendsSettings()
