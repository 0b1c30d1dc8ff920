"""Provenance: the business time of a change, and stored provenance read back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import InputError
from domain.provenance import Provenance

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
