"""Decide and apply commands to aggregates, through a small repository port.

System-of-record ownership is enforced here: each command may only come
from the system that owns what it changes (the PSA cannot mark anything
invoiced; contract terms belong to the CRM; postings to the ERP).
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from domain import commands as c
from domain.base import LedgerAggregate
from domain.contract import Contract
from domain.customer import Customer
from domain.errors import (
    InputError,
    MissingDependency,
    OwnershipViolation,
    UnknownEntity,
)
from domain.expense_item import ExpenseItem
from domain.invoice import Invoice
from domain.milestone import Milestone
from domain.project import Assignment, Project
from domain.rate_card import RateCard
from domain.time_entry import TimeEntry
from domain.work_item import WorkItem
from domain.worker import Worker

A = TypeVar("A", bound=LedgerAggregate)

ITEM_KINDS: dict[str, type[WorkItem]] = {
    "time_entry": TimeEntry,
    "expense_item": ExpenseItem,
    "milestone": Milestone,
}

OWNERS: dict[type, str] = {
    c.ApproveSow: "crm",
    c.ProposeAmendment: "crm",
    c.ApproveAmendment: "ledger",
    c.RecordWorker: "hr",
    c.PostInvoice: "erp",
    c.RejectInvoice: "erp",
    c.SyncRateCard: "psa",
    c.SyncRateLine: "psa",
    c.RemoveRateLine: "psa",
    c.SyncProject: "psa",
    c.SyncAssignment: "psa",
    c.SyncWorkItem: "psa",
    c.WithdrawWorkItem: "psa",
}

# PSA statuses: which ledger move each asks for.
APPROVING = {"approved", "accepted"}
UNAPPROVING = {"draft", "submitted", "rejected", "planned", "achieved"}
WITHDRAWING = {"cancelled"}


class Aggregates(Protocol):
    """The unit of work a handler reads and adds aggregates through.

    `add` tells the entity index an aggregate's parent (a project's contract,
    an item's project). It is called again, for an aggregate it already
    holds, when the parent changes at the source: the index then follows.
    """

    def get(self, cls: type[A], business_id: str) -> A | None: ...

    def add(self, aggregate: LedgerAggregate, parent_id: str | None = None) -> None: ...

    def exists(self, cls: type[LedgerAggregate], business_id: str) -> bool: ...


def require(repo: Aggregates, cls: type[A], business_id: str) -> A:
    found = repo.get(cls, business_id)
    if found is None:
        raise UnknownEntity(
            f"{cls.KIND.replace('_', ' ')} {business_id} is not known to the ledger"
        )
    return found


def handle(command: c.Command, repo: Aggregates) -> None:
    """Apply one command; raises a LedgerError and changes nothing on refusal
    (the caller discards the unit of work)."""
    owner = OWNERS[type(command)]
    if command.provenance.source_system != owner:
        raise OwnershipViolation(
            f"{type(command).__name__} belongs to the {owner.upper()}, "
            f"not to {command.provenance.source_system.upper()} "
            f"(record {command.provenance.record_id})"
        )
    HANDLERS[type(command)](command, repo)  # type: ignore[operator]


def _approve_sow(cmd: c.ApproveSow, repo: Aggregates) -> None:
    customer_id = cmd.terms.customer_id
    customer = repo.get(Customer, customer_id)
    if customer is None:
        repo.add(Customer(business_id=customer_id, details=cmd.customer, provenance=cmd.provenance))
    else:
        customer.update(cmd.customer, cmd.provenance)
    contract = repo.get(Contract, cmd.contract_id)
    if contract is None:
        if cmd.terms.version != 1:
            raise InputError(
                f"contract {cmd.contract_id}: first approval must be version 1, "
                f"got {cmd.terms.version}"
            )
        repo.add(
            Contract(
                business_id=cmd.contract_id,
                terms=cmd.terms.to_event(),
                approved_by=cmd.provenance.actor,
                approved_at=cmd.at,
                provenance=cmd.provenance,
            ),
            parent_id=customer_id,
        )
    else:
        contract.approve_version(cmd.terms, cmd.provenance.actor, cmd.at, cmd.provenance)


def _propose_amendment(cmd: c.ProposeAmendment, repo: Aggregates) -> None:
    contract = require(repo, Contract, cmd.contract_id)
    contract.propose_amendment(
        cmd.version,
        cmd.changes,
        cmd.effective_from,
        cmd.reason,
        cmd.provenance.actor,
        cmd.provenance,
    )


def _approve_amendment(cmd: c.ApproveAmendment, repo: Aggregates) -> None:
    contract = require(repo, Contract, cmd.contract_id)
    contract.approve_amendment(cmd.version, cmd.by, cmd.at, cmd.provenance)


def _record_worker(cmd: c.RecordWorker, repo: Aggregates) -> None:
    worker = repo.get(Worker, cmd.worker_id)
    if worker is None:
        repo.add(
            Worker(
                business_id=cmd.worker_id,
                profile=cmd.profile,
                effective_from=cmd.effective_from,
                provenance=cmd.provenance,
            )
        )
    else:
        worker.record_profile(cmd.profile, cmd.effective_from, cmd.provenance)


def _invoice_for_erp(repo: Aggregates, number: str, legal_entity: str | None) -> Invoice:
    invoice = require(repo, Invoice, number)
    own = invoice.header.get("legal_entity")
    if legal_entity is not None and legal_entity != own:
        raise InputError(f"invoice {number} belongs to legal entity {own}, not {legal_entity}")
    return invoice


def _invoice_items(repo: Aggregates, invoice: Invoice) -> list[WorkItem]:
    items: dict[str, WorkItem] = {}
    for line in invoice.lines:
        kind, item_id = line.get("item_kind"), line.get("item_id")
        if item_id and kind in ITEM_KINDS and item_id not in items:
            items[item_id] = require(repo, ITEM_KINDS[kind], item_id)
    return list(items.values())


def _post_invoice(cmd: c.PostInvoice, repo: Aggregates) -> None:
    invoice = _invoice_for_erp(repo, cmd.invoice_number, cmd.legal_entity)
    already = invoice.state == "posted"
    invoice.post(cmd.erp_document_no, cmd.posted_at, cmd.provenance)
    if already or invoice.kind == "credit_note":
        return
    for item in _invoice_items(repo, invoice):
        if item.invoice_number == invoice.business_id:
            item.post(cmd.erp_document_no, cmd.provenance)


def _reject_invoice(cmd: c.RejectInvoice, repo: Aggregates) -> None:
    invoice = _invoice_for_erp(repo, cmd.invoice_number, cmd.legal_entity)
    already = invoice.state == "rejected"
    invoice.reject(cmd.reason, cmd.provenance)
    if already or invoice.kind == "credit_note":
        return
    for item in _invoice_items(repo, invoice):
        if item.invoice_number == invoice.business_id:
            item.return_for_reissue(invoice.business_id, cmd.provenance)


def _sync_rate_card(cmd: c.SyncRateCard, repo: Aggregates) -> None:
    card = repo.get(RateCard, cmd.rate_card_id)
    if card is None:
        repo.add(
            RateCard(
                business_id=cmd.rate_card_id,
                name=cmd.name,
                currency=cmd.currency,
                provenance=cmd.provenance,
            )
        )
    else:
        card.rename(cmd.name, cmd.currency, cmd.provenance)


def _needs(repo: Aggregates, cls: type[A], business_id: str, who: str) -> A:
    found = repo.get(cls, business_id)
    if found is None:
        raise MissingDependency(
            f"{who} waits for {cls.KIND.replace('_', ' ')} {business_id}",
            waits_for=f"{cls.KIND}:{business_id}",
        )
    return found


def _needs_existing(repo: Aggregates, cls: type[A], business_id: str, who: str) -> None:
    """`_needs` for a parent the handler only has to know exists."""
    if not repo.exists(cls, business_id):
        raise MissingDependency(
            f"{who} waits for {cls.KIND.replace('_', ' ')} {business_id}",
            waits_for=f"{cls.KIND}:{business_id}",
        )


def _sync_rate_line(cmd: c.SyncRateLine, repo: Aggregates) -> None:
    card = _needs(repo, RateCard, cmd.rate_card_id, f"rate card line {cmd.line.line_id}")
    card.set_line(cmd.line, cmd.provenance)


def _remove_rate_line(cmd: c.RemoveRateLine, repo: Aggregates) -> None:
    card = repo.get(RateCard, cmd.rate_card_id)
    if card is not None:
        card.remove_line(cmd.line_id, cmd.provenance)


def _sync_project(cmd: c.SyncProject, repo: Aggregates) -> None:
    Project.check_details(cmd.project_id, cmd.details)
    contract_id = str(cmd.details["contract_id"])
    _needs_existing(repo, Contract, contract_id, f"project {cmd.project_id}")
    project = repo.get(Project, cmd.project_id)
    if project is None:
        repo.add(
            Project(business_id=cmd.project_id, details=cmd.details, provenance=cmd.provenance),
            parent_id=contract_id,
        )
    else:
        moved = project.contract_id != contract_id
        project.update(cmd.details, cmd.provenance)
        if moved:
            repo.add(project, parent_id=contract_id)  # its items follow it to this contract


def _sync_assignment(cmd: c.SyncAssignment, repo: Aggregates) -> None:
    project_id = str(cmd.details["project_id"])
    _needs_existing(repo, Project, project_id, f"assignment {cmd.assignment_id}")
    assignment = repo.get(Assignment, cmd.assignment_id)
    if assignment is None:
        repo.add(
            Assignment(
                business_id=cmd.assignment_id, details=cmd.details, provenance=cmd.provenance
            ),
            parent_id=project_id,
        )
    else:
        assignment.update(cmd.details, cmd.provenance)


def _sync_work_item(cmd: c.SyncWorkItem, repo: Aggregates) -> None:
    cls = ITEM_KINDS.get(cmd.kind)
    if cls is None:
        raise InputError(f"unknown work item kind {cmd.kind!r}")
    status = cmd.status
    if status not in APPROVING | UNAPPROVING | WITHDRAWING:
        raise OwnershipViolation(
            f"{cmd.kind.replace('_', ' ')} {cmd.item_id}: the PSA cannot set status {status!r}"
        )
    project_id = str(cmd.fields["project_id"])
    _needs_existing(repo, Project, project_id, f"{cmd.kind.replace('_', ' ')} {cmd.item_id}")
    item = repo.get(cls, cmd.item_id)
    if item is None:
        item = cls.capture(cmd.item_id, cmd.fields, cmd.provenance)
        repo.add(item, parent_id=project_id)
    else:
        placed_in = item.placed_in
        item.revise(cmd.fields, cmd.provenance)
        if item.placed_in != placed_in:
            # Moved at the source: billed under its new project's contract
            # (an invoiced item once the next run has credited its old line).
            repo.add(item, parent_id=item.placed_in)
    if status in APPROVING:
        # Without an approval time in the row, the source commit time stands in.
        at = cmd.approved_at or cmd.provenance.commit_time
        item.approve(cmd.approved_by, at, cmd.provenance)
    elif status in WITHDRAWING:
        item.withdraw(cmd.provenance)
    else:
        item.unapprove(cmd.provenance)


def _withdraw_work_item(cmd: c.WithdrawWorkItem, repo: Aggregates) -> None:
    cls = ITEM_KINDS[cmd.kind]
    item = repo.get(cls, cmd.item_id)
    if item is not None:
        item.withdraw(cmd.provenance)


HANDLERS = {
    c.ApproveSow: _approve_sow,
    c.ProposeAmendment: _propose_amendment,
    c.ApproveAmendment: _approve_amendment,
    c.RecordWorker: _record_worker,
    c.PostInvoice: _post_invoice,
    c.RejectInvoice: _reject_invoice,
    c.SyncRateCard: _sync_rate_card,
    c.SyncRateLine: _sync_rate_line,
    c.RemoveRateLine: _remove_rate_line,
    c.SyncProject: _sync_project,
    c.SyncAssignment: _sync_assignment,
    c.SyncWorkItem: _sync_work_item,
    c.WithdrawWorkItem: _withdraw_work_item,
}
