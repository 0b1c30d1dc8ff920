"""Pricing rules 1-4 and 8 of BILLING_RULES.md, billed through a run.

Amounts are worked by hand in the comments.
"""

from __future__ import annotations

from datetime import date

from builders import (
    D,
    approve_amendment,
    bill,
    book,
    contract,
    expense,
    milestone,
    project,
    rate_card,
    rules_with_fx,
    terms,
    time_entry,
)

from domain.invoice import Invoice

JAN = date(2026, 1, 1)


def nets(invoice: Invoice) -> dict[str, D]:
    return {str(ln["item_id"]): ln["net"] for ln in invoice.lines}


# -- rule 1: time at the role's rate on the work date ----------------------


def test_time_is_priced_at_the_rate_in_force_on_each_work_date() -> None:
    # given consultant at 150.00 to 15 Jan (inclusive), then 165.00
    card = rate_card(
        ("consultant", "150.00", JAN, date(2026, 1, 15)),
        ("consultant", "165.00", date(2026, 1, 16), None),
    )
    items = [
        time_entry("TE-1", "7.5", date(2026, 1, 10)),
        time_entry("TE-2", "2", date(2026, 1, 15)),
        time_entry("TE-3", "4", date(2026, 1, 16)),
    ]
    b = book(contract(), items, [card])

    # when January is billed
    [invoice] = bill(b, "2026-01")

    # then
    assert nets(invoice) == {
        "TE-1": D("1125.00"),  # 7.5 h x 150.00 = 1125.00
        "TE-2": D("300.00"),  # 2 h x 150.00 = 300.00 (15 Jan is the old line's last day)
        "TE-3": D("660.00"),  # 4 h x 165.00 = 660.00
    }
    assert invoice.net == D("2085.00")  # 1125.00 + 300.00 + 660.00
    assert invoice.tax == D("417.00")  # 2085.00 x 0.20
    assert invoice.gross == D("2502.00")
    assert [i.state for i in items] == ["invoiced"] * 3


def test_time_for_a_role_without_a_rate_stays_approved_with_no_rate() -> None:
    card = rate_card(("consultant", "150.00", JAN, None))
    priced = time_entry("TE-1", "1", date(2026, 1, 10))
    unpriced = time_entry("TE-2", "3", date(2026, 1, 11), role="architect")
    b = book(contract(), [priced, unpriced], [card])

    [invoice] = bill(b, "2026-01")

    assert nets(invoice) == {"TE-1": D("150.00")}  # 1 h x 150.00
    assert unpriced.state == "approved"
    assert unpriced.exception is not None
    assert unpriced.exception["code"] == "no_rate"


def test_time_outside_every_rate_line_is_no_rate() -> None:
    card = rate_card(("consultant", "150.00", JAN, date(2026, 1, 15)))
    late = time_entry("TE-1", "1", date(2026, 1, 16))
    b = book(contract(), [late], [card])

    assert bill(b, "2026-01") == []
    assert (late.state, late.exception and late.exception["code"]) == ("approved", "no_rate")


# -- rule 2: FX, latest rate on or before the item's date ------------------


def test_a_usd_rate_card_on_a_gbp_contract_uses_the_latest_fx_rate_by_date() -> None:
    # given USD->GBP 0.7900 from 1 Jan (reference), 0.8000 from 15 Jan, 0.9000 from 1 Feb
    rules = rules_with_fx(
        {"from": "USD", "to": "GBP", "rate": "0.8000", "effective_from": "2026-01-15"},
        {"from": "USD", "to": "GBP", "rate": "0.9000", "effective_from": "2026-02-01"},
    )
    card = rate_card(("consultant", "200.00", JAN, None), currency="USD")
    items = [
        time_entry("TE-1", "3", date(2026, 1, 10)),
        time_entry("TE-2", "3", date(2026, 1, 15)),
        time_entry("TE-3", "3", date(2026, 1, 31)),
    ]
    b = book(contract(), items, [card])

    [invoice] = bill(b, "2026-01", rules=rules)

    assert nets(invoice) == {
        "TE-1": D("474.00"),  # 3 h x 200.00 USD x 0.79 = 474.00 GBP
        "TE-2": D("480.00"),  # 3 h x 200.00 x 0.80 (from 15 Jan) = 480.00
        "TE-3": D("480.00"),  # 0.90 starts on 1 Feb, after the work date
    }
    assert invoice.header["currency"] == "GBP"


