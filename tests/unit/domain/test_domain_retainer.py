"""Rule 5: retainer fee lines, included hours drawn down, overage at the rate."""

from __future__ import annotations

from datetime import date
from typing import Any

from builders import PSA, D, bill, book, collect, contract, rate_card, terms, time_entry

from domain.billing import ContractBook
from domain.invoice import Invoice
from domain.work_item import WorkItem

JAN = date(2026, 1, 1)


def retainer_book(items: list[WorkItem]) -> ContractBook:
    """Retainer: 5000.00 a month with 20 included hours; consultant at 150.00."""
    k = contract(terms(billing_method="retainer", monthly_fee=D("5000.00"), included_hours=D("20")))
    return book(k, items, [rate_card(("consultant", "150.00", JAN, None))])


def parts(invoice: Invoice) -> list[tuple[Any, str, D, D]]:
    """(item, part, quantity, net) of each line."""
    return [(ln["item_id"], ln["part"], ln["quantity"], ln["net"]) for ln in invoice.lines]


def test_a_month_bills_its_fee_and_the_overage_beyond_the_included_hours() -> None:
    # given 8 h + 10 h on 5 Jan, 6 h on 10 Jan, 3 h on 12 Jan (27 h; 20 included)
    items = [
        time_entry("TE-2", "10", date(2026, 1, 5)),
        time_entry("TE-1", "8", date(2026, 1, 5)),
        time_entry("TE-3", "6", date(2026, 1, 10)),
        time_entry("TE-4", "3", date(2026, 1, 12)),
    ]
    b = retainer_book(items)

    # when January is billed
    [invoice] = bill(b, "2026-01")

    # then one fee line, then the draw-down in (work date, item id) order:
    # TE-1 8 (8 used), TE-2 10 (18 used), TE-3 2 included + 4 over, TE-4 3 over
    assert parts(invoice) == [
        (None, "fee", D("1"), D("5000.00")),
        ("TE-1", "included", D("8"), D("0.00")),
        ("TE-2", "included", D("10"), D("0.00")),
        ("TE-3", "included", D("2"), D("0.00")),
        ("TE-3", "overage", D("4"), D("600.00")),  # 4 h x 150.00
        ("TE-4", "overage", D("3"), D("450.00")),  # 3 h x 150.00
    ]
    assert invoice.net == D("6050.00")  # 5000.00 + 600.00 + 450.00
    assert invoice.tax == D("1210.00")  # 6050.00 x 0.20
    assert invoice.gross == D("7260.00")
    assert b.contract.fee_lines == {"2026-01": "GB01-K1-2026-01"}


def test_item_id_breaks_ties_between_entries_on_the_same_date() -> None:
    items = [
        time_entry("TE-B", "10", date(2026, 1, 5)),
        time_entry("TE-A", "15", date(2026, 1, 5)),
        time_entry("TE-0", "1", date(2026, 1, 6)),  # a later date comes later, whatever its id
    ]
    [invoice] = bill(retainer_book(items), "2026-01")

    # TE-A 15 included (15 used); TE-B 5 included + 5 over; TE-0 1 over
    assert parts(invoice)[1:] == [
        ("TE-A", "included", D("15"), D("0.00")),
        ("TE-B", "included", D("5"), D("0.00")),
        ("TE-B", "overage", D("5"), D("750.00")),  # 5 h x 150.00
        ("TE-0", "overage", D("1"), D("150.00")),  # 1 h x 150.00
    ]


def test_a_month_without_time_still_bills_its_fee_once() -> None:
    b = retainer_book([])

    [invoice] = bill(b, "2026-01")
    collect(b)

    assert parts(invoice) == [(None, "fee", D("1"), D("5000.00"))]
    assert invoice.gross == D("6000.00")  # 5000.00 + 20% tax
    assert bill(b, "2026-01") == []
    assert collect(b) == []


def test_each_month_has_its_own_fee_and_its_own_included_hours() -> None:
    items = [
        time_entry("TE-1", "20", date(2026, 1, 5)),
        time_entry("TE-2", "2", date(2026, 2, 3)),
    ]
    b = retainer_book(items)

    [jan] = bill(b, "2026-01")
    [feb] = bill(b, "2026-02")

    assert parts(jan) == [
        (None, "fee", D("1"), D("5000.00")),
        ("TE-1", "included", D("20"), D("0.00")),
    ]
    # February's 2 h draw on February's 20 included hours, not January's used ones
    assert parts(feb) == [
        (None, "fee", D("1"), D("5000.00")),
        ("TE-2", "included", D("2"), D("0.00")),
    ]
    assert b.contract.fee_lines == {"2026-01": "GB01-K1-2026-01", "2026-02": "GB01-K1-2026-02"}


def test_hours_already_invoiced_count_first_in_a_later_run() -> None:
    # given 12 h on 10 Jan, invoiced in January's run
    first = time_entry("TE-1", "12", date(2026, 1, 10))
    late = time_entry("TE-5", "10", date(2026, 1, 5), approved=False)
    b = retainer_book([first, late])
    [jan] = bill(b, "2026-01")
    assert parts(jan)[1:] == [("TE-1", "included", D("12"), D("0.00"))]

    # when an entry of 10 h dated 5 Jan is approved late, and February is billed
    late.approve("pm@psa", None, PSA)
    [feb] = bill(b, "2026-02")

    # then January's 12 invoiced hours count first, although TE-5 is dated earlier:
    # 20 - 12 = 8 included left; TE-5 8 included + 2 over
    assert parts(feb) == [
        (None, "fee", D("1"), D("5000.00")),
        ("TE-5", "included", D("8"), D("0.00")),
        ("TE-5", "overage", D("2"), D("300.00")),  # 2 h x 150.00
    ]
    assert feb.net == D("5300.00")


def test_overage_without_a_rate_leaves_the_entry_approved_with_no_rate() -> None:
    items = [
        time_entry("TE-1", "20", date(2026, 1, 5)),
        time_entry("TE-2", "4", date(2026, 1, 6), role="architect"),
    ]
    b = retainer_book(items)

    [invoice] = bill(b, "2026-01")

    assert [ln["item_id"] for ln in invoice.lines] == [None, "TE-1"]
    assert items[1].state == "approved"
    assert items[1].exception is not None
    assert items[1].exception["code"] == "no_rate"
