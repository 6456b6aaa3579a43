"""The trend locations the pipeline knows, keyed by Yahoo WOEID."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

LocationKind = Literal["worldwide", "country", "town", "unknown"]


@dataclass(frozen=True)
class Location:
    """A place X publishes a trend list for."""

    woeid: int
    name: str
    kind: LocationKind
    country_code: str | None = None


CANADA = Location(23424775, "Canada", "country", "CA")
CANADIAN_CITIES = (
    Location(4118, "Toronto", "town", "CA"),
    Location(3534, "Montreal", "town", "CA"),
    Location(9807, "Vancouver", "town", "CA"),
    Location(8775, "Calgary", "town", "CA"),
    Location(8676, "Edmonton", "town", "CA"),
    Location(3369, "Ottawa", "town", "CA"),
    Location(2972, "Winnipeg", "town", "CA"),
    Location(3444, "Quebec", "town", "CA"),
)
KNOWN_LOCATIONS: dict[int, Location] = {
    location.woeid: location
    for location in (
        Location(1, "Worldwide", "worldwide"),
        CANADA,
        *CANADIAN_CITIES,
        Location(23424977, "United States", "country", "US"),
    )
}
DEFAULT_WOEIDS: tuple[int, ...] = (CANADA.woeid, *(c.woeid for c in CANADIAN_CITIES))

# Places people reach for that X has no trend list for, and the WOEID to use instead.
NOT_TREND_LOCATIONS: dict[int, str] = {
    2344924: "the province of Quebec, not a trend location; use 3444 for Quebec City",
}


class UnknownLocationError(ValueError):
    """A WOEID that X publishes no trend list for."""


def resolve_locations(woeids: Iterable[int]) -> list[Location]:
    """Look up each WOEID, keeping the order given and dropping repeats.

    Raises:
        UnknownLocationError: for the first WOEID that is not a known trend location.
    """
    locations: dict[int, Location] = {}
    for woeid in woeids:
        if woeid in NOT_TREND_LOCATIONS:
            raise UnknownLocationError(
                f"woeid {woeid} is {NOT_TREND_LOCATIONS[woeid]}."
            )
        if woeid not in KNOWN_LOCATIONS:
            known = ", ".join(
                f"{loc.name} {loc.woeid}" for loc in KNOWN_LOCATIONS.values()
            )
            raise UnknownLocationError(
                f"woeid {woeid} is not a known trend location; known ones are {known}."
            )
        locations.setdefault(woeid, KNOWN_LOCATIONS[woeid])
    return list(locations.values())
