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
from prefect.client.schemas.objects import State

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

    def keys(self, prefix: str = "", start_after: str = "") -> Iterator[str]:
        """Yield the keys that start with prefix, in order, after start_after."""
        ...


class ArchiveError(RuntimeError):
    """The archive could not be opened or written."""


class ObjectExists(ArchiveError):
    """A key already holds an object with other bytes; raw objects are write-once."""


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
        try:
            with path.open("xb") as stream:
                stream.write(data)
        except FileExistsError:
            # A retried write whose first attempt landed finds its own bytes there.
            if path.read_bytes() != data:
                raise ObjectExists(
                    f"{path} already holds another object; raw objects are never "
                    "overwritten. Archive the response under a new key."
                ) from None

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def keys(self, prefix: str = "", start_after: str = "") -> Iterator[str]:
        # Walk only the folder the prefix names, not the whole archive.
        folder = self.root / prefix.rpartition("/")[0]
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*"), key=lambda p: p.as_posix()):
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix) and key > start_after and path.is_file():
                yield key


def open_archive(url: str) -> RawArchive:
    """Open the archive at a folder path, a file:// URL or an s3://bucket/prefix URL.

    An s3:// archive uses the AWS credentials, region and endpoint of the
    environment, as boto3 would.

    Raises:
        ArchiveError: when the folder cannot be created or written to.
    """
    if url.startswith("s3://"):
        from tasks.s3_archive import open_s3_archive  # the S3 module imports this one

        return open_s3_archive(url)
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


def _is_transient(task: Any, task_run: Any, state: State[Any]) -> bool:
    """Retry a failed write unless the key is taken, which no retry can fix."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, ObjectExists)


@task(
    name="archive-response",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[1, 5, 15],
    retry_condition_fn=_is_transient,
)
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

    try:
        archive.write(body_key, response.body)
        archive.write(meta_key, _metadata(response, body_key))
    except ArchiveError:
        raise
    except Exception as error:
        # Any storage failure (a lost connection, a gone bucket, a full disk) means
        # the response is not kept, so it must not be loaded either.
        raise ArchiveError(
            f"Could not archive the response to {archive.url}: "
            f"{' '.join(str(error).split()) or type(error).__name__}. It is not "
            "loaded; make the archive storage reachable and run again."
        ) from error

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
