"""A billing run for one contract and one period: rules 5-7 and the invoice
rules of BILLING_RULES.md.

The run works on aggregates already loaded and calls their commands; it
returns the invoices (and credit notes) it drafted. The caller saves every
touched aggregate in one transaction, so a run is all or nothing.

Phases, in order: credit notes for corrected invoiced items; re-issues of
rejected invoices; pricing of open items (with the retainer draw-down and
billing holds); then the not-to-exceed cap, tax and grouping into invoices.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from domain.contract import Contract, ContractTerms
from domain.customer import Customer
from domain.expense_item import ExpenseItem
from domain.invoice import REJECTED, Invoice
from domain.milestone import Milestone
from domain.money import round_money
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
from domain.project import Project
from domain.provenance import Provenance
from domain.rate_card import RateCard
from domain.rules import RuleSet
from domain.time_entry import TimeEntry
from domain.work_item import APPROVED, BILLABLE, INVOICED, POSTED, WorkItem


@dataclass
class ContractBook:
    """Everything one contract's billing run reads and may change."""

    contract: Contract
    customer: Customer | None
    projects: dict[str, Project]
    items: list[WorkItem]
    invoices: dict[str, Invoice]
    rate_cards: dict[str, RateCard]


@dataclass
class _Group:
    number: str
    legal_entity: str
    project_id: str | None
    milestone: Milestone | None
    items: list[WorkItem] = field(default_factory=list)
    fee_month: str | None = None
    fee_line: Line | None = None


def _order(item: WorkItem) -> tuple[date, str]:
    return (item.item_date or date.max, item.business_id)


