"""Stored events outlive their classes: a changed event class reads the
events stored by today's class through its upcaster, on a real store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eventsourcing import utils
from eventsourcing.domain import Snapshot

from domain.invoice import Invoice
from domain.provenance import Provenance
from domain.time_entry import TimeEntry
from psledger.app import UnitOfWork
from psledger.bootstrap import Wiring, bootstrap
from psledger.settings import Settings

PSA = Provenance("psa", "public.time_entries:TE-U1:c:1", actor="pm.grey", lsn=1, tx_id="7")
APPROVED_AT = datetime(2026, 1, 8, 17, tzinfo=UTC)


class ApprovedV2(TimeEntry.Approved):  # type: ignore[name-defined,misc]
    """Version 2 of TimeEntry.Approved: `by` is renamed `approver`, and
    `channel` (how the approval arrived) is added, "psa" by default."""

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["approver"] = state.pop("by")
        state.setdefault("channel", "psa")


@pytest.fixture
def wiring(tmp_path: Path) -> Iterator[Wiring]:
    wired = bootstrap(Settings(store=f"sqlite:///{tmp_path}/ledger.db"))
    try:
        yield wired
    finally:
        wired.close()


def store_an_approved_entry(wiring: Wiring) -> TimeEntry:
    fields = {"project_id": "P1", "worker_id": "W1", "role": "consultant"}
    entry = TimeEntry.capture("TE-U1", {**fields, "work_date": date(2026, 1, 5)}, PSA)
    assert isinstance(entry, TimeEntry)
    entry.approve("pm.grey", APPROVED_AT, PSA)
    uow = UnitOfWork(wiring.app)
    uow.add(entry, parent_id="P1")
    uow.commit()
    return entry


def approved_topic(wiring: Wiring, entry: TimeEntry) -> str:
    stored = wiring.app.recorder.select_events(entry.id)
    return next(s.topic for s in stored if s.topic.endswith(".Approved"))


def test_an_event_stored_by_today_s_class_is_read_through_the_upcaster(
    wiring: Wiring, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = store_an_approved_entry(wiring)
    topic = approved_topic(wiring, entry)
    # today's class reads it as stored
    before = wiring.app.aggregate_events(entry.id)[1]
    assert vars(before)["by"] == "pm.grey"

    # when the class changes (the stored topic now names version 2)
    monkeypatch.setitem(utils._topic_cache, topic, ApprovedV2)
    after = wiring.app.aggregate_events(entry.id)[1]

    # then the stored version 1 event is upcast as it is read
    assert isinstance(after, ApprovedV2)
    state = vars(after)
    assert (state["approver"], state["channel"]) == ("pm.grey", "psa")
    assert "by" not in state
    assert state["at"] == APPROVED_AT and state["provenance"] == PSA


def test_an_event_written_by_the_new_class_is_not_upcast_again(
    wiring: Wiring, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = store_an_approved_entry(wiring)
    monkeypatch.setitem(utils._topic_cache, approved_topic(wiring, entry), ApprovedV2)
    old = wiring.app.aggregate_events(entry.id)[1]
    mapper = wiring.app.mapper
    newer = vars(old) | {"channel": "crm-portal"}
    event = object.__new__(ApprovedV2)
    object.__setattr__(event, "__dict__", newer)

    stored = mapper.to_stored_event(event)
    again = mapper.to_domain_event(stored)

    assert b'"class_version":2' in stored.state
    assert (vars(again)["approver"], vars(again)["channel"]) == ("pm.grey", "crm-portal")


def test_a_version_1_invoice_snapshot_is_upcast_with_no_repricing(wiring: Wiring) -> None:
    header = {"kind": "invoice", "tax_rate": Decimal("0.20"), "currency": "GBP"}
    line = {"item_id": "TE-U1", "net": Decimal("300.00"), "quantity": Decimal("2")}
    invoice = Invoice.draft("GB01-K1-2026-01", header, [line], PSA)
    snapshot = Snapshot.take(invoice)
    v1 = {
        k: v
        for k, v in snapshot.state.items()
        if k not in ("class_version", "pending_repricing", "repriced_by")
    }
    old = Snapshot(
        originator_id=snapshot.originator_id,
        originator_version=snapshot.originator_version,
        timestamp=snapshot.timestamp,
        topic=snapshot.topic,
        state=v1,
    )
    stored = wiring.app.mapper.to_stored_event(old)

    restored = wiring.app.mapper.to_domain_event(stored).mutate(None)

    assert isinstance(restored, Invoice)
    assert (restored.pending_repricing, restored.repriced_by) == (None, None)
    assert restored.net == Decimal("300.00") and restored.tax == Decimal("60.00")
