"""The project's Prefect blocks, built from the environment and saved by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from prefect_aws import AwsCredentials
from prefect_aws.s3 import S3Bucket
from prefect_sqlalchemy import ConnectionComponents, SqlAlchemyConnector
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from flows.settings import TrendsSettings
from tasks.budget import (
    BUDGET_WINDOW_SECONDS,
    REQUEST_BUDGET_LIMIT,
    ensure_request_budget,
)
from tasks.database import describe_url
from tasks.s3_archive import aws_credentials_from_env

DATABASE_DRIVER = "postgresql+psycopg"


@dataclass(frozen=True)
class BlockNames:
    """The names the project's blocks are saved under."""

    aws: str = "x-trends-aws"
    archive: str = "x-trends-archive"
    database: str = "x-trends-database"
    token: str = "x-trends-x-token"


def save_project_blocks(
    names: BlockNames, settings: TrendsSettings, report: Callable[[str], None]
) -> None:
    """Register the block types, then create or update each block the environment
    can fill, and the X API request budget.

    Each line reported names a block and what it points at, never a secret.
    """
    for block_type in (AwsCredentials, S3Bucket, SqlAlchemyConnector, Secret):
        block_type.register_type_and_schema()

    credentials = aws_credentials_from_env()
    report(_save(credentials, names.aws) + _describe_credentials(credentials))
    report(_save_archive_bucket(settings.archive_url, credentials, names.archive))
    report(_save_database(settings.database_url, names.database))
    report(_save_token(settings.x_bearer_token, names.token))

    requests = settings.x_api_requests_per_window
    ensure_request_budget(requests)
    report(
        f"Set global concurrency limit {REQUEST_BUDGET_LIMIT!r} to {requests} "
        f"requests per {BUDGET_WINDOW_SECONDS // 60} minutes"
    )


def _save_archive_bucket(
    archive_url: str | None, credentials: AwsCredentials, name: str
) -> str:
    if not archive_url or not archive_url.startswith("s3://"):
        return (
            f"Skipped S3 Bucket {name!r}: TRENDS_ARCHIVE_URL is not an "
            "s3://bucket/prefix URL"
        )
    bucket_name, _, folder = archive_url.removeprefix("s3://").partition("/")
    bucket = S3Bucket(
        bucket_name=bucket_name,
        bucket_folder=folder.strip("/"),
        credentials=credentials,
    )
    return _save(bucket, name) + f" ({archive_url}, with AWS credentials above)"


def _save_database(database_url: str | None, name: str) -> str:
    if not database_url:
        return f"Skipped SQLAlchemy Connector {name!r}: TRENDS_DATABASE_URL is not set"
    connector = SqlAlchemyConnector(connection_info=connection_components(database_url))
    return _save(connector, name) + f" ({describe_url(database_url)})"


def _save_token(token: SecretStr | None, name: str) -> str:
    if token is None:
        return f"Skipped Secret {name!r}: X_BEARER_TOKEN is not set"
    secret: Secret[str] = Secret(value=token)
    return _save(secret, name) + " (the X API bearer token)"


def _describe_credentials(credentials: AwsCredentials) -> str:
    endpoint = credentials.aws_client_parameters.endpoint_url
    key_id = "set" if credentials.aws_access_key_id else "from the AWS config"
    return (
        f" (region {credentials.region_name or 'from the AWS config'}, "
        f"endpoint {endpoint or 'AWS'}, access key {key_id})"
    )


def connection_components(database_url: str) -> ConnectionComponents:
    """The parts of a PostgreSQL URL, for a connector that uses psycopg 3."""
    url = make_url(database_url)
    query = {
        name: value if isinstance(value, str) else ",".join(value)
        for name, value in url.query.items()
    }
    return ConnectionComponents(
        driver=DATABASE_DRIVER,
        username=url.username,
        password=url.password,
        host=url.host,
        port=url.port,
        database=url.database,
        query=query or None,
    )


def _save(block: Block, name: str) -> str:
    kind = block.get_block_type_name()
    try:
        type(block).load(name)
        verb = "Updated"
    except ValueError:
        verb = "Created"
    block.save(name, overwrite=True)
    return f"{verb} {kind} {name!r}"
