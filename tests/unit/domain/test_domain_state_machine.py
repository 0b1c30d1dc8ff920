"""The work-item state machine of BILLING_RULES.md, pair by pair.

planned --> approved --> billable --> invoiced --> posted
   ^           |            |            |            |
   +-----------+            |            |            |
               ^------------+            |            |
                            ^------------+            |
                            ^-------------------------+
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from itertools import product
from typing import Any

import pytest
from builders import ERP, LEDGER, PSA, D, event_names, time_entry

from domain.errors import TransitionRefused
from domain.time_entry import TimeEntry
from domain.work_item import STATES, TRANSITIONS

# The diagram, written out by hand.
DIAGRAM = {
    ("planned", "approved"),
    ("approved", "planned"),
    ("approved", "billable"),
    ("billable", "approved"),
    ("billable", "invoiced"),
    ("invoiced", "billable"),
    ("invoiced", "posted"),
    ("posted", "billable"),
}

LINES: list[dict[str, Any]] = [{"item_id": "TE-1", "part": "full", "net": D("1125.00")}]
INVOICE = "GB01-K1-2026-01"


def entry_in(state: str) -> TimeEntry:
    """TE-1 (7.5 h on 2026-01-05) walked to `state`; its events collected."""
    entry = time_entry("TE-1", "7.5", date(2026, 1, 5), approved=False)
    if state != "planned":
        entry.approve("pm@psa", None, PSA)
    if state in ("billable", "invoiced", "posted"):
        entry.price(LINES, LEDGER)
    if state in ("invoiced", "posted"):
        entry.invoice(INVOICE, LEDGER)
    if state == "posted":
        entry.post("ERP-1", ERP)
        entry.revise({**entry.fields, "hours": D("5")}, PSA)  # a correction, to credit
    assert entry.state == state
    entry.collect_events()
    return entry


def attempt(source: str, target: str) -> tuple[Callable[[TimeEntry], None], str]:
    """The command that asks for source -> target, and how it names the change."""
    if target == "planned":
        return (lambda e: e.unapprove(PSA)), "un-approve it"
    if target == "approved" and source in ("planned", "approved"):
        return (lambda e: e.approve("pm@psa", None, PSA)), "approve"
    if target == "approved":
        return (
            lambda e: e.hold("project_on_hold", "P1 on hold", LEDGER)
        ), "record exception project_on_hold"
    if target == "billable" and source == "invoiced":
        return (lambda e: e.return_for_reissue(INVOICE, ERP)), "return it from rejected invoice"
    if target == "billable" and source == "posted":
        return (lambda e: e.credit(f"{INVOICE}-C1", LEDGER)), "credit it on"
    if target == "billable":
        return (lambda e: e.price(LINES, LEDGER)), "price it"
    if target == "invoiced":
        return (lambda e: e.invoice("GB01-K1-2026-02", LEDGER)), "invoice it on GB01-K1-2026-02"
    return (lambda e: e.post("ERP-9", ERP)), "post it as ERP-9"


MOVES, REFUSED, NO_OP, VIA_APPROVED = "moves", "refused", "no-op", "via approved"
# Every one of the 25 (state, state) pairs and what its command does.
EXPECTED: dict[tuple[str, str], str] = {
    **{pair: MOVES for pair in DIAGRAM},
    ("planned", "planned"): NO_OP,  # un-approving a planned item
    ("planned", "billable"): REFUSED,
    ("planned", "invoiced"): REFUSED,
    ("planned", "posted"): REFUSED,
    ("approved", "approved"): NO_OP,  # approving an approved item
    ("approved", "invoiced"): REFUSED,
    ("approved", "posted"): REFUSED,
    ("billable", "planned"): VIA_APPROVED,  # un-approved in the PSA: unpriced first
    ("billable", "billable"): NO_OP,  # re-pricing with the same lines
    ("billable", "posted"): REFUSED,
    ("invoiced", "planned"): REFUSED,
    ("invoiced", "approved"): REFUSED,
    ("invoiced", "invoiced"): REFUSED,
    ("posted", "planned"): REFUSED,
    ("posted", "approved"): REFUSED,
    ("posted", "invoiced"): REFUSED,
    ("posted", "posted"): REFUSED,
}


def test_the_transition_table_is_the_diagram() -> None:
    assert set(TRANSITIONS) == DIAGRAM
    assert len(EXPECTED) == 25


@pytest.mark.parametrize(("source", "target"), [p for p in product(STATES, STATES)])
def test_each_pair_of_states(source: str, target: str) -> None:
    # given an item in the source state
    entry = entry_in(source)
    command, attempted = attempt(source, target)
    outcome = EXPECTED[(source, target)]

    if outcome == REFUSED:
        # when the change is asked for, then it is refused, naming item, state and change
        with pytest.raises(TransitionRefused) as refused:
            command(entry)
        assert refused.value.entity == "time entry TE-1"
        assert refused.value.state == source
        assert refused.value.attempted.startswith(attempted)
        assert str(refused.value).startswith(f"time entry TE-1 is {source}; cannot {attempted}")
        # and nothing is appended, nothing changes
        assert entry.pending_events == []
        assert entry.state == source
        return

    command(entry)
    events = event_names(entry.collect_events())
    if outcome == NO_OP:
        assert events == []
        assert entry.state == source
    elif outcome == VIA_APPROVED:
        assert events == ["Unpriced", "Unapproved"]
        assert entry.state == "planned"
    else:
        assert entry.state == target
        assert len(events) >= 1


def test_approving_records_who_and_when() -> None:
    entry = entry_in("planned")
    entry.approve("pm@psa", None, PSA)
    assert (entry.state, entry.approved_by) == ("approved", "pm@psa")
    assert event_names(entry.collect_events()) == ["Approved"]


def test_a_billing_hold_unprices_a_billable_item_but_nte_leaves_it_billable() -> None:
    held, capped = entry_in("billable"), entry_in("billable")

    held.hold("no_rate", "no rate for consultant", LEDGER)
    capped.hold("nte_exceeded", "over the cap", LEDGER)

    assert (held.state, held.priced, held.exception["code"]) == ("approved", [], "no_rate")
    assert event_names(held.collect_events()) == ["Unpriced", "ExceptionRaised"]
    assert (capped.state, capped.priced) == ("billable", LINES)
    assert event_names(capped.collect_events()) == ["ExceptionRaised"]


def test_the_same_exception_twice_appends_nothing() -> None:
    entry = entry_in("approved")
    entry.hold("no_rate", "no rate for consultant", LEDGER)
    entry.collect_events()
    entry.hold("no_rate", "no rate for consultant", LEDGER)
    assert entry.pending_events == []


def test_crediting_without_a_correction_is_refused() -> None:
    entry = entry_in("invoiced")
    with pytest.raises(TransitionRefused, match="cannot credit it without a correction"):
        entry.credit(f"{INVOICE}-C1", LEDGER)
    assert entry.pending_events == []


def test_a_money_change_after_invoicing_is_a_correction_not_an_edit() -> None:
    # given an invoiced entry of 7.5 h
    entry = entry_in("invoiced")

    # when the PSA changes its hours to 6
    entry.revise({**entry.fields, "hours": D("6")}, PSA)

    # then the hours stay as invoiced and a correction waits for the next run
    assert entry.fields["hours"] == D("7.5")
    assert entry.pending_correction == {"hours": D("6")}
    assert entry.state == "invoiced"
    assert event_names(entry.collect_events()) == ["CorrectionRecorded"]

    # and crediting applies it: billable again, to be priced anew
    entry.credit(f"{INVOICE}-C1", LEDGER)
    assert (entry.state, entry.fields["hours"], entry.priced) == ("billable", D("6"), [])
    assert entry.invoice_number is None


def test_a_money_change_to_a_billable_item_unprices_it() -> None:
    entry = entry_in("billable")
    entry.revise({**entry.fields, "hours": D("8")}, PSA)
    assert (entry.state, entry.priced, entry.fields["hours"]) == ("approved", [], D("8"))
    assert event_names(entry.collect_events()) == ["Unpriced", "Revised"]


def test_withdrawing_an_invoiced_item_records_a_zero_correction() -> None:
    entry = entry_in("invoiced")
    entry.withdraw(PSA)
    assert entry.pending_correction == {
        "hours": D("0"),
        "role": "consultant",
        "work_date": date(2026, 1, 5),
        "billable": True,
        "withdrawn": True,
    }
    assert entry.state == "invoiced"
