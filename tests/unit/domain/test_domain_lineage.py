"""Lineage: each invoice line points at the source change whose values it
bills, and at the source change that approved its item, with the approver.

The PSA's changes carry Debezium positions (LSN, txId, commit time); the
examples follow the demo: TE-0001 captured at 8 h in tx 701 and corrected
to 6 h in tx 903 after invoicing; TE-0079 captured as submitted in tx 704
and approved in tx 902.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from builders import D, bill, book, contract, rate_card

from domain.provenance import Provenance
from domain.time_entry import TimeEntry
from domain.work_item import WorkItem

JAN5 = date(2026, 1, 5)
CARD = ("consultant", "150.00", date(2026, 1, 1), None)


def cdc(tx: int, lsn: int, key: str, actor: str | None = None) -> Provenance:
    return Provenance(
        "psa",
        f"public.time_entries:{key}:u:{lsn}",
        actor=actor,
        table="public.time_entries",
        key=key,
        lsn=lsn,
        tx_id=str(tx),
        commit_time=datetime(2026, 1, 8, 17, tzinfo=UTC),
    )


def fields(hours: str) -> dict[str, Any]:
    return {
        "project_id": "P1",
        "worker_id": "W1",
        "role": "consultant",
        "work_date": JAN5,
        "hours": D(hours),
        "billable": True,
    }


def line_of(invoice: Any, item_id: str) -> dict[str, Any]:
    [line] = [ln for ln in invoice.lines if ln.get("item_id") == item_id]
    return dict(line)


def test_a_rebill_after_a_correction_points_at_the_correction_not_the_capture() -> None:
    captured = cdc(701, 26_000_108, "TE-0001", actor="pm.grey")
    corrected = cdc(903, 40_000_340, "TE-0001")
    entry = TimeEntry.capture("TE-0001", fields("8"), captured)
    entry.approve("pm.grey", datetime(2026, 1, 8, 17, tzinfo=UTC), captured)
    b = book(contract(), [entry], [rate_card(CARD)])
    [jan] = bill(b, "2026-01")

    entry.revise(fields("6"), corrected)
    invoices = {inv.business_id: inv for inv in bill(b, "2026-02")}

    # January's line billed 8 h captured in tx 701; its credit note negates it as it was
    assert line_of(jan, "TE-0001")["source_record"]["tx_id"] == "701"
    credit = line_of(invoices["GB01-K1-2026-01-C1"], "TE-0001")
    assert (credit["quantity"], credit["source_record"]["tx_id"]) == (D("-8"), "701")
    # February's line bills 6 h: the values of the correction in tx 903
    rebill = line_of(invoices["GB01-K1-2026-02"], "TE-0001")
    assert rebill["quantity"] == D("6")
    assert (rebill["source_record"]["tx_id"], rebill["source_record"]["lsn"]) == ("903", 40_000_340)
    assert rebill["source"] == "psa:public.time_entries[TE-0001] lsn=40000340 tx=903"
    # and at the approval, which the correction did not change
    assert (rebill["approval_record"]["tx_id"], rebill["approved_by"]) == ("701", "pm.grey")


def test_a_line_points_at_the_approval_that_released_its_item() -> None:
    captured = cdc(704, 26_500_000, "TE-0079")
    approved = cdc(902, 40_000_200, "TE-0079", actor="pm.grey")
    entry = TimeEntry.capture("TE-0079", fields("7.5"), captured)
    approved_at = datetime(2026, 2, 3, 9, tzinfo=UTC)
    entry.approve("pm.grey", approved_at, approved)
    b = book(contract(), [entry], [rate_card(CARD)])

    [invoice] = bill(b, "2026-02")
    line = line_of(invoice, "TE-0079")

    assert line["source_record"]["tx_id"] == "704"  # the values billed: as captured
    assert line["approval_record"]["tx_id"] == "902"
    assert line["approval_record"]["lsn"] == 40_000_200
    assert line["approval_source"] == "psa:public.time_entries[TE-0079] lsn=40000200 tx=902"
    assert (line["approved_by"], line["approved_at"]) == ("pm.grey", approved_at)


def test_an_approval_by_webhook_is_named_by_its_delivery_id() -> None:
    entry = TimeEntry.capture("TE-1", fields("2"), cdc(704, 1, "TE-1"))
    accepted = Provenance(
        "psa", "msg_2xyz", delivery_id="msg_2xyz", occurred_at=datetime(2026, 1, 9, tzinfo=UTC)
    )
    entry.approve("c.jones", datetime(2026, 1, 9, tzinfo=UTC), accepted)
    b = book(contract(), [entry], [rate_card(CARD)])

    [invoice] = bill(b, "2026-01")
    line = line_of(invoice, "TE-1")

    assert line["approval_record"]["delivery_id"] == "msg_2xyz"
    assert line["approval_source"] == "psa:webhook msg_2xyz"


def test_lineage_is_state_rebuilt_from_the_events_already_stored() -> None:
    # No event changed shape: replaying an item's stored events (as the
    # repository does) rebuilds the same source and approval, so items
    # recorded before this fix bill with the right lineage too.
    captured, corrected = cdc(701, 1, "TE-1"), cdc(903, 2, "TE-1")
    entry = TimeEntry.capture("TE-1", fields("8"), captured)
    entry.approve("pm.grey", datetime(2026, 1, 8, tzinfo=UTC), captured)
    b = book(contract(), [entry], [rate_card(CARD)])
    bill(b, "2026-01")
    entry.revise(fields("6"), corrected)
    bill(b, "2026-02")

    replayed: WorkItem | None = None
    for stored in entry.collect_events():
        replayed = stored.mutate(replayed)  # type: ignore[arg-type,assignment]

    assert replayed is not None
    assert (replayed.source, replayed.approval) == (corrected, captured)
    assert replayed.source == entry.source and replayed.approval == entry.approval


def test_a_correction_then_a_later_revision_bills_the_latest_change() -> None:
    entry = TimeEntry.capture("TE-1", fields("8"), cdc(701, 1, "TE-1"))
    entry.approve("pm.grey", datetime(2026, 1, 8, tzinfo=UTC), cdc(701, 1, "TE-1"))
    b = book(contract(), [entry], [rate_card(CARD)])
    bill(b, "2026-01")

    entry.revise(fields("6"), cdc(903, 2, "TE-1"))
    entry.revise(fields("5"), cdc(905, 3, "TE-1"))
    invoices = {inv.business_id: inv for inv in bill(b, "2026-02")}

    rebill = line_of(invoices["GB01-K1-2026-02"], "TE-1")
    assert (rebill["quantity"], rebill["source_record"]["tx_id"]) == (D("5"), "905")