def test_fx_is_applied_before_the_one_rounding() -> None:
    card = rate_card(("consultant", "133.33", JAN, None), currency="USD")
    entry = time_entry("TE-1", "2.25", date(2026, 1, 10))
    b = book(contract(), [entry], [card])

    [invoice] = bill(b, "2026-01")

    # 2.25 h x 133.33 = 299.9925 USD; x 0.79 = 236.994075 -> 236.99 GBP
    assert nets(invoice) == {"TE-1": D("236.99")}


def test_a_rate_card_currency_without_an_fx_rate_is_no_fx_rate() -> None:
    card = rate_card(("consultant", "100.00", JAN, None), currency="CHF")
    entry = time_entry("TE-1", "1", date(2026, 1, 10))
    b = book(contract(), [entry], [card])

    assert bill(b, "2026-01") == []
    assert (entry.state, entry.exception and entry.exception["code"]) == ("approved", "no_fx_rate")


# -- rule 3: expenses with markup -------------------------------------------


def test_a_usd_expense_on_a_usd_contract_gets_the_markup_rounded_half_up() -> None:
    usd = terms(
        legal_entity="US01", currency="USD", tax_code="US-NY-SERVICES", expense_markup_pct=D("10")
    )
    items = [
        expense("EX-1", "200.00", "USD", date(2026, 1, 5)),
        expense("EX-2", "10.95", "USD", date(2026, 1, 6)),
    ]
    b = book(contract(usd), items, projects=[project("P1", legal_entity="US01")])

    [invoice] = bill(b, "2026-01")

    assert nets(invoice) == {
        "EX-1": D("220.00"),  # 200.00 x 1.10 = 220.00
        "EX-2": D("12.05"),  # 10.95 x 1.10 = 12.045 -> 12.05 half-up (not 12.04)
    }
    assert (invoice.net, invoice.tax, invoice.gross) == (D("232.05"), D("0.00"), D("232.05"))
    assert invoice.business_id == "US01-K1-2026-01"


def test_a_eur_expense_on_a_gbp_contract_gets_markup_and_fx() -> None:
    gbp = terms(expense_markup_pct=D("10"))
    items = [
        expense("EX-1", "100.00", "EUR", date(2026, 1, 5)),
        expense("EX-2", "2.50", "EUR", date(2026, 1, 6)),
    ]
    b = book(contract(gbp), items)

    [invoice] = bill(b, "2026-01")

    assert nets(invoice) == {
        "EX-1": D("94.60"),  # 100.00 x 1.10 x 0.86 = 94.60
        "EX-2": D("2.37"),  # 2.50 x 1.10 x 0.86 = 2.365 -> 2.37 half-up
    }
    assert invoice.net == D("96.97")  # 94.60 + 2.37
    assert invoice.tax == D("19.39")  # 96.97 x 0.20 = 19.394 -> 19.39
    assert invoice.gross == D("116.36")


# -- rule 4: milestones on a fixed-price contract ---------------------------


def fixed_price(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "billing_method": "fixed_price",
        "invoice_frequency": "on_milestone",
        "consolidation": "per_project",
        "milestones": {"M1": {"name": "Design", "amount": D("5000.00")}},
    }
    values.update(overrides)
    return values


