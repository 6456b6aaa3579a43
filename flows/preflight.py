"""Checks of a run's configuration, made before any X API request is spent."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

from pydantic import ValidationError

from flows.settings import TrendsSettings
from tasks.archive import ArchiveError, LocalArchive, RawArchive, open_archive
from tasks.database import DatabaseError, connect, describe_url, embedded_database_url


class ConfigurationError(RuntimeError):
    """A setting that stops the run before it starts; the message is one line."""


@dataclass(frozen=True)
class Destinations:
    """Where a run writes, each checked to be reachable and writable."""

    database_url: str
    archive: RawArchive


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


def check_destinations(settings: TrendsSettings) -> Destinations:
    """Make sure the database answers and the raw archive takes writes.

    Raises:
        ConfigurationError: saying which destination failed and how to fix it.
    """
    try:
        database_url = settings.database_url or embedded_database_url(settings.data_dir)
        _check_database(database_url)
        archive = open_archive(settings.resolved_archive_url)
    except (DatabaseError, ArchiveError) as error:
        raise ConfigurationError(" ".join(str(error).split())) from None

    if isinstance(archive, LocalArchive):
        _check_folder_writable(archive)
    return Destinations(database_url=database_url, archive=archive)


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
