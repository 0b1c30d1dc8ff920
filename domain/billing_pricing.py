"""Billing phase 3: price open items (rules 1-5, 7 and 8), with the retainer
draw-down and billing holds."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

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
            continue  # time on a fixed-price contract is not billable
        project = book.projects.get(item.project_id)
        if project is not None and project.status == "on_hold":
            item.hold(
                "project_on_hold",
                f"project {project.business_id} is on hold in the PSA",
                ctx.provenance,
            )
            continue
        if isinstance(item, TimeEntry) and terms.billing_method == "retainer":
            retainer_entries.append((item, terms))
            continue
        apply_outcome(ctx, item, price_one(ctx, item, terms, book))
    price_retainer(ctx, book, retainer_entries)


def price_one(
    ctx: RunContext, item: WorkItem, terms: ContractTerms, book: ContractBook
) -> list[Line] | Hold:
    if isinstance(item, TimeEntry):
        card = book.rate_cards.get(terms.rate_card_id or "")
        return price_time(item, terms, card, ctx.rules)
    if isinstance(item, ExpenseItem):
        return price_expense(item, terms, ctx.rules)
    assert isinstance(item, Milestone)
    return price_milestone(item, terms, ctx.rules)


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
                and Period.of(item.item_date) == month
                for line in item.priced
                if line.get("part") == "included"
            ),
            Decimal(0),
        )
        included = month_entries[0][1].included_hours or Decimal(0)
        split = retainer_split(
            [(entry.business_id, entry.hours) for entry, _ in month_entries], included, used
        )
        for entry, terms in month_entries:
            covered, overage = split[entry.business_id]
            lines: list[Line] = []
            if covered:
                lines.append(included_line(entry, covered, terms, ctx.rules))
            if overage:
                card = book.rate_cards.get(terms.rate_card_id or "")
                priced = price_hours(entry, overage, "overage", terms, card, ctx.rules)
                if isinstance(priced, Hold):
                    apply_outcome(ctx, entry, priced)
                    continue
                lines.append(priced)
            apply_outcome(ctx, entry, lines)
