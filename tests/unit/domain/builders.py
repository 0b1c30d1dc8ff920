"""Builders for domain unit tests: contracts, rate cards, items, books, runs.

Everything here is plain construction through the aggregates' own commands;
no amount is computed here. Tests compute their expected amounts by hand.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from domain.base import LedgerAggregate
from domain.billing import BillingRun, ContractBook
from domain.contract import Contract, ContractTerms
from domain.customer import Customer
from domain.expense_item import ExpenseItem
from domain.invoice import Invoice
from domain.milestone import Milestone
from domain.period import Period
from domain.project import Project
from domain.provenance import Provenance
from domain.rate_card import RateCard, RateLine
from domain.rules import RuleSet
from domain.time_entry import TimeEntry
from domain.work_item import WorkItem

D = Decimal
W = TypeVar("W", bound=WorkItem)

PSA = Provenance("psa", "test:psa")
CRM = Provenance("crm", "test:crm")
HR = Provenance("hr", "test:hr")
ERP = Provenance("erp", "test:erp")
LEDGER = Provenance("ledger", "test:run")

# The reference tax codes and FX rates (shape and values of tax_and_fx.json).
REFERENCE_RULES: dict[str, Any] = {
    "tax_codes": {
        "GB-VAT-STD": {"rate": "0.20", "legal_entities": ["GB01"]},
        "DE-VAT-STD": {"rate": "0.19", "legal_entities": ["DE01"]},
        "US-NY-SERVICES": {"rate": "0.00", "legal_entities": ["US01"]},
        "EXEMPT": {"rate": "0.00", "legal_entities": ["GB01", "DE01", "US01"]},
    },
    "fx_rates": [
        {"from": "USD", "to": "GBP", "rate": "0.7900", "effective_from": "2026-01-01"},
        {"from": "EUR", "to": "GBP", "rate": "0.8600", "effective_from": "2026-01-01"},
        {"from": "USD", "to": "EUR", "rate": "0.9200", "effective_from": "2026-01-01"},
        {"from": "GBP", "to": "EUR", "rate": "1.1630", "effective_from": "2026-01-01"},
        {"from": "GBP", "to": "USD", "rate": "1.2660", "effective_from": "2026-01-01"},
        {"from": "EUR", "to": "USD", "rate": "1.0870", "effective_from": "2026-01-01"},
    ],
}
RULES = RuleSet.from_mapping(REFERENCE_RULES)


def rules_with_fx(*extra: dict[str, str]) -> RuleSet:
    """The reference rules plus extra FX rates."""
    data = copy.deepcopy(REFERENCE_RULES)
    data["fx_rates"].extend(extra)
    return RuleSet.from_mapping(data)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC)


def terms(**overrides: Any) -> ContractTerms:
    """Version 1 of a GBP time-and-materials contract for GB01 from 2026-01-01."""
    values: dict[str, Any] = {
        "version": 1,
        "customer_id": "CUST-1",
        "legal_entity": "GB01",
        "currency": "GBP",
        "billing_method": "time_and_materials",
        "rate_card_id": "RC-1",
        "expense_markup_pct": D("0"),
        "tax_code": "GB-VAT-STD",
        "invoice_frequency": "monthly",
        "consolidation": "per_contract",
        "effective_from": date(2026, 1, 1),
        "effective_to": None,
    }
    values.update(overrides)
    return ContractTerms(**values)


def contract(first: ContractTerms | None = None, business_id: str = "K1") -> Contract:
    first = first or terms()
    return Contract(
        business_id=business_id,
        terms=first.to_event(),
        approved_by="sales@crm",
        approved_at=at(first.effective_from),
        provenance=CRM,
    )


def approve_amendment(
    k: Contract, version: int, changes: dict[str, Any], effective_from: date
) -> None:
    k.propose_amendment(version, changes, effective_from, "change order", "am@crm", CRM)
    k.approve_amendment(version, "finance@ledger", at(effective_from), LEDGER)


def add_version(k: Contract, new_terms: ContractTerms) -> None:
    k.approve_version(new_terms, "sales@crm", at(new_terms.effective_from), CRM)


def rate_card(
    *lines: tuple[str, str, date, date | None],
    currency: str = "GBP",
    business_id: str = "RC-1",
) -> RateCard:
    """A rate card with lines (role, hourly rate, effective_from, effective_to)."""
    card = RateCard(business_id=business_id, name="Standard", currency=currency, provenance=PSA)
    for i, (role, rate, start, end) in enumerate(lines, start=1):
        card.set_line(RateLine(f"{business_id}-L{i}", role, D(rate), start, end), PSA)
    return card


def project(
    business_id: str = "P1", status: str = "active", legal_entity: str = "GB01", k: str = "K1"
) -> Project:
    details = {"contract_id": k, "legal_entity": legal_entity, "status": status}
    return Project(business_id=business_id, details=details, provenance=PSA)


def customer(payment_terms_days: int = 30, business_id: str = "CUST-1") -> Customer:
    details = {"name": "Acme Ltd", "payment_terms_days": payment_terms_days}
    return Customer(business_id=business_id, details=details, provenance=CRM)


def capture(cls: type[W], business_id: str, fields: dict[str, Any]) -> W:
    """A new planned item, captured from the PSA."""
    item = cls.capture(business_id, fields, PSA)
    assert isinstance(item, cls)
    return item


def time_entry(
    business_id: str,
    hours: str,
    work_date: date,
    role: str = "consultant",
    project_id: str = "P1",
    approved: bool = True,
    billable: bool = True,
) -> TimeEntry:
    fields = {
        "project_id": project_id,
        "worker_id": "W1",
        "role": role,
        "work_date": work_date,
        "hours": D(hours),
        "billable": billable,
    }
    entry = capture(TimeEntry, business_id, fields)
    if approved:
        entry.approve("pm@psa", at(work_date), PSA)
    return entry


def expense(
    business_id: str,
    amount: str,
    currency: str,
    incurred_on: date,
    project_id: str = "P1",
    category: str = "travel",
) -> ExpenseItem:
    fields = {
        "project_id": project_id,
        "worker_id": "W1",
        "amount": D(amount),
        "currency": currency,
        "incurred_on": incurred_on,
        "category": category,
        "billable": True,
    }
    item = capture(ExpenseItem, business_id, fields)
    item.approve("pm@psa", at(incurred_on), PSA)
    return item


def milestone(
    business_id: str,
    amount: str,
    accepted_on: date | None,
    currency: str = "GBP",
    project_id: str = "P1",
) -> Milestone:
    fields = {
        "project_id": project_id,
        "name": f"Milestone {business_id}",
        "amount": D(amount),
        "currency": currency,
    }
    ms = capture(Milestone, business_id, fields)
    if accepted_on is not None:
        ms.approve("customer@crm", at(accepted_on), PSA)
    return ms


def book(
    k: Contract,
    items: list[WorkItem],
    cards: list[RateCard] | None = None,
    projects: list[Project] | None = None,
    cust: Customer | None = None,
) -> ContractBook:
    return ContractBook(
        contract=k,
        customer=cust or customer(),
        projects={p.business_id: p for p in (projects or [project()])},
        items=list(items),
        invoices={},
        rate_cards={c.business_id: c for c in (cards or [])},
    )


def bill(b: ContractBook, period: str, rules: RuleSet = RULES, run: str = "run") -> list[Invoice]:
    """Run billing for the period over the book."""
    provenance = replace(LEDGER, record_id=f"test:{run}:{period}")
    return BillingRun(Period.parse(period), rules, provenance).bill(b)


def aggregates(b: ContractBook) -> list[LedgerAggregate]:
    return [
        b.contract,
        *([b.customer] if b.customer else []),
        *b.projects.values(),
        *b.items,
        *b.invoices.values(),
        *b.rate_cards.values(),
    ]


def collect(b: ContractBook) -> list[Any]:
    """Take every pending event of the book's aggregates (as a save would)."""
    events: list[Any] = []
    for agg in aggregates(b):
        events.extend(agg.collect_events())
    return events


def event_names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


class FakeRepo:
    """In-memory `Aggregates` (domain.handlers): a dict keyed by (class, id).

    `parents` is the entity index as the handlers told it: (kind, id) ->
    parent id, the last one given (an upsert, like the store's)."""

    def __init__(self, *aggs: LedgerAggregate) -> None:
        self.store: dict[tuple[type, str], LedgerAggregate] = {}
        self.parents: dict[tuple[str, str], str | None] = {}
        for agg in aggs:
            self.add(agg)

    def get(self, cls: type[Any], business_id: str) -> Any:
        return self.store.get((cls, business_id))

    def add(self, aggregate: LedgerAggregate, parent_id: str | None = None) -> None:
        self.store[(type(aggregate), aggregate.business_id)] = aggregate
        self.parents[(aggregate.KIND, aggregate.business_id)] = parent_id

    def exists(self, cls: type[Any], business_id: str) -> bool:
        return (cls, business_id) in self.store

    def pending(self) -> list[Any]:
        events: list[Any] = []
        for agg in self.store.values():
            events.extend(agg.collect_events())
        return events


def repo_for(b: ContractBook) -> FakeRepo:
    return FakeRepo(*aggregates(b))
