"""Resolving WOEIDs to the trend locations the pipeline knows."""

from __future__ import annotations

import pytest

from tasks.locations import DEFAULT_WOEIDS, UnknownLocationError, resolve_locations


def test_the_defaults_are_canada_and_its_eight_trend_cities() -> None:
    names = [location.name for location in resolve_locations(DEFAULT_WOEIDS)]

    assert names == [
        "Canada",
        "Toronto",
        "Montreal",
        "Vancouver",
        "Calgary",
        "Edmonton",
        "Ottawa",
        "Winnipeg",
        "Quebec",
    ]


def test_repeats_are_dropped_and_order_kept() -> None:
    assert [loc.woeid for loc in resolve_locations([4118, 3534, 4118])] == [4118, 3534]


def test_the_province_of_quebec_is_refused_with_the_city_to_use() -> None:
    with pytest.raises(UnknownLocationError, match=r"province of Quebec.*use 3444"):
        resolve_locations([2344924])


def test_an_unknown_woeid_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(
        UnknownLocationError, match=r"woeid 999 is not a known.*Toronto 4118"
    ):
        resolve_locations([999])
