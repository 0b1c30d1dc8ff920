"""Billing phase 4: the not-to-exceed cap (rule 6), retainer fee lines, tax,
grouping and deterministic invoice numbers.

Terms in force for the billing that break arithmetic, or an invoice whose
totals do, hold the items concerned with `invalid_amount` (they stay
billable, like nte_exceeded, and are invoiced once it clears)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from domain.arithmetic import ARITHMETIC_ERRORS, INVALID_AMOUNT, terms_problem
from domain.billing_context import ContractBook, RunContext
from domain.contract import Contract, ContractTerms
from domain.invoice import Invoice, invoice_totals
from domain.milestone import Milestone
from domain.money import round_money
from domain.period import Period
from domain.pricing import (
    Line,
)
from domain.work_item import BILLABLE, WorkItem


@dataclass
class _Group:
    number: str
    legal_entity: str
    project_id: str | None
    milestone: Milestone | None
    items: list[WorkItem] = field(default_factory=list)
    fee_month: str | None = None
    fee_line: Line | None = None


def invoice_billable(ctx: RunContext, book: ContractBook) -> list[Invoice]:
    contract = book.contract
    billing_date = ctx.period.last_day
    terms = _terms_for_billing(contract, billing_date)
    if terms is None:
        return []
    candidates = [item for item in ctx.open_items(book) if item.state == BILLABLE and item.priced]
    fee_terms = _terms_in_month(contract, ctx.period)
    problem = terms_problem(contract.label, terms) or (
        terms_problem(contract.label, fee_terms) if fee_terms is not None else None
    )
    if problem is not None:
        for item in candidates:
            item.hold(INVALID_AMOUNT, problem, ctx.provenance, keep_priced=True)
        return []
    groups: dict[str, _Group] = {}
    fee = fee_line(ctx, book, terms)
    if fee is not None:
        number = invoice_number(ctx, book, terms, terms.legal_entity, None, None)
        group = groups.setdefault(number, _Group(number, terms.legal_entity, None, None))
        group.fee_month, group.fee_line = str(ctx.period), fee
    billed = sum((inv.net for inv in book.invoices.values() if inv.counts_as_billed), Decimal(0))
    running = billed + (fee["net"] if fee is not None else Decimal(0))
    group_nets = {number: fee["net"] for number in groups} if fee is not None else {}
    cap = terms.not_to_exceed
    for item in candidates:
        project = book.projects.get(item.project_id)
        legal_entity = project.legal_entity if project else terms.legal_entity
        milestone = (
            item
            if isinstance(item, Milestone) and terms.invoice_frequency == "on_milestone"
            else None
        )
        number = invoice_number(ctx, book, terms, legal_entity, item.project_id, milestone)
        if number in book.invoices:
            continue  # that invoice is out; the item waits for a later run
        tax_rate = ctx.rules.tax_rate(terms.tax_code, legal_entity)
        if tax_rate is None:
            item.hold(
                "invalid_tax_code",
                f"tax code {terms.tax_code} is not valid for legal entity {legal_entity}",
                ctx.provenance,
            )
            continue
        if cap is not None and running + item.net > cap:
            item.hold(
                "nte_exceeded",
                f"net {item.net} would take {contract.label} to {running + item.net}, "
                f"over its not-to-exceed of {cap} {terms.currency}",
                ctx.provenance,
            )
            continue
        group_net = group_nets.get(number, Decimal(0)) + item.net
        if not _totals_computable(group_net, tax_rate, terms.currency):
            item.hold(
                INVALID_AMOUNT,
                f"net {item.net} would take invoice {number} past what money arithmetic can hold",
                ctx.provenance,
                keep_priced=True,
            )
            continue
        group_nets[number] = group_net
        running += item.net
        project_key = item.project_id if terms.consolidation == "per_project" else None
        group = groups.setdefault(number, _Group(number, legal_entity, project_key, milestone))
        group.items.append(item)
    return [
        issue_group(ctx, book, terms, group)
        for group in groups.values()
        if taxable(ctx, terms, group)
    ]


def taxable(ctx: RunContext, terms: ContractTerms, group: _Group) -> bool:
    return ctx.rules.tax_rate(terms.tax_code, group.legal_entity) is not None


def _totals_computable(net: Decimal, tax_rate: Decimal, currency: str) -> bool:
    """Whether an invoice of this net can be totalled (invoice_totals)."""
    try:
        invoice_totals([{"net": net}], tax_rate, currency)
    except ARITHMETIC_ERRORS:
        return False
    return True


def issue_group(
    ctx: RunContext, book: ContractBook, terms: ContractTerms, group: _Group
) -> Invoice:
    tax_rate = ctx.rules.tax_rate(terms.tax_code, group.legal_entity)
    assert tax_rate is not None
    invoice_date = ctx.period.last_day
    extra: dict[str, Any] = {"project_id": group.project_id}
    if group.milestone is not None:
        invoice_date = group.milestone.item_date or invoice_date
        extra["milestone_id"] = group.milestone.business_id
    header = ctx.header(book, terms, "invoice", group.legal_entity, invoice_date, tax_rate, **extra)
    lines: list[Line] = [group.fee_line] if group.fee_line else []
    for item in group.items:
        lines.extend(ctx.item_lines(item, book))
    invoice = ctx.draft(book, group.number, header, lines)
    for item in group.items:
        item.invoice(group.number, ctx.provenance)
    if group.fee_month is not None:
        book.contract.invoice_fee(group.fee_month, group.number, ctx.provenance)
    return invoice


def invoice_number(
    ctx: RunContext,
    book: ContractBook,
    terms: ContractTerms,
    legal_entity: str,
    project_id: str | None,
    milestone: Milestone | None,
) -> str:
    number = f"{legal_entity}-{book.contract.business_id}-{ctx.period}"
    if terms.consolidation == "per_project" and project_id is not None:
        number += f"-{project_id}"
    if milestone is not None:
        number += f"-{milestone.business_id}"
    return number


def fee_line(ctx: RunContext, book: ContractBook, terms: ContractTerms) -> Line | None:
    """Rule 5: one fee line per contract month, billed in that month's run."""
    contract, month = book.contract, str(ctx.period)
    if month in contract.fee_lines:
        return None
    fee_terms = _terms_in_month(contract, ctx.period)
    if fee_terms is None or fee_terms.billing_method != "retainer":
        return None
    fee = round_money(fee_terms.monthly_fee or Decimal(0), fee_terms.currency)
    return {
        "item_id": None,
        "item_kind": "retainer_fee",
        "part": "fee",
        "category": "retainer_fee",
        "description": f"Retainer fee {month}",
        "month": month,
        "quantity": Decimal("1"),
        "unit_price": fee,
        "net": fee,
        "currency": fee_terms.currency,
        "included_hours": fee_terms.included_hours,
        "contract_version": fee_terms.version,
        "rule_version": ctx.rules.version,
        "project_id": None,
        "source": f"contract {contract.business_id} v{fee_terms.version}",
    }


def _terms_for_billing(contract: Contract, on: date) -> ContractTerms | None:
    """The version in force on the billing date, else the last one started."""
    terms = contract.version_in_force(on)
    if terms is not None:
        return terms
    started = [
        v.terms
        for v in contract.versions.values()
        if v.status == "approved" and v.terms.effective_from <= on
    ]
    return max(started, key=lambda t: t.version) if started else None


def _terms_in_month(contract: Contract, period: Period) -> ContractTerms | None:
    """The version in force in a month: on its first day, or on the day the
    contract starts when it starts inside the month."""
    terms = contract.version_in_force(period.first_day)
    if terms is not None:
        return terms
    for version in sorted(contract.versions.values(), key=lambda v: v.terms.effective_from):
        start = version.terms.effective_from
        if version.status == "approved" and period.first_day <= start <= period.last_day:
            return contract.version_in_force(start)
    return None
