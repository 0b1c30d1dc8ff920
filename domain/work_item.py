"""Work items and their state machine (BILLING_RULES.md).

    planned --> approved --> billable --> invoiced --> posted
       ^           |            |            |            |
       +-----------+            |            |            |
                   ^------------+            |            |
                                ^------------+            |
                                ^-------------------------+

A command method checks the transition and triggers its event; the event
method only sets state, so replay never re-checks anything. A change to the
money of an invoiced item (or a move to another project, which may mean
another contract, rate card and currency) is recorded as a pending
correction, which the next billing run turns into a credit note line and a
new billable line.

Lineage: `source` is the provenance of the source change whose values the
item now holds (its capture, its latest revision, or the correction a
credit note applied); `approval` is the provenance of its approval.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from eventsourcing.domain import event

from domain.base import LedgerAggregate
from domain.errors import TransitionRefused
from domain.provenance import Provenance
from domain.work_states import (
    APPROVED,
    BILLABLE,
    EXCEPTIONS,
    INVOICED,
    PLANNED,
    POSTED,
    STATES,
    TRANSITIONS,
)

# The state machine's names are imported from here too.
__all__ = [
    "APPROVED",
    "BILLABLE",
    "EXCEPTIONS",
    "INVOICED",
    "PLANNED",
    "POSTED",
    "STATES",
    "TRANSITIONS",
    "WorkItem",
]


class WorkItem(LedgerAggregate):
    """Common state of time entries, expense items and milestones.

    `fields` holds the source record's values; `priced` the ledger lines
    (one, or two for a retainer split) that the item bills as.
    """

    FINANCIAL_FIELDS: ClassVar[tuple[str, ...]] = ()
    # Fields that pick the contract (and so the rates and currency) an item bills under.
    PLACEMENT_FIELDS: ClassVar[tuple[str, ...]] = ("project_id",)

    @classmethod
    def capture(cls, business_id: str, fields: dict[str, Any], provenance: Provenance) -> WorkItem:
        """A new item as captured in the source (each kind's Captured event)."""
        return cls(business_id=business_id, fields=fields, provenance=provenance)  # type: ignore[call-arg]

    def _init_item(self, business_id: str, fields: dict[str, Any], provenance: Provenance) -> None:
        self.business_id = business_id
        self.fields: dict[str, Any] = dict(fields)
        self.state: str = PLANNED
        self.withdrawn = False
        self.approved_by: str | None = None
        self.approved_at: datetime | None = None
        self.exception: dict[str, str] | None = None
        self.priced: list[dict[str, Any]] = []
        self.invoice_number: str | None = None
        self.erp_document_no: str | None = None
        self.pending_correction: dict[str, Any] | None = None
        self.reissue_of: str | None = None
        self.source: Provenance | None = provenance
        self.approval: Provenance | None = None
        self.correction_source: Provenance | None = None

    # -- queries -----------------------------------------------------------

    @property
    def project_id(self) -> str:
        """The project the item bills under now."""
        return str(self.fields["project_id"])

    @property
    def placed_in(self) -> str:
        """The project the source now puts the item in: a move of an invoiced
        item waits in its pending correction until a credit note applies it."""
        pending = self.pending_correction or {}
        return str(pending.get("project_id", self.fields["project_id"]))

    def bills_on(self, name: str) -> bool:
        """Whether a change to this field changes what the item bills."""
        return name in self.FINANCIAL_FIELDS or name in self.PLACEMENT_FIELDS

    @property
    def item_date(self) -> date | None:
        """The date that picks the contract version and the rates."""
        raise NotImplementedError

    @property
    def is_billable_kind(self) -> bool:
        return bool(self.fields.get("billable", True))

    @property
    def net(self) -> Decimal:
        return sum((Decimal(p["net"]) for p in self.priced), Decimal(0))

    def _move(self, target: str, attempted: str) -> None:
        if (self.state, target) not in TRANSITIONS:
            raise TransitionRefused(self.label, self.state, attempted)

    # -- capture and change at the source ----------------------------------

    def revise(self, fields: dict[str, Any], provenance: Provenance) -> None:
        """Apply changed source values; money changes (and moves) after
        invoicing become a pending correction instead."""
        if self.state in (INVOICED, POSTED):
            self._revise_invoiced(fields, provenance)
            return
        changes = self.changed_fields(self.fields, fields)
        if not changes:
            return
        if self.state == BILLABLE and any(self.bills_on(k) for k in changes):
            self._unpriced(reason="source_changed", provenance=provenance)
        self._revised(changes=changes, provenance=provenance)

    def _revise_invoiced(self, fields: dict[str, Any], provenance: Provenance) -> None:
        rest = {
            k: v
            for k, v in self.changed_fields(self.fields, fields).items()
            if not self.bills_on(k)
        }
        if rest:
            self._revised(changes=rest, provenance=provenance)
        current = {**self.fields, **(self.pending_correction or {})}
        money = {k: v for k, v in self.changed_fields(current, fields).items() if self.bills_on(k)}
        if not money:
            return
        merged = {**(self.pending_correction or {}), **money}
        # A value changed back to what was invoiced needs no correction.
        pending = {k: v for k, v in merged.items() if k == "withdrawn" or self.fields.get(k) != v}
        if not pending:
            self._correction_withdrawn(provenance=provenance)
        elif pending != self.pending_correction:
            self._correction_recorded(changes=pending, provenance=provenance)

    @event("Revised")
    def _revised(self, changes: dict[str, Any], provenance: Provenance) -> None:
        self.fields.update(changes)
        self.source = provenance
        if self.pending_correction is not None:
            self.correction_source = provenance  # the latest change a credit will apply

    @event("CorrectionRecorded")
    def _correction_recorded(self, changes: dict[str, Any], provenance: Provenance) -> None:
        self.pending_correction = dict(changes)
        self.correction_source = provenance

    @event("CorrectionWithdrawn")
    def _correction_withdrawn(self, provenance: Provenance) -> None:
        """The source went back to the invoiced values: nothing to credit."""
        self.pending_correction = None
        self.correction_source = None

    def withdraw(self, provenance: Provenance) -> None:
        """The source deleted or cancelled the item."""
        if self.withdrawn:
            return
        if self.state in (INVOICED, POSTED):
            zero = {k: _zero_like(self.fields.get(k)) for k in self.FINANCIAL_FIELDS}
            self._correction_recorded(changes={**zero, "withdrawn": True}, provenance=provenance)
            return
        if self.state == BILLABLE:
            self._unpriced(reason="withdrawn", provenance=provenance)
        self._withdrawn(provenance=provenance)

    @event("Withdrawn")
    def _withdrawn(self, provenance: Provenance) -> None:
        self.withdrawn = True
        self.state = PLANNED
        self.reissue_of = None

    # -- approval ----------------------------------------------------------

    def approve(self, by: str | None, at: datetime | None, provenance: Provenance) -> None:
        """planned -> approved; approving an item already past planned is a no-op."""
        if self.state != PLANNED:
            return
        self._move(APPROVED, "approve")
        self._approved(by=by, at=at, provenance=provenance)

    @event("Approved")
    def _approved(self, by: str | None, at: datetime | None, provenance: Provenance) -> None:
        self.state = APPROVED
        self.approved_by = by
        self.approved_at = at
        self.approval = provenance
        self.withdrawn = False

    def unapprove(self, provenance: Provenance) -> None:
        """Back to planned (rejected or re-opened in the PSA)."""
        if self.state == PLANNED:
            return
        if self.state in (INVOICED, POSTED):
            raise TransitionRefused(self.label, self.state, "un-approve it")
        if self.state == BILLABLE:
            self._unpriced(reason="unapproved", provenance=provenance)
        self._unapproved(provenance=provenance)

    @event("Unapproved")
    def _unapproved(self, provenance: Provenance) -> None:
        self.state = PLANNED
        self.approved_by = None
        self.approved_at = None
        self.approval = None
        self.exception = None
        self.reissue_of = None

    # -- pricing and exceptions (the ledger) -------------------------------

    def price(self, lines: list[dict[str, Any]], provenance: Provenance) -> None:
        """approved -> billable with its priced lines; re-pricing a billable
        item with the same lines appends nothing."""
        if self.state == BILLABLE and self.priced == lines:
            return  # a billing exception it carries is the billing run's to clear
        if self.state != BILLABLE:
            self._move(BILLABLE, "price it")
        self._priced(lines=lines, provenance=provenance)

    @event("Priced")
    def _priced(self, lines: list[dict[str, Any]], provenance: Provenance) -> None:
        self.state = BILLABLE
        self.priced = [dict(line) for line in lines]
        self.exception = None

    def hold(
        self, code: str, reason: str, provenance: Provenance, *, keep_priced: bool = False
    ) -> None:
        """Record a billing exception. A billable item that cannot be priced
        or is on billing hold goes back to approved; nte_exceeded and
        invalid_tax_code (and any exception raised while invoicing, with
        `keep_priced`) leave it billable, to be invoiced when it clears."""
        if self.exception == {"code": code, "reason": reason}:
            return
        if self.state not in (APPROVED, BILLABLE):
            raise TransitionRefused(self.label, self.state, f"record exception {code}")
        keep = keep_priced or code in ("nte_exceeded", "invalid_tax_code")
        if self.state == BILLABLE and not keep:
            self._unpriced(reason=code, provenance=provenance)
        self._exception_raised(code=code, reason=reason, provenance=provenance)

    @event("ExceptionRaised")
    def _exception_raised(self, code: str, reason: str, provenance: Provenance) -> None:
        self.exception = {"code": code, "reason": reason}

    def unprice(self, reason: str, provenance: Provenance) -> None:
        """billable -> approved without an exception (e.g. time on a contract
        that became fixed price); anything else is a no-op."""
        if self.state == BILLABLE and self.reissue_of is None:
            self._unpriced(reason=reason, provenance=provenance)

    @event("Unpriced")
    def _unpriced(self, reason: str, provenance: Provenance) -> None:
        self.state = APPROVED
        self.priced = []
        self.reissue_of = None  # a changed item is billed anew, not re-issued as it was

    # -- invoicing (the ledger) and posting (the ERP) ----------------------

    def invoice(self, invoice_number: str, provenance: Provenance) -> None:
        self._move(INVOICED, f"invoice it on {invoice_number}")
        self._invoiced(invoice_number=invoice_number, provenance=provenance)

    @event("Invoiced")
    def _invoiced(self, invoice_number: str, provenance: Provenance) -> None:
        self.state = INVOICED
        self.invoice_number = invoice_number
        self.exception = None
        self.reissue_of = None

    def post(self, erp_document_no: str, provenance: Provenance) -> None:
        self._move(POSTED, f"post it as {erp_document_no}")
        self._posted(erp_document_no=erp_document_no, provenance=provenance)

    @event("Posted")
    def _posted(self, erp_document_no: str, provenance: Provenance) -> None:
        self.state = POSTED
        self.erp_document_no = erp_document_no

    def return_for_reissue(self, rejected_invoice: str, provenance: Provenance) -> None:
        """The ERP rejected the invoice: billable again, re-issued as is."""
        self._move(BILLABLE, f"return it from rejected invoice {rejected_invoice}")
        self._returned(rejected_invoice=rejected_invoice, provenance=provenance)

    @event("ReturnedForReissue")
    def _returned(self, rejected_invoice: str, provenance: Provenance) -> None:
        self.state = BILLABLE
        self.reissue_of = rejected_invoice
        self.invoice_number = None

    def credit(self, credit_note: str, provenance: Provenance) -> None:
        """A credit note negated the item's line: billable again with the
        corrected values, to be priced and billed anew."""
        if self.pending_correction is None:
            raise TransitionRefused(self.label, self.state, "credit it without a correction")
        self._move(BILLABLE, f"credit it on {credit_note}")
        self._credited(credit_note=credit_note, provenance=provenance)
        if self.withdrawn:
            self._unpriced(reason="withdrawn", provenance=provenance)
            self._withdrawn(provenance=provenance)
        elif not self.is_billable_kind:
            self._unpriced(reason="not_billable", provenance=provenance)  # stops at approved

    @event("Credited")
    def _credited(self, credit_note: str, provenance: Provenance) -> None:
        correction = dict(self.pending_correction or {})
        withdrawn = bool(correction.pop("withdrawn", False))
        self.fields.update(correction)
        if self.correction_source is not None:
            self.source = self.correction_source  # the line bills the corrected values
        self.correction_source = None
        self.pending_correction = None
        self.invoice_number = None
        self.erp_document_no = None
        self.withdrawn = withdrawn
        self.state = BILLABLE
        self.priced = []


def _zero_like(value: Any) -> Any:
    return Decimal("0") if isinstance(value, Decimal) else value
