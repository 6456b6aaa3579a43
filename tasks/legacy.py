"""Read the archive of the script this project replaced: one v1.1 body a day."""

from __future__ import annotations

import json
import re
from datetime import date, datetime

from tasks.archive import ArchivedResponse, RawArchive
from tasks.fetch import RawResponse
from tasks.locations import KNOWN_LOCATIONS, Location
from tasks.normalise import SnapshotRejected, parse_v1_body

LEGACY_NAME = re.compile(r"(?:^|/)raw_trending_json_(\d{6})\.json$")


def legacy_keys(
    archive: RawArchive, since: date | None = None, until: date | None = None
) -> list[str]:
    """Keys of the daily legacy bodies, optionally within a range of file dates."""
    keys = []
    for key in archive.keys(""):
        match = LEGACY_NAME.search(key)
        if match is None:
            continue
        day = datetime.strptime(match.group(1), "%y%m%d").date()
        if (since is None or day >= since) and (until is None or day <= until):
            keys.append(key)
    return keys


def read_legacy(archive: RawArchive, key: str) -> ArchivedResponse:
    """Read one legacy body as an archived v1.1 response of the place it names.

    The snapshot time is the body's ``as_of`` and the place its first location; a
    place the project does not know is kept as it is named, of kind ``unknown``.

    Raises:
        SnapshotRejected: when the body is not a v1.1 trend list naming a place.
    """
    source = f"{archive.url}/{key}"
    body = archive.read(key)
    parsed = parse_v1_body(body, f"the legacy object {source}")
    if parsed.woeid is None or parsed.as_of is None:
        raise SnapshotRejected(
            f"The legacy object {source} names no location WOEID; expected "
            "locations[0].woeid in the v1.1 body."
        )
    location = KNOWN_LOCATIONS.get(parsed.woeid) or Location(
        parsed.woeid, parsed.location_name or str(parsed.woeid), "unknown"
    )
    response = RawResponse(
        location=location,
        api_version="1.1",
        request_url=source,
        status_code=200,
        body=body,
        fetched_at=_created_at(body) or parsed.as_of,
        as_of=parsed.as_of,
    )
    return ArchivedResponse(response=response, body_key=source, meta_key="")


def _created_at(body: bytes) -> datetime | None:
    """When X built the list, which is the closest the old script kept to a fetch."""
    try:
        created = json.loads(body)[0].get("created_at")
        moment = datetime.fromisoformat(created)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        return None
    return moment if moment.tzinfo else None
