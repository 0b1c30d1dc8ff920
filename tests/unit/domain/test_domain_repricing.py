"""Repricing: a rule change becomes a proposal, an approval, then a credit
note and a rebill in the next billing run. Amounts are computed by hand."""

from __future__ import annotations

import copy
from datetime import date

import pytest
from builders import (
    LEDGER,
    PSA,
    REFERENCE_RULES,
    RULES,
    D,
    at,
    bill,
    book,
    collect,
    contract,
    event_names,
    rate_card,
    time_entry,
)

from domain.billing import ContractBook
from domain.errors import TransitionRefused
from domain.invoice import Invoice
from domain.repricing import reprice_invoice
from domain.repricing_proposals import approve_in_book, propose
from domain.rules import RuleSet

JAN = "GB01-K1-2026-01"
WHEN = at(date(2026, 2, 10))


def uk_vat(rate: str) -> RuleSet:
    data = copy.deepcopy(REFERENCE_RULES)
    data["tax_codes"]["GB-VAT-STD"]["rate"] = rate
    return RuleSet.from_mapping(data)


def january() -> ContractBook:
    """TE-1 2 h and TE-2 1 h at 150.00: 450.00 net, 90.00 VAT at 20%."""
    card = rate_card(("consultant", "150.00", date(2026, 1, 1), None))
    entries = [
        time_entry("TE-1", "2", date(2026, 1, 5)),
        time_entry("TE-2", "1", date(2026, 1, 6)),
    ]
    b = book(contract(), list(entries), [card])
    bill(b, "2026-01")
    collect(b)
    return b


def test_a_lower_vat_rate_proposes_a_credit_note_and_a_rebill_of_every_line() -> None:
    b = january()
    invoice = b.invoices[JAN]
    new = uk_vat("0.175")

    proposal = propose(invoice, reprice_invoice(invoice, b, new), [], new)

    assert proposal is not None
    assert (proposal.credit_note, proposal.rebill) == (f"{JAN}-C1", f"{JAN}-R1")
    assert proposal.credit_totals == (D("-450.00"), D("-90.00"), D("-540.00"))
    # 450.00 x 0.175 = 78.75
    assert proposal.rebill_totals == (D("450.00"), D("78.75"), D("528.75"))
    assert (proposal.old_rule_version, proposal.new_rule_version) == (RULES.version, new.version)
    assert collect(b) == []  # proposing changes nothing


def test_the_same_rules_propose_nothing() -> None:
    b = january()
    invoice = b.invoices[JAN]
    assert propose(invoice, reprice_invoice(invoice, b, RULES), [], RULES) is None


def test_an_approval_is_issued_by_the_next_run_under_the_approved_rules() -> None:
    b = january()
    new = uk_vat("0.175")

    approved = approve_in_book(b, new, "2026-01", "fin@ledger", WHEN, LEDGER)

    assert [p.number for p in approved] == [JAN]
    events = collect(b)
    assert event_names(events) == ["RepricingApproved"]
    assert (events[0].rule_version, events[0].by) == (new.version, "fin@ledger")
    assert approve_in_book(b, new, "2026-01", "fin@ledger", WHEN, LEDGER) == []
    assert collect(b) == []

    # the next run has the old rules configured: the approved ones decide
    drafted = {inv.business_id: inv for inv in bill(b, "2026-02")}

    credit, rebill = drafted[f"{JAN}-C1"], drafted[f"{JAN}-R1"]
    assert (credit.net, credit.tax, credit.gross) == (D("-450.00"), D("-90.00"), D("-540.00"))
    assert (rebill.net, rebill.tax, rebill.gross) == (D("450.00"), D("78.75"), D("528.75"))
    assert credit.header["rule_version"] == RULES.version
    assert rebill.header["rule_version"] == new.version
    assert rebill.header["approved_by"] == "fin@ledger"
    assert [ln["credits_line"] for ln in credit.lines] == [1, 2]
    original = b.invoices[JAN]
    assert original.repriced_by == f"{JAN}-R1" and original.pending_repricing is None
    collect(b)
    assert bill(b, "2026-02") == []
    assert approve_in_book(b, new, "2026-01", "fin@ledger", WHEN, LEDGER) == []


def test_a_line_corrected_after_the_approval_is_credited_once() -> None:
    b = january()
    approve_in_book(b, uk_vat("0.175"), None, "fin@ledger", WHEN, LEDGER)
    te1 = next(i for i in b.items if i.business_id == "TE-1")
    te1.revise({**te1.fields, "hours": D("3")}, PSA)

    drafted = {inv.business_id: inv for inv in bill(b, "2026-02")}

    # the correction credits TE-1 (C1, -300.00); the repricing only TE-2 (C2, -150.00)
    assert [ln["item_id"] for ln in drafted[f"{JAN}-C1"].lines] == ["TE-1"]
    assert [ln["item_id"] for ln in drafted[f"{JAN}-C2"].lines] == ["TE-2"]
    rebill = drafted[f"{JAN}-R1"]
    # 150.00 x 0.175 = 26.25
    assert (rebill.net, rebill.tax) == (D("150.00"), D("26.25"))


def test_a_credit_note_or_a_draft_cannot_be_repriced() -> None:
    b = january()
    note_lines = [{**ln, "net": -ln["net"]} for ln in b.invoices[JAN].lines]
    note = Invoice.draft(
        f"{JAN}-C9", {**b.invoices[JAN].header, "kind": "credit_note"}, note_lines, LEDGER
    )
    with pytest.raises(TransitionRefused, match="re-price"):
        note.approve_repricing("v2", D("0.175"), [], [], "fin", WHEN, LEDGER)
    with pytest.raises(TransitionRefused, match="never approved"):
        b.invoices[JAN].record_repricing(f"{JAN}-C1", f"{JAN}-R1", LEDGER)
