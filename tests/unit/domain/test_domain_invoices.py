"""The invoice rules: grouping, numbers, dates, tax, re-issues and credit notes."""

from __future__ import annotations

from datetime import date

from builders import (
    ERP,
    PSA,
    D,
    approve_amendment,
    at,
    bill,
    book,
    collect,
    contract,
    customer,
    event_names,
    expense,
    project,
    rate_card,
    repo_for,
    terms,
    time_entry,
)

from domain import commands as c
from domain.billing import ContractBook
from domain.contract import Contract
from domain.handlers import handle
from domain.invoice import Invoice
from domain.work_item import WorkItem

JAN = date(2026, 1, 1)


def tm_book(items: list[WorkItem], k: Contract | None = None, **kw: object) -> ContractBook:
    """T&M in GBP for GB01 at 20% VAT; consultant at 150.00."""
    card = rate_card(("consultant", "150.00", JAN, None))
    return book(k or contract(), items, [card], **kw)  # type: ignore[arg-type]


def nets(invoice: Invoice) -> dict[str, D]:
    return {str(ln["item_id"]): ln["net"] for ln in invoice.lines}


def by_number(invoices: list[Invoice]) -> dict[str, Invoice]:
    return {inv.business_id: inv for inv in invoices}


# -- grouping, numbers, dates -------------------------------------------------


def two_projects() -> list[WorkItem]:
    return [
        time_entry("TE-1", "2", date(2026, 2, 3), project_id="P1"),  # 2 x 150.00 = 300.00
        time_entry("TE-2", "1", date(2026, 2, 4), project_id="P2"),  # 1 x 150.00 = 150.00
    ]


def test_per_contract_consolidation_makes_one_invoice_for_all_projects() -> None:
    b = tm_book(two_projects(), projects=[project("P1"), project("P2")])

    [invoice] = bill(b, "2026-02")

    assert invoice.business_id == "GB01-K1-2026-02"
    assert nets(invoice) == {"TE-1": D("300.00"), "TE-2": D("150.00")}


def test_per_project_consolidation_makes_one_invoice_per_project() -> None:
    k = contract(terms(consolidation="per_project"))
    b = tm_book(two_projects(), k, projects=[project("P1"), project("P2")])

    invoices = by_number(bill(b, "2026-02"))

    assert set(invoices) == {"GB01-K1-2026-02-P1", "GB01-K1-2026-02-P2"}
    assert nets(invoices["GB01-K1-2026-02-P1"]) == {"TE-1": D("300.00")}
    assert nets(invoices["GB01-K1-2026-02-P2"]) == {"TE-2": D("150.00")}
    assert invoices["GB01-K1-2026-02-P2"].header["project_id"] == "P2"


def test_invoice_is_dated_on_the_last_day_and_due_after_the_payment_terms() -> None:
    b = tm_book(two_projects(), projects=[project("P1"), project("P2")], cust=customer(45))

    [invoice] = bill(b, "2026-02")

    assert invoice.invoice_date == date(2026, 2, 28)
    assert invoice.header["due_date"] == date(2026, 4, 14)  # 28 Feb + 45 days (31 Mar + 14)


def test_the_backlog_of_earlier_months_is_billed_on_the_period_invoice() -> None:
    late = time_entry("TE-1", "1", date(2026, 1, 20), approved=False)
    b = tm_book([late])
    assert bill(b, "2026-01") == []

    late.approve("pm@psa", at(date(2026, 2, 2)), PSA)
    [feb] = bill(b, "2026-02")

    assert (feb.business_id, nets(feb)) == ("GB01-K1-2026-02", {"TE-1": D("150.00")})


def test_items_dated_after_the_period_wait_for_their_month() -> None:
    b = tm_book([time_entry("TE-1", "1", date(2026, 2, 1))])
    assert bill(b, "2026-01") == []


# -- tax -----------------------------------------------------------------------


