"""Source changes that meet a rejected or credited item.

Two paths the invoice rules leave to the ledger: the PSA changes an item
after the ERP rejected its invoice (before the re-issue), and the PSA marks
an invoiced item non-billable.
"""

from __future__ import annotations

from datetime import date

from builders import ERP, PSA, D, bill, book, contract, rate_card, repo_for, time_entry

from domain import commands as c
from domain.billing import ContractBook
from domain.handlers import handle
from domain.time_entry import TimeEntry


def rejected_january() -> tuple[ContractBook, TimeEntry]:
    """TE-1, 7.5 h at 150.00 (1125.00), invoiced in January and rejected by the ERP."""
    entry = time_entry("TE-1", "7.5", date(2026, 1, 5))
    b = book(contract(), [entry], [rate_card(("consultant", "150.00", date(2026, 1, 1), None))])
    bill(b, "2026-01")
    handle(c.RejectInvoice("GB01-K1-2026-01", "unknown PO", "GB01", ERP), repo_for(b))
    assert (entry.state, entry.reissue_of) == ("billable", "GB01-K1-2026-01")
    return b, entry


def billed_for(b: ContractBook, item_id: str) -> D:
    """Net billed for an item on the invoices that count (issued or posted)."""
    return sum(
        (
            ln["net"]
            for inv in b.invoices.values()
            if inv.counts_as_billed
            for ln in inv.lines
            if ln.get("item_id") == item_id
        ),
        D(0),
    )


def test_an_unchanged_rejected_item_is_billed_once_on_its_reissue() -> None:
    b, entry = rejected_january()

    bill(b, "2026-02")

    assert (entry.state, entry.invoice_number) == ("invoiced", "GB01-K1-2026-01-R1")
    assert billed_for(b, "TE-1") == D("1125.00")  # 7.5 h x 150.00, once


def test_hours_changed_before_the_reissue_are_billed_at_the_new_amount() -> None:
    b, entry = rejected_january()

    # when the PSA corrects TE-1 to 6 h before the next runs
    entry.revise({**entry.fields, "hours": D("6")}, PSA)
    bill(b, "2026-02")
    bill(b, "2026-03")

    # then TE-1 ends invoiced, and what counts as billed for it is 6 h x 150.00 = 900.00
    # (code: R1 bills the old 1125.00 and TE-1 stays approved, never billed again)
    assert entry.state == "invoiced"
    assert billed_for(b, "TE-1") == D("900.00")


def test_an_item_unapproved_before_the_reissue_is_not_billed() -> None:
    b, entry = rejected_january()

    # when the PSA re-opens TE-1 (back to draft) before the next run
    entry.unapprove(PSA)
    bill(b, "2026-02")

    # then nothing is billed for an unapproved item (code: R1 re-issues its 1125.00 line)
    assert entry.state == "planned"
    assert billed_for(b, "TE-1") == D("0")


def test_an_invoiced_item_made_non_billable_is_credited_and_stops_at_approved() -> None:
    entry = time_entry("TE-1", "7.5", date(2026, 1, 5))
    b = book(contract(), [entry], [rate_card(("consultant", "150.00", date(2026, 1, 1), None))])
    bill(b, "2026-01")

    entry.revise({**entry.fields, "billable": False}, PSA)
    [note] = bill(b, "2026-02")

    assert note.business_id == "GB01-K1-2026-01-C1"
    assert [ln["net"] for ln in note.lines] == [D("-1125.00")]  # -(7.5 h x 150.00)
    assert entry.state == "approved"
