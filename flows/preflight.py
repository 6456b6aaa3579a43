"""Checks of a run's configuration, made before any X API request is spent."""

from __future__ import annotations

import tempfile

from pydantic import ValidationError

from flows.settings import RunSettings, TrendsSettings, resolve_run_settings
from tasks.archive import ArchiveError, LocalArchive
from tasks.database import DatabaseError, connect, describe_url
from tasks.s3_archive import S3Archive


class ConfigurationError(RuntimeError):
    """A setting that stops the run before it starts; the message is one line."""


def load_settings() -> TrendsSettings:
    """Read the settings from the environment.

    Raises:
        ConfigurationError: naming each invalid variable and its rule, but never
            the value, which may hold a password.
    """
    try:
        return TrendsSettings()
    except ValidationError as error:
        problems = [
            str(problem["msg"]).removeprefix("Value error, ")
            for problem in error.errors(include_input=False, include_url=False)
        ]
        raise ConfigurationError(" ".join(problems)) from None


def prepare_run(
    archive_block: str | None = None,
    database_block: str | None = None,
    token_block: str | None = None,
) -> RunSettings:
    """Resolve where a run reads and writes, and check each place answers.

    Named blocks replace the environment's settings, as in resolve_run_settings.

    Raises:
        ConfigurationError: saying which setting or destination failed and how to
            fix it, in one line.
    """
    environment = load_settings()
    try:
        run = resolve_run_settings(
            environment, archive_block, database_block, token_block
        )
        _check_database(run.database_url)
        if isinstance(run.archive, S3Archive):
            run.archive.check_bucket()
    except (DatabaseError, ArchiveError, ValueError) as error:
        raise ConfigurationError(" ".join(str(error).split())) from None

    if isinstance(run.archive, LocalArchive):
        _check_folder_writable(run.archive)
    return run


def _check_database(url: str) -> None:
    with connect(url) as connection:
        row = connection.execute("SHOW server_encoding").fetchone()
    encoding = row[0] if row else "unknown"
    if encoding != "UTF8":
        raise ConfigurationError(
            f"The database {describe_url(url)} stores text as {encoding}, which "
            "cannot hold every trend name; create it with ENCODING 'UTF8'."
        )


def _check_folder_writable(archive: LocalArchive) -> None:
    # An anonymous temporary file tests the real permission (ACLs, read-only
    # mounts, immutable folders) and leaves nothing behind, even if killed.
    try:
        with tempfile.TemporaryFile(dir=archive.root):
            pass
    except OSError as error:
        raise ConfigurationError(
            f"Cannot write to the archive folder {archive.url!r}: "
            f"{error.strerror or error}. Point TRENDS_ARCHIVE_URL at a folder this "
            "user can write to."
        ) from None