def test_tax_is_rounded_once_on_the_invoice_net_not_per_line() -> None:
    items = [expense(f"EX-{i}", "10.03", "GBP", date(2026, 1, 5 + i)) for i in (1, 2, 3)]
    b = tm_book(items)

    [invoice] = bill(b, "2026-01")

    # per line: 10.03 x 0.20 = 2.006 -> 2.01, three lines: 6.03
    # per invoice: 3 x 10.03 = 30.09; 30.09 x 0.20 = 6.018 -> 6.02
    assert invoice.net == D("30.09")
    assert invoice.tax == D("6.02")
    assert invoice.gross == D("36.11")
    assert invoice.header["tax_code"] == "GB-VAT-STD"


def test_a_tax_code_not_valid_for_the_legal_entity_blocks_the_invoice() -> None:
    entry = time_entry("TE-1", "2", date(2026, 1, 5))
    b = tm_book([entry], contract(terms(tax_code="DE-VAT-STD")))  # DE-VAT-STD is for DE01

    assert bill(b, "2026-01") == []
    assert b.invoices == {}
    assert entry.exception is not None
    assert (entry.state, entry.exception["code"]) == ("billable", "invalid_tax_code")


def test_the_project_legal_entity_decides_the_tax_code_validity() -> None:
    gb = time_entry("TE-1", "2", date(2026, 1, 5), project_id="P1")
    de = time_entry("TE-2", "1", date(2026, 1, 5), project_id="P2")
    b = tm_book([gb, de], projects=[project("P1"), project("P2", legal_entity="DE01")])

    [invoice] = bill(b, "2026-01")

    assert (invoice.business_id, nets(invoice)) == ("GB01-K1-2026-01", {"TE-1": D("300.00")})
    assert de.exception is not None
    assert de.exception["code"] == "invalid_tax_code"


# Regression: re-runs once re-priced such items, appending Priced + ExceptionRaised (902fa0e).
def test_billing_again_with_an_invalid_tax_code_appends_nothing() -> None:
    b = tm_book([time_entry("TE-1", "2", date(2026, 1, 5))], contract(terms(tax_code="DE-VAT-STD")))
    bill(b, "2026-01")
    collect(b)

    bill(b, "2026-01")

    assert event_names(collect(b)) == []


# -- ERP rejection: re-issue as {number}-R{n} ---------------------------------


def test_a_rejected_invoice_is_reissued_with_exactly_its_lines_apart_from_the_period() -> None:
    # given January's invoice of TE-1 (7.5 h) and TE-2 (2 h), rejected by the ERP
    jan_items = [
        time_entry("TE-1", "7.5", date(2026, 1, 5)),
        time_entry("TE-2", "2", date(2026, 1, 6)),
    ]
    b = tm_book(list(jan_items))
    [jan] = bill(b, "2026-01")
    handle(c.RejectInvoice("GB01-K1-2026-01", "unknown PO", "GB01", ERP), repo_for(b))
    assert [(i.state, i.reissue_of) for i in jan_items] == [("billable", "GB01-K1-2026-01")] * 2

    # when February is billed, with 1 h worked in February
    b.items.append(time_entry("TE-3", "1", date(2026, 2, 2)))
    invoices = by_number(bill(b, "2026-02"))

    # then the rejected lines are re-issued alone, and February has its own invoice
    assert set(invoices) == {"GB01-K1-2026-01-R1", "GB01-K1-2026-02"}
    reissue = invoices["GB01-K1-2026-01-R1"]
    assert nets(reissue) == {"TE-1": D("1125.00"), "TE-2": D("300.00")}  # 7.5 x 150, 2 x 150
    assert (reissue.net, reissue.tax, reissue.gross) == (jan.net, jan.tax, jan.gross)
    assert reissue.kind == "reissue"
    assert nets(invoices["GB01-K1-2026-02"]) == {"TE-3": D("150.00")}
    assert [i.invoice_number for i in jan_items] == ["GB01-K1-2026-01-R1"] * 2
    assert b.invoices["GB01-K1-2026-01"].reissues == ["GB01-K1-2026-01-R1"]