def test_an_accepted_milestone_is_its_own_invoice_dated_on_acceptance() -> None:
    # given a fixed-price contract: M1 5000.00, accepted on 20 Jan; time and an expense
    ms = milestone("M1", "4000.00", date(2026, 1, 20))  # the PSA's amount is not the agreed one
    te = time_entry("TE-1", "8", date(2026, 1, 10))
    ex = expense("EX-1", "120.00", "GBP", date(2026, 1, 12))
    card = rate_card(("consultant", "100.00", JAN, None))
    b = book(contract(terms(**fixed_price())), [ms, te, ex], [card])

    # when January is billed
    invoices = {inv.business_id: inv for inv in bill(b, "2026-01")}

    # then M1 is billed alone, at the contract's amount, dated on acceptance
    assert set(invoices) == {"GB01-K1-2026-01-P1-M1", "GB01-K1-2026-01-P1"}
    m1 = invoices["GB01-K1-2026-01-P1-M1"]
    assert nets(m1) == {"M1": D("5000.00")}
    assert (m1.net, m1.tax, m1.gross) == (D("5000.00"), D("1000.00"), D("6000.00"))
    assert m1.invoice_date == date(2026, 1, 20)
    assert m1.header["due_date"] == date(2026, 2, 19)  # 20 Jan + 30 days
    # and the expense is billed on the project's monthly invoice
    monthly = invoices["GB01-K1-2026-01-P1"]
    assert nets(monthly) == {"EX-1": D("120.00")}  # 120.00 x (1 + 0/100)
    assert monthly.invoice_date == date(2026, 1, 31)
    # and time on a fixed-price contract is not billable: it stays approved
    assert (te.state, te.exception) == ("approved", None)


def test_a_milestone_not_in_the_contract_is_billed_at_the_psa_amount_converted() -> None:
    ms = milestone("M2", "1000.00", date(2026, 1, 20), currency="EUR")
    b = book(contract(terms(**fixed_price(consolidation="per_contract"))), [ms])

    [invoice] = bill(b, "2026-01")

    assert invoice.business_id == "GB01-K1-2026-01-M2"
    assert nets(invoice) == {"M2": D("860.00")}  # 1000.00 EUR x 0.86


def test_a_milestone_accepted_after_the_period_waits() -> None:
    ms = milestone("M1", "5000.00", date(2026, 2, 3))
    b = book(contract(terms(**fixed_price())), [ms])

    assert bill(b, "2026-01") == []
    assert ms.state == "approved"
    [feb] = bill(b, "2026-02")
    assert feb.business_id == "GB01-K1-2026-02-P1-M1"


# -- rule 8: the contract version in force on the item's date ---------------


def test_each_item_is_priced_under_the_version_in_force_on_its_date() -> None:
    # given v1 (RC-1, no markup) and v2 from 16 Jan (RC-2, 10% markup)
    k = contract()
    approve_amendment(k, 2, {"rate_card_id": "RC-2", "expense_markup_pct": "10"}, date(2026, 1, 16))
    cards = [
        rate_card(("consultant", "100.00", JAN, None), business_id="RC-1"),
        rate_card(("consultant", "120.00", JAN, None), business_id="RC-2"),
    ]
    items = [
        time_entry("TE-1", "8", date(2026, 1, 15)),
        time_entry("TE-2", "8", date(2026, 1, 16)),
        expense("EX-1", "50.00", "GBP", date(2026, 1, 15)),
        expense("EX-2", "50.00", "GBP", date(2026, 1, 16)),
    ]
    b = book(k, items, cards)

    [invoice] = bill(b, "2026-01")

    assert nets(invoice) == {
        "TE-1": D("800.00"),  # v1: 8 h x 100.00
        "TE-2": D("960.00"),  # v2: 8 h x 120.00
        "EX-1": D("50.00"),  # v1: 50.00 x 1.00
        "EX-2": D("55.00"),  # v2: 50.00 x 1.10
    }
    versions = {ln["item_id"]: ln["contract_version"] for ln in invoice.lines}
    assert versions == {"TE-1": 1, "TE-2": 2, "EX-1": 1, "EX-2": 2}


def test_an_item_before_the_contract_starts_has_no_contract_version() -> None:
    early = time_entry("TE-1", "1", date(2025, 12, 31))
    b = book(contract(), [early], [rate_card(("consultant", "100", date(2025, 1, 1), None))])

    assert bill(b, "2026-01") == []
    assert early.exception is not None
    assert (early.state, early.exception["code"]) == ("approved", "no_contract_version")
