"""Properties: invoice arithmetic, idempotent runs, deterministic replay."""

from __future__ import annotations

import os
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from builders import (
    ERP,
    LEDGER,
    PSA,
    D,
    bill,
    book,
    collect,
    contract,
    expense,
    project,
    rate_card,
    terms,
    time_entry,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import TransitionRefused
from domain.time_entry import TimeEntry
from domain.work_item import WorkItem

JAN = date(2026, 1, 1)
CENT = Decimal("0.01")
RATES = {"consultant": D("150.00"), "analyst": D("87.50")}
TO_GBP = {"GBP": D("1"), "EUR": D("0.86"), "USD": D("0.79")}  # tax_and_fx.json
VAT = D("0.20")

# PSLEDGER_HYPOTHESIS_EXAMPLES=2000 for a deeper search than CI's.
fast = settings(
    max_examples=int(os.environ.get("PSLEDGER_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def half_up(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


entries = st.lists(
    st.tuples(
        st.integers(1, 48).map(lambda q: D(q) / 4),  # 0.25 .. 12 hours
        st.integers(1, 31),
        st.sampled_from(sorted(RATES)),
        st.sampled_from(["P1", "P2"]),
    ),
    max_size=8,
)
expenses = st.lists(
    st.tuples(
        st.integers(1, 99_999).map(lambda cents: D(cents) / 100),
        st.sampled_from(sorted(TO_GBP)),
        st.integers(1, 31),
        st.sampled_from(["P1", "P2"]),
    ),
    max_size=6,
)


def card() -> Any:
    return rate_card(*((role, str(rate), JAN, None) for role, rate in RATES.items()))


@fast
@given(
    entries=entries,
    expenses=expenses,
    markup=st.sampled_from(["0", "7.5", "10", "12.5"]),
    consolidation=st.sampled_from(["per_contract", "per_project"]),
)
def test_every_invoice_adds_up(
    entries: list[tuple[Decimal, int, str, str]],
    expenses: list[tuple[Decimal, str, int, str]],
    markup: str,
    consolidation: str,
) -> None:
    items: list[WorkItem] = []
    expected: dict[str, Decimal] = {}
    for i, (hours, day, role, pid) in enumerate(entries):
        item_id = f"TE-{i:02d}"
        items.append(time_entry(item_id, str(hours), date(2026, 1, day), role, pid))
        expected[item_id] = half_up(hours * RATES[role])  # rule 1
    for i, (amount, currency, day, pid) in enumerate(expenses):
        item_id = f"EX-{i:02d}"
        items.append(expense(item_id, str(amount), currency, date(2026, 1, day), pid))
        factor = 1 + D(markup) / 100
        expected[item_id] = half_up(amount * factor * TO_GBP[currency])  # rules 2 and 3
    k = contract(terms(expense_markup_pct=D(markup), consolidation=consolidation))
    b = book(k, items, [card()], [project("P1"), project("P2")])

    invoices = bill(b, "2026-01")

    billed: dict[str, Decimal] = {}
    for invoice in invoices:
        line_nets = [ln["net"] for ln in invoice.lines]
        assert invoice.net == sum(line_nets, D(0))
        assert invoice.tax == half_up(invoice.net * VAT)
        assert invoice.gross == invoice.net + invoice.tax
        assert invoice.invoice_date == date(2026, 1, 31)
        billed.update({ln["item_id"]: ln["net"] for ln in invoice.lines})
    assert billed == expected
    assert all(item.state == "invoiced" for item in items)
    projects = {"per_contract": 1, "per_project": len({i.project_id for i in items})}
    assert len(invoices) == (projects[consolidation] if items else 0)


@fast
@given(
    entries=st.lists(
        st.tuples(
            st.integers(1, 48).map(lambda q: D(q) / 4),
            st.integers(1, 59),  # a day of January or February
            st.sampled_from(["consultant", "analyst", "architect"]),  # architect: no rate
            st.sampled_from(["P1", "P2"]),
        ),
        max_size=10,
    ),
    method=st.sampled_from(["time_and_materials", "retainer"]),
    cap=st.sampled_from([None, "500.00", "2000.00"]),
    p2_on_hold=st.booleans(),
)
def test_billing_the_same_period_twice_appends_nothing(
    entries: list[tuple[Decimal, int, str, str]],
    method: str,
    cap: str | None,
    p2_on_hold: bool,
) -> None:
    items = [
        time_entry(
            f"TE-{i:02d}", str(hours), date.fromordinal(JAN.toordinal() + day - 1), role, pid
        )
        for i, (hours, day, role, pid) in enumerate(entries)
    ]
    retainer = {"monthly_fee": D("1000.00"), "included_hours": D("10")}
    k = contract(
        terms(
            billing_method=method,
            not_to_exceed=None if cap is None else D(cap),
            **(retainer if method == "retainer" else {}),
        )
    )
    projects = [project("P1"), project("P2", status="on_hold" if p2_on_hold else "active")]
    b = book(k, items, [card()], projects)

    for period in ("2026-01", "2026-02"):
        bill(b, period, run="first")
        collect(b)
        snapshot = [(i.state, i.exception, i.priced) for i in items]

        assert bill(b, period, run="second") == []

        assert collect(b) == []
        assert [(i.state, i.exception, i.priced) for i in items] == snapshot


# -- replay ----------------------------------------------------------------------

LINES = st.builds(
    lambda net: [{"item_id": "TE-1", "part": "full", "net": D(net) / 100}],
    st.integers(0, 100_000),
)


def command(data: st.DataObject) -> Any:
    """One command for TE-1, drawn at random; it may or may not be allowed now."""
    name = data.draw(
        st.sampled_from(
            [
                "approve",
                "unapprove",
                "price",
                "hold",
                "invoice",
                "post",
                "return",
                "credit",
                "revise",
                "withdraw",
            ]
        )
    )
    if name == "price":
        lines = data.draw(LINES)
        return lambda e: e.price(lines, LEDGER)
    if name == "hold":
        code = data.draw(st.sampled_from(["no_rate", "nte_exceeded", "project_on_hold"]))
        return lambda e: e.hold(code, f"reason {code}", LEDGER)
    if name == "revise":
        hours = data.draw(st.integers(1, 40).map(lambda q: D(q) / 4))
        return lambda e: e.revise({**e.fields, "hours": hours}, PSA)
    return {
        "approve": lambda e: e.approve("pm@psa", None, PSA),
        "unapprove": lambda e: e.unapprove(PSA),
        "invoice": lambda e: e.invoice("GB01-K1-2026-01", LEDGER),
        "post": lambda e: e.post("ERP-1", ERP),
        "return": lambda e: e.return_for_reissue("GB01-K1-2026-01", ERP),
        "credit": lambda e: e.credit("GB01-K1-2026-01-C1", LEDGER),
        "withdraw": lambda e: e.withdraw(PSA),
    }[name]


def state_of(entry: TimeEntry) -> dict[str, Any]:
    return {k: v for k, v in vars(entry).items() if k != "_pending_events"}


@fast
@given(data=st.data(), steps=st.integers(0, 25))
def test_replaying_a_time_entry_events_reproduces_its_state(
    data: st.DataObject, steps: int
) -> None:
    entry = time_entry("TE-1", "7.5", date(2026, 1, 5), approved=False)
    events = entry.collect_events()
    for _ in range(steps):
        try:
            command(data)(entry)
        except TransitionRefused:
            assert entry.pending_events == []  # a refused command appends nothing
        events += entry.collect_events()

    replayed = None
    for event in events:
        replayed = event.mutate(replayed)

    assert isinstance(replayed, TimeEntry)
    assert state_of(replayed) == state_of(entry)
    assert replayed.version == len(events)
