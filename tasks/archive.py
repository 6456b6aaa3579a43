"""The raw archive: every response stored untouched before anything is loaded."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.fetch import RawResponse

BODY_SUFFIX = ".json"
META_SUFFIX = ".meta.json"


class RawArchive(Protocol):
    """Write-once object storage for raw responses, addressed by key."""

    @property
    def url(self) -> str:
        """Where the archive lives, for people to read: a folder or an s3:// URL."""
        ...

    def write(self, key: str, data: bytes) -> None:
        """Store data under key; fail rather than overwrite an existing object."""
        ...

    def read(self, key: str) -> bytes:
        """Return the object stored under key."""
        ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Yield the keys that start with prefix."""
        ...


class ArchiveError(RuntimeError):
    """The archive could not be opened or written."""


@dataclass(frozen=True)
class ArchivedResponse:
    """A raw response and the keys it was archived under."""

    response: RawResponse
    body_key: str
    meta_key: str


class LocalArchive:
    """A folder on the local disk laid out like the S3 archive."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def url(self) -> str:
        return str(self.root)

    def write(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as stream:
            stream.write(data)

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def keys(self, prefix: str = "") -> Iterator[str]:
        for path in sorted(self.root.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix):
                yield key


def open_archive(url: str) -> RawArchive:
    """Open the archive at a folder path or file:// URL.

    Raises:
        ArchiveError: when the folder cannot be created or written to.
    """
    if url.startswith("s3://"):
        raise ArchiveError(
            f"Archive URL {url!r} needs the S3 archive, which this build lacks; "
            "set TRENDS_ARCHIVE_URL to a local folder."
        )
    root = Path(url.removeprefix("file://")).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ArchiveError(
            f"Cannot create the archive folder {str(root)!r}: {error.strerror}. "
            "Point TRENDS_ARCHIVE_URL at a folder you can write to."
        ) from error
    return LocalArchive(root)


def raw_object_stem(response: RawResponse) -> str:
    """The key of a response without its suffix, unique for every fetch.

    Keys are partitioned by API version, WOEID and fetch date so that a person or a
    query engine can find a day's objects; the fetch instant to the microsecond and
    a random tail keep two fetches in the same second apart.
    """
    fetched = response.fetched_at
    return (
        f"v{response.api_version}/woeid={response.location.woeid}"
        f"/date={fetched:%Y-%m-%d}"
        f"/{fetched:%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(4)}"
    )


@task(name="archive-response", cache_policy=NO_CACHE)
def archive_response(response: RawResponse, archive: RawArchive) -> ArchivedResponse:
    """Store the response body untouched, then its request and response metadata.

    The metadata object is written last: its presence marks a complete archive entry.
    """
    logger = get_run_logger()
    stem = raw_object_stem(response)
    body_key, meta_key = stem + BODY_SUFFIX, stem + META_SUFFIX
    logger.info(
        "Archiving %d bytes of %s (%d) to %s/%s",
        len(response.body),
        response.location.name,
        response.location.woeid,
        archive.url,
        body_key,
    )

    archive.write(body_key, response.body)
    archive.write(meta_key, _metadata(response, body_key))

    logger.info("Archived %s and its metadata", body_key)
    return ArchivedResponse(response=response, body_key=body_key, meta_key=meta_key)


def _metadata(response: RawResponse, body_key: str) -> bytes:
    document: dict[str, Any] = {
        "request": {
            "method": "GET",
            "url": response.request_url,
            "woeid": response.location.woeid,
            "location_name": response.location.name,
            "api_version": response.api_version,
            "as_of": response.as_of.isoformat(),
            "fetched_at": response.fetched_at.isoformat(),
            "sample": response.is_sample,
        },
        "response": {
            "status_code": response.status_code,
            "headers": response.headers,
            "body_key": body_key,
            "body_bytes": len(response.body),
            "body_sha256": hashlib.sha256(response.body).hexdigest(),
        },
    }
    return json.dumps(document, indent=2, ensure_ascii=False).encode()
