"""Run-time settings of the pipeline, read from the environment when a run starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar, cast

import psycopg
from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from prefect_aws.s3 import S3Bucket
from prefect_sqlalchemy import ConnectionComponents, SqlAlchemyConnector
from psycopg.conninfo import conninfo_to_dict
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from tasks.archive import RawArchive, open_archive
from tasks.database import embedded_database_url, redact_password
from tasks.s3_archive import S3Archive

BlockT = TypeVar("BlockT", bound=Block)

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


class TrendsSettings(BaseSettings):
    """Where the pipeline reads trends from and writes them to.

    Every field maps to one environment variable; nothing is read until the class is
    instantiated, so importing the project never depends on the environment.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    x_bearer_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("X_BEARER_TOKEN", "x_bearer_token"),
        description="App-only bearer token of the X API.",
    )
    x_api_url: str = Field(
        default="https://api.x.com",
        validation_alias=AliasChoices("TRENDS_X_API_URL", "x_api_url"),
        description="Base URL of the X API; tests point it at a local fake.",
    )
    x_api_version: Literal["2", "1.1"] = Field(
        default="2",
        validation_alias=AliasChoices("TRENDS_X_API_VERSION", "x_api_version"),
        description="Trends endpoint to call: v2 by WOEID, or the legacy v1.1 place.",
    )
    database_url: str | None = Field(
        default=None,
        # The URL may carry a password; keep it out of reprs and logged settings.
        repr=False,
        validation_alias=AliasChoices("TRENDS_DATABASE_URL", "database_url"),
        description="PostgreSQL URL; unset means the embedded server under data_dir.",
    )
    archive_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TRENDS_ARCHIVE_URL", "archive_url"),
        description="Folder or s3://bucket/prefix for raw responses; unset means "
        "data_dir/raw.",
    )
    data_dir: Path = Field(
        default=Path(".data"),
        validation_alias=AliasChoices("TRENDS_DATA_DIR", "data_dir"),
        description="Folder for the embedded PostgreSQL and the default archive.",
    )
    catch_up_days: int = Field(
        default=3,
        ge=0,
        le=60,
        validation_alias=AliasChoices("TRENDS_CATCH_UP_DAYS", "catch_up_days"),
        description="How many days back a run lists the archive for objects the "
        "ledger never recorded.",
    )
    x_api_requests_per_window: int = Field(
        default=75,
        ge=1,
        validation_alias=AliasChoices(
            "TRENDS_X_API_REQUESTS_PER_WINDOW", "x_api_requests_per_window"
        ),
        description="X API requests allowed per 15-minute window, for the shared "
        "concurrency limit.",
    )
    max_concurrent_fetches: int = Field(
        default=4,
        ge=1,
        le=16,
        validation_alias=AliasChoices(
            "TRENDS_MAX_CONCURRENT_FETCHES", "max_concurrent_fetches"
        ),
        description="How many locations are fetched at the same time.",
    )

    x_api_timeout: float = Field(
        default=20.0,
        gt=0,
        validation_alias=AliasChoices("TRENDS_X_API_TIMEOUT", "x_api_timeout"),
        description="Seconds to wait for the X API to answer one request.",
    )
    x_api_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        validation_alias=AliasChoices("TRENDS_X_API_RETRIES", "x_api_retries"),
        description="Retries of a fetch after a 5xx answer, a timeout or a lost "
        "connection.",
    )
    x_api_retry_delay: float = Field(
        default=10.0,
        ge=0,
        validation_alias=AliasChoices("TRENDS_X_API_RETRY_DELAY", "x_api_retry_delay"),
        description="Seconds before the first retry; each later retry waits twice "
        "as long, with jitter.",
    )
    max_rate_limit_wait: float = Field(
        default=900.0,
        ge=0,
        validation_alias=AliasChoices(
            "TRENDS_MAX_RATE_LIMIT_WAIT", "max_rate_limit_wait"
        ),
        description="Longest a fetch waits for a rate-limit window to reset, or for "
        "a slot of the shared request budget, before it gives up.",
    )
    strict_request_budget: bool | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "TRENDS_STRICT_REQUEST_BUDGET", "strict_request_budget"
        ),
        description="Fail a fetch when the x-api-requests concurrency limit is "
        "missing; unset means strict in deployments and lenient elsewhere.",
    )

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, url: str | None) -> str | None:
        if url is None or url == "":
            return None
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in POSTGRES_SCHEMES:
            raise ValueError(
                "TRENDS_DATABASE_URL must be a PostgreSQL URL such as "
                "postgresql://user@host:5432/db; got one with scheme "
                f"{scheme or '(none)'!r}. Unset it to use the embedded server."
            )
        try:
            info = conninfo_to_dict(
                url.replace("postgresql+psycopg://", "postgresql://", 1)
            )
        except psycopg.ProgrammingError as error:
            raise ValueError(_malformed_url(redact_password(str(error), url))) from None
        ports = str(info.get("port") or "5432").split(",")
        if not all(port.isdigit() for port in ports):
            raise ValueError(
                _malformed_url(f"port {redact_password(','.join(ports), url)!r}")
            )
        return url

    @field_validator("x_api_url")
    @classmethod
    def _check_api_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(
                f"TRENDS_X_API_URL must start with http:// or https://; got {url!r}."
            )
        return url.rstrip("/")

    @property
    def resolved_archive_url(self) -> str:
        """The archive location, defaulting to a folder under data_dir."""
        return self.archive_url or str(self.data_dir / "raw")


def _malformed_url(problem: str) -> str:
    return (
        f"TRENDS_DATABASE_URL is not a valid PostgreSQL URL: {problem}. Use the form "
        "postgresql://user:password@host:5432/database."
    )


@dataclass(frozen=True)
class RunSettings:
    """What one run reads from and writes to, with named blocks resolved."""

    environment: TrendsSettings
    database_url: str
    archive: RawArchive
    x_bearer_token: SecretStr | None


def resolve_run_settings(
    environment: TrendsSettings,
    archive_block: str | None = None,
    database_block: str | None = None,
    token_block: str | None = None,
) -> RunSettings:
    """Read the environment, then let each named block replace its setting.

    A deployment names its blocks; a laptop names none and runs on the environment.

    Raises:
        ValueError: when a named block does not exist, saying how to create it.
    """
    if database_block:
        connector = _load_block(SqlAlchemyConnector, database_block)
        database_url = database_url_of(connector)
    else:
        database_url = environment.database_url or embedded_database_url(
            environment.data_dir
        )
    archive = (
        S3Archive(_load_block(S3Bucket, archive_block))
        if archive_block
        else open_archive(environment.resolved_archive_url)
    )
    token = (
        SecretStr(_load_block(Secret, token_block).get())
        if token_block
        else environment.x_bearer_token
    )
    return RunSettings(environment, database_url, archive, token)


def database_url_of(connector: SqlAlchemyConnector) -> str:
    """The PostgreSQL URL, password included, that a connector block holds."""
    info = connector.connection_info
    url = (
        info.create_url()
        if isinstance(info, ConnectionComponents)
        else make_url(str(info))
    )
    return url.render_as_string(hide_password=False)


def _load_block(block_type: type[BlockT], name: str) -> BlockT:
    try:
        # Called from synchronous code, load returns the block, never a coroutine.
        return cast(BlockT, block_type.load(name))
    except ValueError as error:
        raise ValueError(
            f"No {block_type.get_block_type_name()} block named {name!r} ({error}). "
            "Create it with python -m blocks, or leave the parameter empty to use "
            "the environment."
        ) from None
