"""One bad item never stops a billing run: values that break the arithmetic
become the billing exception `invalid_amount` on the items they touch.

Such values cannot pass the boundary checks today; these items stand for
what the store may hold from before them (hours of 1E+30 make the rounding
to money raise decimal.InvalidOperation).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from builders import (
    LEDGER,
    RULES,
    D,
    add_version,
    bill,
    book,
    collect,
    contract,
    event_names,
    expense,
    rate_card,
    terms,
    time_entry,
)

from domain.billing import BillingRun, ContractBook
from domain.period import Period
from domain.repricing import reprice_invoice
from domain.work_item import WorkItem

CARD = ("consultant", "150.00", date(2026, 1, 1), None)


def tm_book(items: list[WorkItem], **overrides: Any) -> ContractBook:
    return book(contract(terms(**overrides)), items, [rate_card(CARD)])


def nets(b: ContractBook) -> dict[str, Decimal]:
    return {
        ln["item_id"]: ln["net"] for inv in b.invoices.values() for ln in inv.lines if ln["item_id"]
    }


def exception_of(item: WorkItem) -> tuple[str, str | None]:
    return item.state, (item.exception or {}).get("code")


@pytest.mark.parametrize("hours", ["1E+30", "NaN", "Infinity", None, "lots"])
def test_an_item_whose_hours_break_the_arithmetic_is_an_exception_and_the_rest_is_billed(
    hours: str | None,
) -> None:
    good = time_entry("TE-1", "2", date(2026, 1, 5))
    bad = time_entry("TE-2", "1", date(2026, 1, 6))
    bad.fields["hours"] = hours if hours in (None, "lots") else Decimal(hours)  # as once stored

    [invoice] = bill(tm_book([good, bad]), "2026-01")

    assert [ln["item_id"] for ln in invoice.lines] == ["TE-1"]
    assert invoice.net == D("300.00")  # 2 h x 150.00
    assert exception_of(bad) == ("approved", "invalid_amount")
    assert bad.exception is not None and "TE-2" in bad.exception["reason"]


def test_hours_that_overflow_only_once_multiplied_by_the_rate_are_an_exception() -> None:
    # 1E+25 rounds to money; 1E+25 x 150.00 does not (29 digits > decimal's 28)
    bad = time_entry("TE-2", "1", date(2026, 1, 6))
    bad.fields["hours"] = Decimal("1E+25")
    good = time_entry("TE-1", "2", date(2026, 1, 5))
    b = tm_book([good, bad])

    bill(b, "2026-01")

    assert nets(b) == {"TE-1": D("300.00")}
    assert exception_of(bad) == ("approved", "invalid_amount")
    assert bad.exception is not None and "InvalidOperation" in bad.exception["reason"]


def test_an_expense_whose_amount_breaks_the_arithmetic_is_an_exception() -> None:
    bad = expense("EX-1", "1", "GBP", date(2026, 1, 7))
    bad.fields["amount"] = Decimal("1E+30")
    good = expense("EX-2", "10.00", "GBP", date(2026, 1, 8))
    b = tm_book([bad, good])

    bill(b, "2026-01")

    assert nets(b) == {"EX-2": D("10.00")}
    assert exception_of(bad) == ("approved", "invalid_amount")


def test_billing_again_with_an_invalid_amount_appends_nothing() -> None:
    bad = time_entry("TE-2", "1", date(2026, 1, 6))
    bad.fields["hours"] = Decimal("1E+30")
    b = tm_book([time_entry("TE-1", "2", date(2026, 1, 5)), bad])
    bill(b, "2026-01")
    collect(b)

    bill(b, "2026-01")

    assert event_names(collect(b)) == []


def test_a_corrected_amount_that_breaks_the_arithmetic_is_credited_then_held() -> None:
    entry = time_entry("TE-1", "2", date(2026, 1, 5))
    b = tm_book([entry])
    bill(b, "2026-01")

    entry.revise({**entry.fields, "hours": Decimal("1E+30")}, entry.source)  # type: ignore[arg-type]
    drafted = [inv.business_id for inv in bill(b, "2026-02")]

    assert drafted == ["GB01-K1-2026-01-C1"]
    assert exception_of(entry) == ("approved", "invalid_amount")


def test_a_retainer_entry_that_breaks_the_arithmetic_draws_no_included_hours() -> None:
    # 10 included hours; TE-1 (bad, first in order) must not take them from TE-2
    retainer = {
        "billing_method": "retainer",
        "monthly_fee": D("1000.00"),
        "included_hours": D("10"),
    }
    bad = time_entry("TE-1", "1", date(2026, 1, 5))
    bad.fields["hours"] = Decimal("1E+25")  # rounds; its overage x 150.00 does not
    good = time_entry("TE-2", "8", date(2026, 1, 6))
    b = tm_book([bad, good], **retainer)

    bill(b, "2026-01")

    assert exception_of(bad) == ("approved", "invalid_amount")
    assert [(ln["part"], ln["quantity"]) for ln in good.priced] == [("included", D("8"))]
    assert good.state == "invoiced"


# -- contract terms that break the arithmetic ----------------------------------


def test_a_contract_whose_fee_breaks_the_arithmetic_holds_its_items_not_the_run() -> None:
    broken = contract(
        terms(billing_method="retainer", monthly_fee=D("1E+30"), included_hours=D("10")),
        business_id="K1",
    )
    entry = time_entry("TE-1", "2", date(2026, 1, 5))
    b = book(broken, [entry], [rate_card(CARD)])

    assert bill(b, "2026-01") == []

    assert exception_of(entry) == ("approved", "invalid_amount")
    assert entry.exception is not None and "monthly_fee" in entry.exception["reason"]


def test_a_contract_whose_markup_breaks_the_arithmetic_holds_its_items() -> None:
    item = expense("EX-1", "10.00", "GBP", date(2026, 1, 7))
    b = tm_book([item], expense_markup_pct=D("1E+30"))

    assert bill(b, "2026-01") == []
    assert exception_of(item) == ("approved", "invalid_amount")


def test_a_contract_whose_cap_is_not_a_number_holds_its_items() -> None:
    entry = time_entry("TE-1", "2", date(2026, 1, 5))
    b = tm_book([entry], not_to_exceed=Decimal("NaN"))

    assert bill(b, "2026-01") == []
    assert exception_of(entry) == ("approved", "invalid_amount")


def test_an_amended_version_that_breaks_the_arithmetic_holds_what_it_would_invoice() -> None:
    # TE-1 is priced under version 1; version 2, in force on the billing
    # date, has a cap that is not a number: TE-1 stays billable, on hold
    entry = time_entry("TE-1", "2", date(2026, 1, 5))
    b = tm_book([entry])
    v2 = terms(version=2, effective_from=date(2026, 1, 20), not_to_exceed=Decimal("NaN"))
    add_version(b.contract, v2)  # as once stored, before the boundary refused NaN

    assert bill(b, "2026-01") == []
    assert exception_of(entry) == ("billable", "invalid_amount")
    assert entry.exception is not None and "version 2" in entry.exception["reason"]


def test_an_item_that_would_take_its_invoice_past_the_arithmetic_is_held_alone() -> None:
    # each 4E+23 h x 150.00 = 6E+25 rounds to money; two on one invoice do not
    big = [time_entry(f"TE-{i}", "1", date(2026, 1, 5 + i)) for i in (1, 2)]
    for entry in big:
        entry.fields["hours"] = Decimal("4E+23")
    small = time_entry("TE-9", "2", date(2026, 1, 20))
    b = tm_book([*big, small])

    [invoice] = bill(b, "2026-01")

    assert [ln["item_id"] for ln in invoice.lines] == ["TE-1", "TE-9"]
    assert exception_of(big[1]) == ("billable", "invalid_amount")
    collect(b)
    assert bill(b, "2026-01") == [] and event_names(collect(b)) == []


def test_a_huge_cap_is_only_high_not_broken() -> None:
    entry = time_entry("TE-1", "2", date(2026, 1, 5))
    b = tm_book([entry], not_to_exceed=Decimal("1E+30"))

    [invoice] = bill(b, "2026-01")
    assert invoice.net == D("300.00")


def test_one_broken_contract_leaves_another_contract_billed_in_the_same_run() -> None:

    broken = tm_book([time_entry("TE-1", "2", date(2026, 1, 5))], expense_markup_pct=D("NaN"))
    sound = tm_book([time_entry("TE-2", "2", date(2026, 1, 5))])
    sound.contract = contract(business_id="K2")
    sound.projects["P1"].details["contract_id"] = "K2"

    run = BillingRun(Period.parse("2026-01"), RULES, LEDGER)
    drafted = run.bill_books([broken, sound])

    assert [inv.business_id for inv in drafted] == ["GB01-K2-2026-01"]
    assert exception_of(broken.items[0]) == ("approved", "invalid_amount")


# -- what-if repricing ---------------------------------------------------------


def test_repricing_under_new_rules_notes_an_item_it_cannot_price() -> None:
    entry = time_entry("TE-1", "2", date(2026, 1, 5))
    b = tm_book([entry])
    [invoice] = bill(b, "2026-01")
    entry.fields["hours"] = Decimal("1E+30")  # as if stored so since

    diff = reprice_invoice(invoice, b, RULES)

    assert diff.lines[0].new_net == D("300.00")  # the line's own 2 h, re-priced
    entry.priced[0]["quantity"] = Decimal("1E+30")
    invoice.lines[0]["quantity"] = Decimal("1E+30")
    diff = reprice_invoice(invoice, b, RULES)
    assert diff.lines[0].new_net is None
    assert diff.lines[0].note.startswith("invalid_amount")