class BillingRun:
    """Bills contracts for one period under one rule set."""

    def __init__(self, period: Period, rules: RuleSet, provenance: Provenance) -> None:
        self.period = period
        self.rules = rules
        self.provenance = provenance.with_rule_version(rules.version)

    def bill(self, book: ContractBook) -> list[Invoice]:
        drafted = self._credit_corrections(book)
        drafted += self._reissue_rejected(book)
        self._price_open_items(book)
        drafted += self._invoice_billable(book, drafted)
        return drafted

    # -- shared ------------------------------------------------------------

    def _header(
        self,
        book: ContractBook,
        terms: ContractTerms,
        kind: str,
        legal_entity: str,
        invoice_date: date,
        tax_rate: Decimal,
        **extra: Any,
    ) -> dict[str, Any]:
        customer = book.customer
        terms_days = customer.payment_terms_days if customer else 30
        return {
            "kind": kind,
            "contract_id": book.contract.business_id,
            "contract_version": terms.version,
            "customer_id": terms.customer_id,
            "customer_name": customer.name if customer else terms.customer_id,
            "erp_customer_no": customer.details.get("erp_customer_no") if customer else None,
            "legal_entity": legal_entity,
            "period": str(self.period),
            "invoice_date": invoice_date,
            "due_date": invoice_date + timedelta(days=terms_days),
            "currency": terms.currency,
            "tax_code": terms.tax_code,
            "tax_rate": tax_rate,
            "po_number": terms.po_number,
            "rule_version": self.rules.version,
            "billing_run": self.provenance.record_id,
            **extra,
        }

    def _draft(
        self, book: ContractBook, number: str, header: dict[str, Any], lines: list[Line]
    ) -> Invoice:
        invoice = Invoice.draft(number, header, lines, self.provenance)
        invoice.issue(self.provenance)
        book.invoices[number] = invoice
        return invoice

    def _item_lines(self, item: WorkItem, book: ContractBook) -> list[Line]:
        source = item.source
        return [
            {
                **priced,
                "project_id": item.project_id,
                "description": priced.get("description") or _describe(item),
                "source": source.describe() if source else None,
                "source_record": source.to_dict() if source else None,
                "approved_by": item.approved_by,
            }
            for priced in item.priced
        ]

    # -- phase 1: corrections become credit notes --------------------------

    def _credit_corrections(self, book: ContractBook) -> list[Invoice]:
        by_invoice: dict[str, list[WorkItem]] = defaultdict(list)
        for item in book.items:
            if item.state in (INVOICED, POSTED) and item.pending_correction is not None:
                assert item.invoice_number is not None
                by_invoice[item.invoice_number].append(item)
        drafted = []
        for number, items in sorted(by_invoice.items()):
            original = book.invoices[number]
            note = f"{number}-C{len(original.credit_notes) + 1}"
            ids = {item.business_id for item in items}
            lines = [_negated(ln) for ln in original.lines if ln.get("item_id") in ids]
            header = {
                **original.header,
                "kind": "credit_note",
                "original_number": number,
                "period": str(self.period),
                "invoice_date": self.period.last_day,
                "due_date": self.period.last_day,
                "rule_version": self.rules.version,
                "billing_run": self.provenance.record_id,
            }
            drafted.append(self._draft(book, note, header, lines))
            original.record_credit_note(note, self.provenance)
            for item in items:
                item.credit(note, self.provenance)
        return drafted

    # -- phase 2: rejected invoices are re-issued as they were -------------

    def _reissue_rejected(self, book: ContractBook) -> list[Invoice]:
        """Each rejected invoice once: `{root}-R{n}` with exactly its lines, less
        the lines of items changed at the source since (billed anew)."""
        done = {inv.header.get("rejected_number") for inv in book.invoices.values()}
        rejected_ones = [
            inv
            for inv in sorted(book.invoices.values(), key=lambda inv: inv.business_id)
            if inv.state == REJECTED and inv.business_id not in done
        ]
        drafted = []
        for rejected in rejected_ones:
            root_number = rejected.header.get("reissue_root") or rejected.business_id
            root = book.invoices[root_number]
            returned = {
                item.business_id
                for item in book.items
                if item.reissue_of == rejected.business_id and item.state == BILLABLE
            }
            lines = [
                dict(ln)
                for ln in rejected.lines
                if ln.get("item_kind") == "retainer_fee" or ln.get("item_id") in returned
            ]
            if not lines:
                continue  # every item changed since: they are billed anew instead
            number = f"{root_number}-R{len(root.reissues) + 1}"
            header = {
                **rejected.header,
                "kind": "credit_note" if rejected.kind == "credit_note" else "reissue",
                "original_number": rejected.header.get("original_number") or root_number,
                "reissue_root": root_number,
                "rejected_number": rejected.business_id,
                "period": str(self.period),
                "billing_run": self.provenance.record_id,
            }
            drafted.append(self._draft(book, number, header, lines))
            root.record_reissue(number, self.provenance)
            for item in book.items:
                if item.reissue_of == rejected.business_id and item.state == BILLABLE:
                    item.invoice(number, self.provenance)
            for ln in lines:
                if ln.get("item_kind") == "retainer_fee":
                    book.contract.reinvoice_fee(str(ln["month"]), number, self.provenance)
        return drafted

    # -- phase 3: pricing --------------------------------------------------

    def _open_items(self, book: ContractBook) -> list[WorkItem]:
        last = self.period.last_day
        return sorted(
            (
                item
                for item in book.items
                if item.state in (APPROVED, BILLABLE)
                and not item.withdrawn
                and item.reissue_of is None
                and item.is_billable_kind
                and item.item_date is not None
                and item.item_date <= last
            ),
            key=_order,
        )

    def _price_open_items(self, book: ContractBook) -> None:
        contract = book.contract
        retainer_entries: list[tuple[TimeEntry, ContractTerms]] = []
        for item in self._open_items(book):
            day = item.item_date
            assert day is not None
            terms = contract.version_in_force(day)
            if terms is None:
                item.hold(
                    "no_contract_version",
                    f"{contract.label} has no approved version in force on {day}",
                    self.provenance,
                )
                continue
            if isinstance(item, TimeEntry) and terms.billing_method == "fixed_price":
                continue  # time on a fixed-price contract is not billable
            project = book.projects.get(item.project_id)
            if project is not None and project.status == "on_hold":
                item.hold(
                    "project_on_hold",
                    f"project {project.business_id} is on hold in the PSA",
                    self.provenance,
                )
                continue
            if isinstance(item, TimeEntry) and terms.billing_method == "retainer":
                retainer_entries.append((item, terms))
                continue
            self._apply(item, self._price_one(item, terms, book))
        self._price_retainer(book, retainer_entries)

    def _price_one(
        self, item: WorkItem, terms: ContractTerms, book: ContractBook
    ) -> list[Line] | Hold:
        if isinstance(item, TimeEntry):
            card = book.rate_cards.get(terms.rate_card_id or "")
            return price_time(item, terms, card, self.rules)
        if isinstance(item, ExpenseItem):
            return price_expense(item, terms, self.rules)
        assert isinstance(item, Milestone)
        return price_milestone(item, terms, self.rules)

    def _apply(self, item: WorkItem, outcome: list[Line] | Hold) -> None:
        if isinstance(outcome, Hold):
            item.hold(outcome.code, outcome.reason, self.provenance)
        else:
            item.price(outcome, self.provenance)

    def _price_retainer(
        self, book: ContractBook, entries: list[tuple[TimeEntry, ContractTerms]]
    ) -> None:
        by_month: dict[Period, list[tuple[TimeEntry, ContractTerms]]] = defaultdict(list)
        for entry, terms in entries:
            by_month[Period.of(entry.item_date)].append((entry, terms))
        for month, month_entries in by_month.items():
            used = sum(
                (
                    item.hours
                    for item in book.items
                    if isinstance(item, TimeEntry)
                    and item.state in (INVOICED, POSTED)
                    and item.is_billable_kind
                    and Period.of(item.item_date) == month
                ),
                Decimal(0),
            )
            included = month_entries[0][1].included_hours or Decimal(0)
            split = retainer_split(
                [(entry.business_id, entry.hours) for entry, _ in month_entries], included, used
            )
            card_cache: dict[str, RateCard | None] = {}
            for entry, terms in month_entries:
                covered, overage = split[entry.business_id]
                lines: list[Line] = []
                if covered:
                    lines.append(included_line(entry, covered, terms, self.rules))
                if overage:
                    card_id = terms.rate_card_id or ""
                    card = card_cache.setdefault(card_id, book.rate_cards.get(card_id))
                    priced = price_hours(entry, overage, "overage", terms, card, self.rules)
                    if isinstance(priced, Hold):
                        self._apply(entry, priced)
                        continue
                    lines.append(priced)
                self._apply(entry, lines)

    # -- phase 4: cap, tax, grouping ---------------------------------------

    def _invoice_billable(self, book: ContractBook, drafted: list[Invoice]) -> list[Invoice]:
        contract = book.contract
        billing_date = self.period.last_day
        terms = _terms_for_billing(contract, billing_date)
        if terms is None:
            return []
        groups: dict[str, _Group] = {}
        fee = self._fee_line(book, terms)
        if fee is not None:
            number = self._number(book, terms, terms.legal_entity, None, None)
            group = groups.setdefault(number, _Group(number, terms.legal_entity, None, None))
            group.fee_month, group.fee_line = str(self.period), fee
        candidates = [
            item
            for item in self._open_items(book)
            if item.state == BILLABLE
            and item.priced
            and (
                item.exception is None
                or item.exception["code"] in ("nte_exceeded", "invalid_tax_code")
            )
        ]
        billed = sum(
            (inv.net for inv in book.invoices.values() if inv.counts_as_billed), Decimal(0)
        )
        running = billed + (fee["net"] if fee is not None else Decimal(0))
        cap = terms.not_to_exceed
        for item in candidates:
            project = book.projects.get(item.project_id)
            legal_entity = project.legal_entity if project else terms.legal_entity
            milestone = (
                item
                if isinstance(item, Milestone) and terms.invoice_frequency == "on_milestone"
                else None
            )
            number = self._number(book, terms, legal_entity, item.project_id, milestone)
            if number in book.invoices:
                continue  # that invoice is out; the item waits for a later run
            tax_rate = self.rules.tax_rate(terms.tax_code, legal_entity)
            if tax_rate is None:
                item.hold(
                    "invalid_tax_code",
                    f"tax code {terms.tax_code} is not valid for legal entity {legal_entity}",
                    self.provenance,
                )
                continue
            if cap is not None and running + item.net > cap:
                item.hold(
                    "nte_exceeded",
                    f"net {item.net} would take {contract.label} to {running + item.net}, "
                    f"over its not-to-exceed of {cap} {terms.currency}",
                    self.provenance,
                )
                continue
            running += item.net
            project_key = item.project_id if terms.consolidation == "per_project" else None
            group = groups.setdefault(number, _Group(number, legal_entity, project_key, milestone))
            group.items.append(item)
        return [
            self._issue_group(book, terms, group)
            for group in groups.values()
            if self._taxable(terms, group)
        ]

    def _taxable(self, terms: ContractTerms, group: _Group) -> bool:
        return self.rules.tax_rate(terms.tax_code, group.legal_entity) is not None

    def _issue_group(self, book: ContractBook, terms: ContractTerms, group: _Group) -> Invoice:
        tax_rate = self.rules.tax_rate(terms.tax_code, group.legal_entity)
        assert tax_rate is not None
        invoice_date = self.period.last_day
        extra: dict[str, Any] = {"project_id": group.project_id}
        if group.milestone is not None:
            invoice_date = group.milestone.item_date or invoice_date
            extra["milestone_id"] = group.milestone.business_id
        header = self._header(
            book, terms, "invoice", group.legal_entity, invoice_date, tax_rate, **extra
        )
        lines: list[Line] = [group.fee_line] if group.fee_line else []
        for item in group.items:
            lines.extend(self._item_lines(item, book))
        invoice = self._draft(book, group.number, header, lines)
        for item in group.items:
            item.invoice(group.number, self.provenance)
        if group.fee_month is not None:
            book.contract.invoice_fee(group.fee_month, group.number, self.provenance)
        return invoice

    def _number(
        self,
        book: ContractBook,
        terms: ContractTerms,
        legal_entity: str,
        project_id: str | None,
        milestone: Milestone | None,
    ) -> str:
        number = f"{legal_entity}-{book.contract.business_id}-{self.period}"
        if terms.consolidation == "per_project" and project_id is not None:
            number += f"-{project_id}"
        if milestone is not None:
            number += f"-{milestone.business_id}"
        return number

    def _fee_line(self, book: ContractBook, terms: ContractTerms) -> Line | None:
        """Rule 5: one fee line per contract month, billed in that month's run."""
        contract, month = book.contract, str(self.period)
        if month in contract.fee_lines:
            return None
        fee_terms = _terms_in_month(contract, self.period)
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
            "rule_version": self.rules.version,
            "project_id": None,
            "source": f"contract {contract.business_id} v{fee_terms.version}",
        }


def _describe(item: WorkItem) -> str:
    if isinstance(item, TimeEntry):
        return f"{item.role} {item.hours}h on {item.item_date}"
    if isinstance(item, ExpenseItem):
        return f"{item.fields.get('category', 'expense')} {item.amount} {item.currency}"
    return str(item.fields.get("name", item.business_id))


def _negated(line: Line) -> Line:
    return {
        **line,
        "net": -Decimal(line["net"]),
        "quantity": -Decimal(line["quantity"]),
        "credits_line": line.get("line_no"),
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
