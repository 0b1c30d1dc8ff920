"""Provenance: the business time of a change, and stored provenance read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InputError
from domain.provenance import SOURCE_SYSTEMS, Provenance

COMMIT = datetime(2026, 1, 8, 17, tzinfo=UTC)
OCCURRED = datetime(2026, 1, 5, 14, 3, 11, tzinfo=UTC)


def test_a_cdc_change_happened_at_its_source_commit_time() -> None:
    change = Provenance("psa", "r", table="public.time_entries", tx_id="701", commit_time=COMMIT)
    assert change.business_time == COMMIT


def test_a_webhook_happened_at_its_occurred_at() -> None:
    delivery = Provenance(
        "crm", "evt_crm_000184", delivery_id="evt_crm_000184", occurred_at=OCCURRED
    )
    assert delivery.business_time == OCCURRED


def test_the_ledgers_own_changes_have_no_business_time() -> None:
    assert Provenance("ledger", "billing-run:2026-01").business_time is None


def test_occurred_at_survives_storage_and_older_stored_provenance_still_loads() -> None:
    delivery = Provenance("crm", "evt_1", delivery_id="evt_1", occurred_at=OCCURRED)

    stored = delivery.to_dict()

    assert stored["occurred_at"] == "2026-01-05T14:03:11+00:00"
    assert Provenance.from_dict(stored) == delivery
    older = {"source_system": "crm", "record_id": "evt_1", "delivery_id": "evt_1"}
    assert Provenance.from_dict(older).occurred_at is None


def test_occurred_at_must_carry_a_timezone() -> None:
    with pytest.raises(InputError, match="occurred_at must be timezone-aware"):
        Provenance("crm", "evt_1", occurred_at=datetime(2026, 1, 5))


def _optional(values: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.none() | values


instants = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))]))
provenances = st.builds(
    Provenance,
    source_system=st.sampled_from(sorted(SOURCE_SYSTEMS)),
    record_id=st.text(min_size=1),
    actor=_optional(st.text()),
    correlation_id=_optional(st.text()),
    table=_optional(st.text()),
    key=_optional(st.text()),
    lsn=_optional(st.integers(min_value=0)),
    tx_id=_optional(st.text()),
    commit_time=_optional(instants),
    delivery_id=_optional(st.text()),
    rule_version=_optional(st.text()),
    occurred_at=_optional(instants),
    topic=_optional(st.text()),
    partition=_optional(st.integers(min_value=0)),
    offset=_optional(st.integers(min_value=0)),
)


@settings(max_examples=300, deadline=None)
@given(provenances)
def test_any_provenance_read_back_from_its_stored_form_is_the_same(provenance: Provenance) -> None:
    read = Provenance.from_dict(provenance.to_dict())
    assert read == provenance
    assert [getattr(read, n) for n in Provenance.__slots__] == [
        getattr(provenance, n) for n in Provenance.__slots__
    ]


@pytest.mark.parametrize(
    ("stored", "error", "says"),
    [
        ({"source_system": "psa", "record_id": "r", "colour": "red"}, TypeError, "colour"),
        ({"source_system": "psa"}, TypeError, "record_id"),
        ({"source_system": "fax", "record_id": "r"}, InputError, "unknown source system"),
        ({"source_system": "psa", "record_id": ""}, InputError, "source record"),
        (
            {"source_system": "psa", "record_id": "r", "commit_time": "2026-01-08T17:00:00"},
            InputError,
            "commit_time must be timezone-aware",
        ),
    ],
    ids=["unknown-field", "missing-field", "unknown-system", "empty-record", "naive-instant"],
)
def test_stored_provenance_that_the_constructor_would_refuse_is_refused(
    stored: dict[str, str], error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        Provenance.from_dict(stored)
