"""Pricing of single work items: rules 1-4 and 8 of BILLING_RULES.md.

Each function returns the item's ledger lines (as event-ready dicts) or a
`Hold` naming the billing exception. Nothing here reads or writes state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from domain.contract import ContractTerms
from domain.expense_item import ExpenseItem
from domain.milestone import Milestone
from domain.money import round_money
from domain.rate_card import RateCard
from domain.rules import RuleSet
from domain.time_entry import TimeEntry

Line = dict[str, Any]


@dataclass(frozen=True)
class Hold:
    """A billing exception: the item cannot be billed now, and why."""

    code: str
    reason: str


def line(
    item_id: str,
    kind: str,
    part: str,
    category: str,
    quantity: Decimal,
    unit_price: Decimal,
    net: Decimal,
    currency: str,
    terms: ContractTerms,
    rules: RuleSet,
    **extra: Any,
) -> Line:
    return {
        "item_id": item_id,
        "item_kind": kind,
        "part": part,
        "category": category,
        "quantity": quantity,
        "unit_price": unit_price,
        "net": net,
        "currency": currency,
        "contract_version": terms.version,
        "rule_version": rules.version,
        **extra,
    }


def fx_for(rules: RuleSet, source: str, target: str, on: date, what: str) -> Decimal | Hold:
    rate = rules.fx_rate(source, target, on)
    if rate is None:
        return Hold("no_fx_rate", f"no FX rate {source}->{target} on or before {on} for {what}")
    return rate


def price_hours(
    entry: TimeEntry,
    hours: Decimal,
    part: str,
    terms: ContractTerms,
    rate_card: RateCard | None,
    rules: RuleSet,
) -> Line | Hold:
    """Rule 1: round(hours x rate [x fx], 2) at the role's rate on the work date."""
    day = entry.item_date
    if rate_card is None:
        return Hold("no_rate", f"rate card {terms.rate_card_id} is not known to the ledger")
    rate_line = rate_card.rate_for(entry.role, day)
    if rate_line is None:
        return Hold(
            "no_rate", f"rate card {rate_card.business_id} has no rate for {entry.role} on {day}"
        )
    fx = fx_for(rules, rate_card.currency, terms.currency, day, entry.label)
    if isinstance(fx, Hold):
        return fx
    net = round_money(hours * rate_line.hourly_rate * fx, terms.currency)
    return line(
        entry.business_id,
        entry.KIND,
        part,
        entry.role,
        hours,
        rate_line.hourly_rate * fx,
        net,
        terms.currency,
        terms,
        rules,
        rate=rate_line.hourly_rate,
        rate_currency=rate_card.currency,
        fx_rate=fx,
        rate_card_line_id=rate_line.line_id,
        item_date=day,
    )


def price_time(
    entry: TimeEntry, terms: ContractTerms, rate_card: RateCard | None, rules: RuleSet
) -> list[Line] | Hold:
    priced = price_hours(entry, entry.hours, "full", terms, rate_card, rules)
    return priced if isinstance(priced, Hold) else [priced]


def included_line(entry: TimeEntry, hours: Decimal, terms: ContractTerms, rules: RuleSet) -> Line:
    """The part of a retainer entry covered by the monthly fee."""
    return line(
        entry.business_id,
        entry.KIND,
        "included",
        entry.role,
        hours,
        Decimal("0"),
        round_money(Decimal("0"), terms.currency),
        terms.currency,
        terms,
        rules,
        item_date=entry.item_date,
    )


def price_expense(item: ExpenseItem, terms: ContractTerms, rules: RuleSet) -> list[Line] | Hold:
    """Rule 3: round(amount x (1 + markup/100) [x fx], 2)."""
    day = item.item_date
    fx = fx_for(rules, item.currency, terms.currency, day, item.label)
    if isinstance(fx, Hold):
        return fx
    factor = 1 + terms.expense_markup_pct / 100
    net = round_money(item.amount * factor * fx, terms.currency)
    return [
        line(
            item.business_id,
            item.KIND,
            "full",
            str(item.fields.get("category", "expense")),
            Decimal("1"),
            net,
            net,
            terms.currency,
            terms,
            rules,
            amount=item.amount,
            amount_currency=item.currency,
            fx_rate=fx,
            markup_pct=terms.expense_markup_pct,
            item_date=day,
        )
    ]


def price_milestone(ms: Milestone, terms: ContractTerms, rules: RuleSet) -> list[Line] | Hold:
    """Rule 4: the milestone amount on acceptance (the contract's amount when
    the contract lists the milestone, else the PSA's, converted)."""
    day = ms.item_date
    assert day is not None
    agreed = terms.milestone_amount(ms.business_id)
    if agreed is not None:
        amount, fx = agreed, Decimal(1)
    else:
        rate = fx_for(rules, ms.currency, terms.currency, day, ms.label)
        if isinstance(rate, Hold):
            return rate
        amount, fx = ms.amount, rate
    net = round_money(amount * fx, terms.currency)
    return [
        line(
            ms.business_id,
            ms.KIND,
            "full",
            "milestone",
            Decimal("1"),
            net,
            net,
            terms.currency,
            terms,
            rules,
            fx_rate=fx,
            item_date=day,
            description=str(ms.fields.get("name", ms.business_id)),
        )
    ]


def retainer_split(
    hours_in_order: list[tuple[str, Decimal]], included: Decimal, already_used: Decimal
) -> dict[str, tuple[Decimal, Decimal]]:
    """Rule 5: draw down the month's included hours in the given order.

    Returns item id -> (included part, overage part). Hours already invoiced
    in the month (`already_used`) count first.
    """
    remaining = max(included - already_used, Decimal("0"))
    split: dict[str, tuple[Decimal, Decimal]] = {}
    for item_id, hours in hours_in_order:
        covered = min(hours, remaining)
        remaining -= covered
        split[item_id] = (covered, hours - covered)
    return split
