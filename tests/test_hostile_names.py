"""Hostile trend names: each is stored exactly, or its snapshot is refused by a rule.

The properties generate names from all of Unicode, lone surrogates and NUL
included, mixed with SQL and COPY metacharacters and stretched to 10,000
characters, and check normalise and load against an oracle written apart from
the code.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from flows.trends import LocationsFailed, daily_trends
from tasks.archive import ArchivedResponse
from tasks.fetch import RawResponse
from tasks.load import load_trends
from tasks.locations import KNOWN_LOCATIONS
from tasks.normalise import MAX_NAME_BYTES, SnapshotRejected, normalise_trends
from tests.fake_x_api import FakeXApi, Reply

AS_OF = datetime(2026, 12, 3, 21, tzinfo=UTC)
TORONTO = KNOWN_LOCATIONS[4118]
FRAGMENTS = (
    "\\.",
    "\\N",
    "\\",
    "\t",
    "\n",
    "\r\n",
    '"',
    "'",
    ",",
    "'; DROP TABLE trend_observations; --",
    "$$",
    "E'\\x00'",
    "%s",
    "{}",
    "\x00",
    "\ud800",
    "\udfff",
    "🇨🇦",
    "🧑‍🚀",
    "\u0301",
    "\u202e",
    "\ufeff",
    "\uffff",
    "\U0010ffff",
)
any_character = st.characters(codec=None, exclude_categories=())
name_parts = st.one_of(
    st.text(any_character, min_size=1, max_size=12),
    st.sampled_from(FRAGMENTS),
)
short_names = st.lists(name_parts, min_size=1, max_size=6).map("".join)
long_names = st.builds(
    lambda part, times: (part * times)[:10_000],
    name_parts,
    st.integers(min_value=100, max_value=10_000),
)
trend_names = st.one_of(short_names, short_names, short_names, long_names)
storable_names = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40
) | st.sampled_from([f for f in FRAGMENTS if f not in ("\x00", "\ud800", "\udfff")])
name_lists = st.lists(trend_names, min_size=1, max_size=50) | st.lists(
    storable_names, min_size=1, max_size=50
)


def broken_rule(names: list[str]) -> str | None:
    """The rule the first unstorable name breaks, as the rejection should say it."""
    for position, name in enumerate(names, start=1):
        prefix = f"Trend {position} of Toronto \\(4118\\)"
        if "\x00" in name:
            return f"{prefix} contains a NUL byte"
        if any(0xD800 <= ord(character) <= 0xDFFF for character in name):
            return f"{prefix} contains the lone surrogate"
        if len(name.encode()) > MAX_NAME_BYTES:
            return f"{prefix} is .* UTF-8 bytes\\) long"
    return None


def first_listings(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def archived(names: list[str]) -> ArchivedResponse:
    # ensure_ascii writes lone surrogates as \ud800 escapes, as a JSON sender may.
    body = json.dumps({"data": [{"trend_name": name} for name in names]}).encode()
    response = RawResponse(
        location=TORONTO,
        api_version="2",
        request_url="http://fake/2/trends/by/woeid/4118?max_trends=50",
        status_code=200,
        body=body,
        fetched_at=AS_OF,
        as_of=AS_OF,
    )
    return ArchivedResponse(response, "v2/hostile.json", "v2/hostile.meta.json")


@settings(max_examples=400, deadline=None)
@given(names=name_lists)
def test_normalise_keeps_every_name_exactly_or_names_the_rule(
    names: list[str],
) -> None:
    rule = broken_rule(names)
    event("rejected" if rule else "stored")

    if rule is not None:
        with pytest.raises(SnapshotRejected, match=rule) as rejected:
            normalise_trends.fn(archived(names), None)
        assert len(str(rejected.value)) < 400
        return
    snapshot = normalise_trends.fn(archived(names), None)
    assert snapshot.trends["name"].to_list() == first_listings(names)
    assert snapshot.received == len(names)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(names=name_lists)
def test_loaded_names_read_back_exactly(database_url: str, names: list[str]) -> None:
    rule = broken_rule(names)
    event("rejected" if rule else "loaded")
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("DELETE FROM trend_observations")

    try:
        snapshot = normalise_trends.fn(archived(names), None)
    except SnapshotRejected as rejected:
        assert rule is not None and re.search(rule, str(rejected))
        return
    [counts] = load_trends([snapshot], database_url)

    expected = first_listings(names)
    with psycopg.connect(database_url) as connection:
        stored = connection.execute(
            "SELECT name FROM trend_observations ORDER BY rank"
        ).fetchall()
    assert rule is None
    assert [name for (name,) in stored] == expected
    assert (counts.new, counts.present) == (len(expected), 0)


EMOJI_AT_LIMIT = "🍁" * (MAX_NAME_BYTES // 4)
STORED_AS_SENT = (
    "\\.",
    "line one\n\\.\nline three",
    "tab\tseparated\tvalues",
    "\\N",
    'He said "hi", then left',
    "'); DELETE FROM locations; --",
    "\r\n",
    "\u202eright-to-left override",
    "\ufeffbyte order mark",
    "🧑‍🚀🇨🇦\U0010ffff",
    EMOJI_AT_LIMIT,
)


@pytest.mark.usefixtures("trends_env")
def test_hostile_responses_load_exactly_or_fail_only_their_location(
    fake_x_api: FakeXApi, database_url: str, archive_dir: Path
) -> None:
    raw_bodies = {
        3534: b'{"data":[{"trend_name":"fine"},{"trend_name":"nul\\u0000byte"}]}',
        9807: b'{"data":[{"trend_name":"lone \\ud800 surrogate"}]}',
        8775: json.dumps({"data": [{"trend_name": "x" * 10_000}]}).encode(),
        8676: b'{"data":[{"trend_name":"\xff\xfe not UTF-8"}]}',
        3369: json.dumps(
            {"data": [{"trend_name": f"#{n}"} for n in range(51)]}
        ).encode(),
        2972: b'{"data":[{"trend_name":"big","tweet_count":9223372036854775808}]}',
    }
    fake_x_api.always(4118, Reply.trends(*STORED_AS_SENT))
    for woeid, body in raw_bodies.items():
        fake_x_api.always(woeid, Reply(body=body))

    with pytest.raises(LocationsFailed) as failed:
        daily_trends(locations=[4118, *raw_bodies], as_of=AS_OF)

    errors = {o.woeid: o.error for o in failed.value.outcomes}
    assert errors[4118] is None
    assert errors[3534] == (
        "Trend 2 of Montreal (3534) contains a NUL byte at character 4, which "
        "PostgreSQL text cannot hold: 'nul\\x00byte'."
    )
    assert errors[9807] == (
        "Trend 1 of Vancouver (9807) contains the lone surrogate U+D800 at "
        "character 6, which is not a Unicode character and has no UTF-8 form: "
        "'lone \\ud800 surrogate'."
    )
    assert str(errors[8775]).startswith(
        "Trend 1 of Calgary (8775) is 10,000 characters (10,000 UTF-8 bytes) long; "
        "names over 2,000 bytes do not fit the key of trend_observations:"
    )
    assert "not JSON" in str(errors[8676])
    assert "lists 51 trends; a trend list holds at most 50" in str(errors[3369])
    assert "more than PostgreSQL bigint holds" in str(errors[2972])
    with psycopg.connect(database_url) as connection:
        stored = connection.execute(
            "SELECT woeid, name FROM trend_observations ORDER BY rank"
        ).fetchall()
    assert stored == [(4118, name) for name in STORED_AS_SENT]
    for outcome in failed.value.outcomes:
        if outcome.woeid in raw_bodies:
            key = str(outcome.raw_object_key)
            assert (archive_dir / key).read_bytes() == raw_bodies[outcome.woeid]
