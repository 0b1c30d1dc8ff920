"""Event state through orjson: the library's bytes when written, the library's
values when read."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.provenance import Provenance
from psledger.app import LedgerApplication
from psledger.store.transcoder import OrjsonTranscoder


def transcoders() -> tuple[JSONTranscoder, OrjsonTranscoder]:
    """The library's transcoder and psledger's, with the same transcodings."""
    app = LedgerApplication.__new__(LedgerApplication)
    library, ours = JSONTranscoder(), OrjsonTranscoder()
    app.register_transcodings(library)
    app.register_transcodings(ours)
    return library, ours


LIBRARY, OURS = transcoders()

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(),
    st.datetimes(timezones=st.just(UTC)),
    st.uuids(),
    st.builds(
        Provenance,
        source_system=st.sampled_from(["psa", "crm", "ledger"]),
        record_id=st.text(min_size=1),
        lsn=st.none() | st.integers(min_value=0, max_value=2**62),
        commit_time=st.none() | st.datetimes(timezones=st.just(UTC)),
    ),
)
# Objects with some of a transcoded value's keys, to be kept as they are.
lookalikes = st.fixed_dictionaries({"_type_": st.text()}) | st.fixed_dictionaries(
    {"_type_": st.text(), "_data_": st.text(), "other": st.integers()}
)
states = st.recursive(
    leaves | lookalikes,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=25,
)


class Colour(enum.Enum):
    RED = "red"


class Tag(str):
    """A subclass of a built-in type: the library writes it as a string."""


# What orjson writes itself, or refuses, where the library writes otherwise.
awkward = st.one_of(
    st.floats(),  # NaN and infinities included
    st.just(Colour.RED),
    st.text().map(Tag),
    st.integers(min_value=2**64 - 2, max_value=2**80) | st.integers(max_value=-(2**63) + 1),
    st.sampled_from(["\ud800", "a\udfffb"]),  # lone surrogates
    st.dictionaries(st.integers() | st.booleans() | st.none(), st.integers(), min_size=1),
    st.tuples(st.integers(), st.text()),
)
encodable = st.recursive(
    leaves | lookalikes | awkward,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=25,
)


def library_bytes(state: Any) -> bytes | BaseException:
    try:
        return LIBRARY.encode(state)
    except Exception as exc:  # the error is what is compared
        return exc


@settings(max_examples=400, deadline=None)
@given(encodable)
def test_any_state_is_written_as_the_library_writes_it(state: Any) -> None:
    expected = library_bytes(state)
    if isinstance(expected, BaseException):
        with pytest.raises(type(expected)):
            OURS.encode(state)
    else:
        assert OURS.encode(state) == expected


def test_a_state_of_plain_and_registered_values_is_written_by_orjson() -> None:
    state = {
        "hours": Decimal("7.50"),
        "on": date(2026, 1, 7),
        "lines": [{"at": datetime(2026, 1, 9, 17, tzinfo=UTC), "n": (1, "x"), "ok": None}],
        "provenance": Provenance("psa", "r-1", lsn=7, commit_time=datetime(2026, 1, 9, tzinfo=UTC)),
        "text": 'quote " backslash \\ control \x01 \n tab \t unicode é ☃ \u2028',
    }
    assert OURS.encode(state) == LIBRARY.encode(state)
    assert OURS._plain(state.values())  # not the library's code under another name
    for awkward_value in (1.5, UUID(int=7), Colour.RED, Tag("x")):
        assert not OURS._plain({"x": [{"y": awkward_value}]}.values())


@settings(max_examples=400, deadline=None)
@given(states)
def test_any_encoded_state_decodes_as_the_library_decodes_it(state: Any) -> None:
    encoded = LIBRARY.encode(state)
    assert OURS.decode(encoded) == LIBRARY.decode(encoded)


def test_a_typed_value_inside_a_typed_value_is_decoded_innermost_first() -> None:
    provenance = Provenance("psa", "r-1", commit_time=datetime(2026, 1, 9, 17, tzinfo=UTC))
    state = {
        "at": [{"when": date(2026, 1, 7), "hours": Decimal("7.50")}],
        "provenance": provenance,
        "id": UUID(int=7),
    }
    encoded = LIBRARY.encode(state)
    assert b'"_type_":"provenance"' in encoded
    assert OURS.decode(encoded) == state
    top_level = LIBRARY.encode(Decimal("1.10"))
    assert OURS.decode(top_level) == Decimal("1.10")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"x":NaN,"y":{"_type_":"decimal_str","_data_":"1"}}',
        b'{"s":"\\ud800"}',
        b'{"n":-9223372036854775809,"m":18446744073709551616}',
        b'{"n":123456789012345678901234567890}',
    ],
    ids=["nan", "lone-surrogate", "beyond-64-bits", "long-integer"],
)
def test_what_orjson_refuses_or_would_misread_is_read_by_the_library(raw: bytes) -> None:
    decoded = OURS.decode(raw)
    assert repr(decoded) == repr(LIBRARY.decode(raw))


def test_an_unknown_transcoding_is_the_library_error() -> None:
    raw = b'{"x":{"_type_":"nope","_data_":"1"}}'
    with pytest.raises(TranscodingNotRegisteredError, match="'nope'"):
        OURS.decode(raw)
