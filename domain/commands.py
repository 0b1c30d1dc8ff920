"""Commands: what a source asks the ledger to do, with its provenance.

Ingestion (CDC mappings, webhooks, the CLI) builds these; `domain.handlers`
decides and applies them to aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from domain.contract import ContractTerms
from domain.provenance import Provenance
from domain.rate_card import RateLine


@dataclass(frozen=True)
class ApproveSow:
    """CRM sow.approved: a contract version with its customer."""

    contract_id: str
    terms: ContractTerms
    customer: dict[str, Any]
    at: datetime
    provenance: Provenance


@dataclass(frozen=True)
class ProposeAmendment:
    """CRM sow.amended: a change order waiting for finance approval."""

    contract_id: str
    version: int
    changes: dict[str, Any]
    effective_from: date
    reason: str | None
    provenance: Provenance


@dataclass(frozen=True)
class ApproveAmendment:
    contract_id: str
    version: int
    by: str
    at: datetime
    provenance: Provenance


@dataclass(frozen=True)
class RecordWorker:
    """HR worker.updated: the worker's profile from a date."""

    worker_id: str
    profile: dict[str, Any]
    effective_from: date
    provenance: Provenance


@dataclass(frozen=True)
class PostInvoice:
    invoice_number: str
    erp_document_no: str
    posted_at: datetime
    legal_entity: str | None
    provenance: Provenance


@dataclass(frozen=True)
class RejectInvoice:
    invoice_number: str
    reason: str
    legal_entity: str | None
    provenance: Provenance


@dataclass(frozen=True)
class SyncRateCard:
    rate_card_id: str
    name: str
    currency: str
    provenance: Provenance


@dataclass(frozen=True)
class SyncRateLine:
    rate_card_id: str
    line: RateLine
    provenance: Provenance


@dataclass(frozen=True)
class RemoveRateLine:
    rate_card_id: str
    line_id: str
    provenance: Provenance


@dataclass(frozen=True)
class SyncProject:
    project_id: str
    details: dict[str, Any]
    provenance: Provenance


@dataclass(frozen=True)
class SyncAssignment:
    assignment_id: str
    details: dict[str, Any]
    provenance: Provenance


@dataclass(frozen=True)
class SyncWorkItem:
    """A PSA time entry, expense item or milestone as it now stands.

    `status` is the PSA's; approval (or acceptance) maps onto the ledger's
    state machine, other fields onto revisions or corrections.
    """

    kind: str  # "time_entry", "expense_item" or "milestone"
    item_id: str
    fields: dict[str, Any]
    status: str
    approved_by: str | None
    approved_at: datetime | None
    provenance: Provenance


@dataclass(frozen=True)
class WithdrawWorkItem:
    """The PSA deleted the item's row."""

    kind: str
    item_id: str
    provenance: Provenance


Command = (
    ApproveSow
    | ProposeAmendment
    | ApproveAmendment
    | RecordWorker
    | PostInvoice
    | RejectInvoice
    | SyncRateCard
    | SyncRateLine
    | RemoveRateLine
    | SyncProject
    | SyncAssignment
    | SyncWorkItem
    | WithdrawWorkItem
)
