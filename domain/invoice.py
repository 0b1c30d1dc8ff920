"""Invoice: drafted by a billing run, issued, then posted or rejected by the ERP.

    draft --> issued --> posted
                 |
                 +----> rejected   (its lines are re-issued as {number}-R{n})

Credit notes ({number}-C{n}) are invoices of kind "credit_note" with
negated lines.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from eventsourcing.domain import event

from domain.base import LedgerAggregate
from domain.errors import TransitionRefused
from domain.invoice_states import DRAFT, ISSUED, POSTED, REJECTED
from domain.money import round_money
from domain.provenance import Provenance


def invoice_totals(
    lines: list[dict[str, Any]], tax_rate: Decimal, currency: str
) -> tuple[Decimal, Decimal, Decimal]:
    """(net, tax, gross): tax = round(sum of line nets x rate) at invoice level."""
    net = sum((Decimal(line["net"]) for line in lines), Decimal(0))
    net = round_money(net, currency)
    tax = round_money(net * tax_rate, currency)
    return net, tax, net + tax


class Invoice(LedgerAggregate):
    """An invoice, credit note or re-issue with its lines and totals.

    class_version 2 added the repricing state (`pending_repricing`,
    `repriced_by`); a version 1 snapshot is upcast with neither.
    """

    KIND = "invoice"
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.setdefault("pending_repricing", None)
        state.setdefault("repriced_by", None)

    @event("Drafted")
    def __init__(
        self,
        business_id: str,
        header: dict[str, Any],
        lines: list[dict[str, Any]],
        provenance: Provenance,
    ) -> None:
        self.business_id = business_id
        self.header = dict(header)
        self.lines = [dict(line) for line in lines]
        self.state = DRAFT
        self.erp_document_no: str | None = None
        self.posted_at: datetime | None = None
        self.rejection_reason: str | None = None
        self.reissues: list[str] = []
        self.credit_notes: list[str] = []
        self.pending_repricing: dict[str, Any] | None = None
        self.repriced_by: str | None = None  # the rebill that replaced its lines

    @classmethod
    def draft(
        cls,
        number: str,
        header: dict[str, Any],
        lines: list[dict[str, Any]],
        provenance: Provenance,
    ) -> Invoice:
        """A new draft with its totals computed from its lines."""
        net, tax, gross = invoice_totals(lines, Decimal(header["tax_rate"]), header["currency"])
        numbered = [{**line, "line_no": i} for i, line in enumerate(lines, start=1)]
        return cls(
            business_id=number,
            header={**header, "net": net, "tax": tax, "gross": gross},
            lines=numbered,
            provenance=provenance,
        )

    # -- queries -----------------------------------------------------------

    @property
    def kind(self) -> str:
        return str(self.header["kind"])

    @property
    def contract_id(self) -> str:
        return str(self.header["contract_id"])

    @property
    def net(self) -> Decimal:
        return Decimal(self.header["net"])

    @property
    def tax(self) -> Decimal:
        return Decimal(self.header["tax"])

    @property
    def gross(self) -> Decimal:
        return Decimal(self.header["gross"])

    @property
    def invoice_date(self) -> date:
        value = self.header["invoice_date"]
        assert isinstance(value, date)
        return value

    @property
    def counts_as_billed(self) -> bool:
        """Whether its net counts in the contract's invoiced sum (NTE)."""
        return self.state in (ISSUED, POSTED)

    # -- commands ----------------------------------------------------------

    def issue(self, provenance: Provenance) -> None:
        if self.state != DRAFT:
            raise TransitionRefused(self.label, self.state, "issue it")
        self._issued(provenance=provenance)

    @event("Issued")
    def _issued(self, provenance: Provenance) -> None:
        self.state = ISSUED

    def post(self, erp_document_no: str, posted_at: datetime, provenance: Provenance) -> None:
        """The ERP confirmed the posting; a repeat of the same posting is a no-op."""
        if self.state == POSTED and self.erp_document_no == erp_document_no:
            return
        if self.state != ISSUED:
            raise TransitionRefused(self.label, self.state, f"post it as {erp_document_no}")
        self._posted(erp_document_no=erp_document_no, posted_at=posted_at, provenance=provenance)

    @event("Posted")
    def _posted(self, erp_document_no: str, posted_at: datetime, provenance: Provenance) -> None:
        self.state = POSTED
        self.erp_document_no = erp_document_no
        self.posted_at = posted_at

    def reject(self, reason: str, provenance: Provenance) -> None:
        if self.state == REJECTED and self.rejection_reason == reason:
            return
        if self.state != ISSUED:
            raise TransitionRefused(self.label, self.state, "reject it")
        self._rejected(reason=reason, provenance=provenance)

    @event("Rejected")
    def _rejected(self, reason: str, provenance: Provenance) -> None:
        self.state = REJECTED
        self.rejection_reason = reason

    def record_reissue(self, number: str, provenance: Provenance) -> None:
        self._reissue_recorded(number=number, provenance=provenance)

    @event("ReissueRecorded")
    def _reissue_recorded(self, number: str, provenance: Provenance) -> None:
        self.reissues.append(number)

    def record_credit_note(self, number: str, provenance: Provenance) -> None:
        self._credit_note_recorded(number=number, provenance=provenance)

    @event("CreditNoteRecorded")
    def _credit_note_recorded(self, number: str, provenance: Provenance) -> None:
        self.credit_notes.append(number)

    # -- repricing (a rule change finance approved) ------------------------

    def approve_repricing(
        self,
        rule_version: str,
        tax_rate: Decimal,
        credited: list[dict[str, Any]],
        rebilled: list[dict[str, Any]],
        by: str,
        at: datetime,
        provenance: Provenance,
    ) -> None:
        """Finance approved re-pricing these lines under `rule_version`: the
        next billing run credits `credited` and bills `rebilled` anew. The
        same approval again appends nothing."""
        if self.pending_repricing is not None and (
            self.pending_repricing["rule_version"] == rule_version
        ):
            return
        if self.state not in (ISSUED, POSTED) or self.kind == "credit_note":
            raise TransitionRefused(self.label, self.state, "re-price it")
        if self.repriced_by is not None:
            raise TransitionRefused(self.label, f"replaced by {self.repriced_by}", "re-price it")
        self._repricing_approved(
            rule_version=rule_version,
            previous_rule_version=str(self.header["rule_version"]),
            tax_rate=tax_rate,
            credited=credited,
            rebilled=rebilled,
            by=by,
            at=at,
            provenance=provenance,
        )

    @event("RepricingApproved")
    def _repricing_approved(
        self,
        rule_version: str,
        previous_rule_version: str,
        tax_rate: Decimal,
        credited: list[dict[str, Any]],
        rebilled: list[dict[str, Any]],
        by: str,
        at: datetime,
        provenance: Provenance,
    ) -> None:
        self.pending_repricing = {
            "rule_version": rule_version,
            "previous_rule_version": previous_rule_version,
            "tax_rate": tax_rate,
            "credited": [dict(line) for line in credited],
            "rebilled": [dict(line) for line in rebilled],
            "by": by,
            "at": at,
        }

    def record_repricing(self, credit_note: str, rebill: str, provenance: Provenance) -> None:
        """A billing run issued the approved repricing's credit note and rebill."""
        if self.pending_repricing is None:
            raise TransitionRefused(self.label, self.state, "record a repricing never approved")
        self._repricing_applied(credit_note=credit_note, rebill=rebill, provenance=provenance)

    @event("RepricingApplied")
    def _repricing_applied(self, credit_note: str, rebill: str, provenance: Provenance) -> None:
        self.credit_notes.append(credit_note)
        self.reissues.append(rebill)
        self.repriced_by = rebill
        self.pending_repricing = None