def test_a_second_rejection_is_reissued_as_r2_and_rerunning_appends_nothing() -> None:
    b = tm_book([time_entry("TE-1", "1", date(2026, 1, 5))])
    bill(b, "2026-01")
    handle(c.RejectInvoice("GB01-K1-2026-01", "bad PO", None, ERP), repo_for(b))
    bill(b, "2026-02")
    handle(c.RejectInvoice("GB01-K1-2026-01-R1", "bad PO again", None, ERP), repo_for(b))

    [r2] = bill(b, "2026-03")
    collect(b)

    assert (r2.business_id, nets(r2)) == ("GB01-K1-2026-01-R2", {"TE-1": D("150.00")})
    assert bill(b, "2026-03") == []
    assert collect(b) == []


def test_a_rejected_retainer_fee_line_moves_to_the_reissue() -> None:
    k = contract(terms(billing_method="retainer", monthly_fee=D("1000.00"), included_hours=D("5")))
    b = tm_book([time_entry("TE-1", "6", date(2026, 1, 5))], k)
    bill(b, "2026-01")
    handle(c.RejectInvoice("GB01-K1-2026-01", "bad PO", "GB01", ERP), repo_for(b))

    invoices = by_number(bill(b, "2026-02"))

    # fee 1000.00 + TE-1 5 h included (0.00) + 1 h overage x 150.00 = 1150.00
    assert invoices["GB01-K1-2026-01-R1"].net == D("1150.00")
    assert invoices["GB01-K1-2026-02"].net == D("1000.00")  # February's own fee
    assert k.fee_lines == {"2026-01": "GB01-K1-2026-01-R1", "2026-02": "GB01-K1-2026-02"}


# -- corrections after invoicing: {number}-C{n} --------------------------------


def test_a_correction_credits_the_original_line_at_its_tax_rate_and_rebills() -> None:
    # given TE-1 7.5 h invoiced in January at 20% VAT, and posted
    entry = time_entry("TE-1", "7.5", date(2026, 1, 5))
    k = contract()
    b = tm_book([entry], k)
    bill(b, "2026-01")
    handle(c.PostInvoice("GB01-K1-2026-01", "ERP-1", at(date(2026, 2, 1)), None, ERP), repo_for(b))
    # and the contract exempt from tax from 1 Feb
    approve_amendment(k, 2, {"tax_code": "EXEMPT"}, date(2026, 2, 1))

    # when the PSA corrects TE-1 to 6 h and February is billed
    entry.revise({**entry.fields, "hours": D("6")}, PSA)
    invoices = by_number(bill(b, "2026-02"))

    # then a credit note negates the original line, with tax at the original 20%
    note = invoices["GB01-K1-2026-01-C1"]
    assert note.kind == "credit_note"
    assert nets(note) == {"TE-1": D("-1125.00")}  # -(7.5 x 150.00)
    assert (note.net, note.tax, note.gross) == (D("-1125.00"), D("-225.00"), D("-1350.00"))
    assert note.invoice_date == date(2026, 2, 28)
    # and the new amount is billed on February's invoice, under February's terms
    feb = invoices["GB01-K1-2026-02"]
    assert nets(feb) == {"TE-1": D("900.00")}  # 6 h x 150.00
    assert (feb.tax, feb.gross) == (D("0.00"), D("900.00"))
    assert (entry.state, entry.invoice_number) == ("invoiced", "GB01-K1-2026-02")
    assert b.invoices["GB01-K1-2026-01"].credit_notes == ["GB01-K1-2026-01-C1"]


def test_rerunning_after_a_correction_appends_nothing() -> None:
    entry = time_entry("TE-1", "7.5", date(2026, 1, 5))
    b = tm_book([entry])
    bill(b, "2026-01")
    entry.revise({**entry.fields, "hours": D("6")}, PSA)
    assert set(by_number(bill(b, "2026-02"))) == {"GB01-K1-2026-01-C1", "GB01-K1-2026-02"}
    collect(b)

    assert bill(b, "2026-02") == []
    assert collect(b) == []
