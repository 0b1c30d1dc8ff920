"""Rule 6 (not-to-exceed) and rule 7 (project on hold)."""

from __future__ import annotations

from datetime import date

from builders import (
    CRM,
    LEDGER,
    PSA,
    D,
    approve_amendment,
    bill,
    book,
    collect,
    contract,
    event_names,
    project,
    rate_card,
    terms,
    time_entry,
)

from domain.billing import ContractBook
from domain.invoice import Invoice
from domain.work_item import WorkItem

JAN = date(2026, 1, 1)


def capped_book(items: list[WorkItem], cap: str = "1000.00") -> ContractBook:
    """T&M with a not-to-exceed of 1000.00 GBP; consultant at 100.00."""
    k = contract(terms(not_to_exceed=D(cap)))
    return book(k, items, [rate_card(("consultant", "100.00", JAN, None))])


def nets(invoice: Invoice) -> dict[str, D]:
    return {str(ln["item_id"]): ln["net"] for ln in invoice.lines}


def code(item: WorkItem) -> str | None:
    return item.exception["code"] if item.exception else None


# -- rule 6: not-to-exceed --------------------------------------------------


def over_the_cap() -> list[WorkItem]:
    return [
        time_entry("TE-B", "5", date(2026, 1, 6)),  # 500.00
        time_entry("TE-A", "4", date(2026, 1, 5)),  # 400.00
        time_entry("TE-C", "2", date(2026, 1, 7)),  # 200.00
        time_entry("TE-D", "1", date(2026, 1, 8)),  # 100.00
    ]


def test_the_item_that_would_cross_the_cap_stays_billable_with_nte_exceeded() -> None:
    items = over_the_cap()
    b = capped_book(items)

    [invoice] = bill(b, "2026-01")

    # in (date, id) order: A 400 (400), B 500 (900), C 200 would make 1100 > 1000: held;
    # D 100 makes exactly 1000, which does not exceed the cap
    assert nets(invoice) == {"TE-A": D("400.00"), "TE-B": D("500.00"), "TE-D": D("100.00")}
    assert invoice.net == D("1000.00")
    held = items[2]
    assert (held.state, code(held)) == ("billable", "nte_exceeded")
    assert held.net == D("200.00")  # not split


def test_a_proposed_amendment_does_not_release_the_held_item() -> None:
    items = over_the_cap()
    b = capped_book(items)
    bill(b, "2026-01")
    b.contract.propose_amendment(2, {"not_to_exceed": "2000.00"}, date(2026, 2, 1), None, None, CRM)

    assert bill(b, "2026-02") == []
    assert (items[2].state, code(items[2])) == ("billable", "nte_exceeded")


def test_an_approved_amendment_raising_the_cap_releases_the_item_in_a_later_run() -> None:
    items = over_the_cap()
    b = capped_book(items)
    bill(b, "2026-01")

    # when the cap is raised to 2000.00 from 1 Feb and February is billed
    approve_amendment(b.contract, 2, {"not_to_exceed": "2000.00"}, date(2026, 2, 1))
    [feb] = bill(b, "2026-02")

    # then C is billed: 1000.00 invoiced + 200.00 = 1200.00 <= 2000.00
    assert feb.business_id == "GB01-K1-2026-02"
    assert nets(feb) == {"TE-C": D("200.00")}
    assert (items[2].state, items[2].exception) == ("invoiced", None)


# Regression: a re-run once re-priced the held item, appending Priced and clearing
# its nte_exceeded exception (fixed in 902fa0e).
def test_billing_the_same_period_again_leaves_the_held_item_untouched() -> None:
    items = over_the_cap()
    b = capped_book(items)
    bill(b, "2026-01")
    collect(b)

    assert bill(b, "2026-01") == []

    assert event_names(collect(b)) == []
    assert code(items[2]) == "nte_exceeded"


def test_credit_notes_count_against_the_cap_as_negative_amounts() -> None:
    # given January invoiced 600.00 + 300.00 = 900.00 of a 1000.00 cap
    first = time_entry("TE-1", "6", date(2026, 1, 5))
    items: list[WorkItem] = [first, time_entry("TE-2", "3", date(2026, 1, 6))]
    b = capped_book(items)
    bill(b, "2026-01")

    # when TE-1 is corrected to 3 h and 3.5 h more are worked in February
    first.revise({**first.fields, "hours": D("3")}, PSA)
    b.items.append(time_entry("TE-3", "3.5", date(2026, 2, 2)))
    invoices = {inv.business_id: inv for inv in bill(b, "2026-02")}

    # then 900.00 - 600.00 (credit) + 300.00 + 350.00 = 950.00 <= 1000.00: both billed
    # (without the credit: 900.00 + 300.00 + 350.00 = 1550.00 would hold both)
    assert nets(invoices["GB01-K1-2026-01-C1"]) == {"TE-1": D("-600.00")}
    assert nets(invoices["GB01-K1-2026-02"]) == {"TE-1": D("300.00"), "TE-3": D("350.00")}


# -- rule 7: project on hold -------------------------------------------------


def test_items_of_a_project_on_hold_go_back_to_approved_and_wait() -> None:
    # given a billable entry (priced earlier) and an approved one, on project P1 now on hold
    billable = time_entry("TE-1", "2", date(2026, 1, 5))
    billable.price([{"item_id": "TE-1", "part": "full", "net": D("200.00")}], LEDGER)
    approved = time_entry("TE-2", "1", date(2026, 1, 6))
    on_hold = project("P1", status="on_hold")
    b = book(
        contract(),
        [billable, approved],
        [rate_card(("consultant", "100.00", JAN, None))],
        [on_hold],
    )

    # when January is billed
    assert bill(b, "2026-01") == []

    # then both wait, approved, with the billing hold
    assert [(i.state, code(i)) for i in (billable, approved)] == [
        ("approved", "project_on_hold"),
        ("approved", "project_on_hold"),
    ]
    assert billable.priced == []

    # when the project is active again and February is billed
    on_hold.update({**on_hold.details, "status": "active"}, PSA)
    [feb] = bill(b, "2026-02")

    # then the backlog is billed: 2 h x 100.00 + 1 h x 100.00
    assert nets(feb) == {"TE-1": D("200.00"), "TE-2": D("100.00")}
    assert [(i.state, i.exception) for i in (billable, approved)] == [("invoiced", None)] * 2


def test_a_hold_on_one_project_does_not_stop_another() -> None:
    held = time_entry("TE-1", "2", date(2026, 1, 5), project_id="P1")
    free = time_entry("TE-2", "1", date(2026, 1, 6), project_id="P2")
    projects = [project("P1", status="on_hold"), project("P2")]
    b = book(contract(), [held, free], [rate_card(("consultant", "100.00", JAN, None))], projects)

    [invoice] = bill(b, "2026-01")

    assert nets(invoice) == {"TE-2": D("100.00")}  # 1 h x 100.00
    assert code(held) == "project_on_hold"


def test_a_second_run_over_a_held_project_appends_nothing() -> None:
    held = time_entry("TE-1", "2", date(2026, 1, 5))
    b = book(
        contract(),
        [held],
        [rate_card(("consultant", "100.00", JAN, None))],
        [project("P1", status="on_hold")],
    )
    bill(b, "2026-01")
    collect(b)

    bill(b, "2026-01")

    assert collect(b) == []
