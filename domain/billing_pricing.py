"""Billing phase 3: price open items (rules 1-5, 7 and 8), with the retainer
draw-down and billing holds. Items and terms whose values break arithmetic
become `invalid_amount` exceptions (domain.arithmetic)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from domain.arithmetic import (
    ARITHMETIC_ERRORS,
    INVALID_AMOUNT,
    failure,
    item_problem,
    terms_problem,
)
from domain.billing_context import ContractBook, RunContext
from domain.contract import ContractTerms
from domain.expense_item import ExpenseItem
from domain.milestone import Milestone
from domain.period import Period
from domain.pricing import (
    Hold,
    Line,
    included_line,
    price_expense,
    price_hours,
    price_milestone,
    price_time,
    retainer_split,
)
from domain.time_entry import TimeEntry
from domain.work_item import INVOICED, POSTED, WorkItem


def price_open_items(ctx: RunContext, book: ContractBook) -> None:
    contract = book.contract
    retainer_entries: list[tuple[TimeEntry, ContractTerms]] = []
    for item in ctx.open_items(book):
        if f"{item.KIND}:{item.business_id}" in book.pending:
            item.hold(
                "pending_source_change",
                f"{item.label} has a later change at the source waiting for another record",
                ctx.provenance,
            )
            continue
        day = item.item_date
        assert day is not None
        terms = contract.version_in_force(day)
        if terms is None:
            item.hold(
                "no_contract_version",
                f"{contract.label} has no approved version in force on {day}",
                ctx.provenance,
            )
            continue
        if isinstance(item, TimeEntry) and terms.billing_method == "fixed_price":
            # Time on a fixed-price contract is not billable (priced under
            # another contract before its project moved: no longer).
            item.unprice("not_billable", ctx.provenance)
            continue
        project = book.projects.get(item.project_id)
        if project is not None and project.status == "on_hold":
            item.hold(
                "project_on_hold",
                f"project {project.business_id} is on hold in the PSA",
                ctx.provenance,
            )
            continue
        problem = terms_problem(contract.label, terms) or item_problem(item, terms.currency)
        if problem is not None:
            item.hold(INVALID_AMOUNT, problem, ctx.provenance)
            continue
        if isinstance(item, TimeEntry) and terms.billing_method == "retainer":
            retainer_entries.append((item, terms))
            continue
        apply_outcome(ctx, item, price_one(ctx, item, terms, book))
    price_retainer(ctx, book, retainer_entries)


def price_one(
    ctx: RunContext, item: WorkItem, terms: ContractTerms, book: ContractBook
) -> list[Line] | Hold:
    """The item's lines, or the exception that stops it (invalid_amount when
    its values break the arithmetic)."""
    try:
        if isinstance(item, TimeEntry):
            card = book.rate_cards.get(terms.rate_card_id or "")
            return price_time(item, terms, card, ctx.rules)
        if isinstance(item, ExpenseItem):
            return price_expense(item, terms, ctx.rules)
        assert isinstance(item, Milestone)
        return price_milestone(item, terms, ctx.rules)
    except ARITHMETIC_ERRORS as exc:
        return Hold(INVALID_AMOUNT, failure(item, exc))


def apply_outcome(ctx: RunContext, item: WorkItem, outcome: list[Line] | Hold) -> None:
    if isinstance(outcome, Hold):
        item.hold(outcome.code, outcome.reason, ctx.provenance)
    else:
        item.price(outcome, ctx.provenance)


def price_retainer(
    ctx: RunContext, book: ContractBook, entries: list[tuple[TimeEntry, ContractTerms]]
) -> None:
    by_month: dict[Period, list[tuple[TimeEntry, ContractTerms]]] = defaultdict(list)
    for entry, terms in entries:
        by_month[Period.of(entry.item_date)].append((entry, terms))
    for month, month_entries in by_month.items():
        # Hours already invoiced count first: the included hours they drew.
        used = sum(
            (
                Decimal(line["quantity"])
                for item in book.items
                if isinstance(item, TimeEntry)
                and item.state in (INVOICED, POSTED)
                and item.invoice_number in book.invoices
                and Period.of(item.item_date) == month
                for line in item.priced
                if line.get("part") == "included"
            ),
            Decimal(0),
        )
        included = month_entries[0][1].included_hours or Decimal(0)
        _draw_down(ctx, book, month_entries, included, used)


def _draw_down(
    ctx: RunContext,
    book: ContractBook,
    entries: list[tuple[TimeEntry, ContractTerms]],
    included: Decimal,
    used: Decimal,
) -> None:
    """Split and price a month's entries; an entry whose pricing breaks the
    arithmetic is set aside (invalid_amount) and the month split again
    without it, so that it draws no included hours from the others."""
    pending = list(entries)
    while True:
        split = retainer_split(
            [(entry.business_id, entry.hours) for entry, _ in pending], included, used
        )
        outcomes: list[tuple[TimeEntry, list[Line] | Hold]] = []
        broken: list[TimeEntry] = []
        for entry, terms in pending:
            try:
                outcomes.append((entry, _retainer_lines(ctx, book, entry, terms, split)))
            except ARITHMETIC_ERRORS as exc:
                entry.hold(INVALID_AMOUNT, failure(entry, exc), ctx.provenance)
                broken.append(entry)
        if not broken:
            break
        pending = [(entry, terms) for entry, terms in pending if entry not in broken]
    for entry, outcome in outcomes:
        apply_outcome(ctx, entry, outcome)


def _retainer_lines(
    ctx: RunContext,
    book: ContractBook,
    entry: TimeEntry,
    terms: ContractTerms,
    split: dict[str, tuple[Decimal, Decimal]],
) -> list[Line] | Hold:
    covered, overage = split[entry.business_id]
    lines: list[Line] = []
    if covered:
        lines.append(included_line(entry, covered, terms, ctx.rules))
    if overage:
        card = book.rate_cards.get(terms.rate_card_id or "")
        priced = price_hours(entry, overage, "overage", terms, card, ctx.rules)
        if isinstance(priced, Hold):
            return priced
        lines.append(priced)
    return lines
