"""CRM, HR and ERP webhook bodies -> domain commands.

Bodies are validated with pydantic; a body that fails raises
`WebhookInvalid` carrying the field errors (HTTP answers 422 with them, the
CLI prints one line). The delivery id is the body's `id` unless the
transport (Standard Webhooks `webhook-id`) supplies one.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain import commands as c
from domain.contract import terms_from_sow
from domain.errors import InputError
from domain.provenance import Provenance

SOURCES: dict[str, str] = {
    "sow.approved": "crm",
    "sow.amended": "crm",
    "worker.updated": "hr",
    "invoice.posted": "erp",
    "invoice.rejected": "erp",
}

NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]


class WebhookInvalid(InputError):
    """A webhook body that does not validate; `errors` lists the fields."""

    reason = "invalid_webhook"

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Envelope(_Strict):
    type: NonEmpty
    id: NonEmpty
    occurred_at: datetime
    actor: str | None = None
    data: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a timezone")
        return value


class CustomerData(_Strict):
    id: NonEmpty
    name: NonEmpty
    erp_customer_no: str | None = None
    country: str | None = None
    billing_currency: str | None = None
    payment_terms_days: int = Field(default=30, ge=0, le=365)


class MilestoneTerm(_Strict):
    milestone_id: NonEmpty
    name: str = ""
    amount: Decimal = Field(gt=0)


class RetainerTerm(_Strict):
    monthly_fee: Decimal = Field(ge=0)
    included_hours: Decimal = Field(ge=0)


class SowApproved(_Strict):
    contract_id: NonEmpty
    version: int = Field(ge=1)
    customer: CustomerData
    legal_entity: NonEmpty
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    billing_method: Literal["time_and_materials", "fixed_price", "retainer"]
    not_to_exceed: Decimal | None = Field(default=None, ge=0)
    retainer: RetainerTerm | None = None
    rate_card_id: str | None = None
    expense_markup_pct: Decimal = Field(default=Decimal("0"), ge=0)
    tax_code: NonEmpty
    invoice_frequency: Literal["monthly", "on_milestone"] = "monthly"
    consolidation: Literal["per_contract", "per_project"] = "per_contract"
    po_number: str | None = None
    effective_from: date
    effective_to: date | None = None
    milestones: list[MilestoneTerm] = []


class SowAmended(_Strict):
    contract_id: NonEmpty
    version: int = Field(ge=2)
    reason: str | None = None
    changes: dict[str, Any]
    effective_from: date


class WorkerUpdated(_Strict):
    worker_id: NonEmpty
    name: str | None = None
    role: str | None = None
    legal_entity: str | None = None
    cost_rate: Decimal | None = Field(default=None, ge=0)
    cost_currency: str | None = None
    effective_from: date
    active: bool = True


class InvoicePosted(_Strict):
    invoice_number: NonEmpty
    erp_document_no: NonEmpty
    posted_at: datetime
    legal_entity: str | None = None


class InvoiceRejected(_Strict):
    invoice_number: NonEmpty
    reason: NonEmpty
    legal_entity: str | None = None


def _errors(exc: ValidationError, prefix: str) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in (prefix, *err["loc"]) if p), "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def _validate(model: type[_Strict], data: Any, prefix: str, what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = _errors(exc, prefix)
        first = errors[0]
        raise WebhookInvalid(
            f"{what}: {first['field']}: {first['message']}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            errors,
        ) from None


def parse_webhook(
    body: bytes | str | dict[str, Any],
    *,
    expected_source: str | None = None,
    delivery_id: str | None = None,
    signature_key_id: str | None = None,
) -> tuple[Envelope, c.Command]:
    """Validate a webhook body and build its domain command."""
    if isinstance(body, dict):
        envelope = _validate(Envelope, body, "", "webhook")
    else:
        try:
            envelope = Envelope.model_validate_json(body)
        except ValidationError as exc:
            errors = _errors(exc, "")
            raise WebhookInvalid(
                f"webhook: {errors[0]['field'] or 'body'}: {errors[0]['message']}", errors
            ) from None
    what = f"webhook {envelope.id} ({envelope.type})"
    source = SOURCES.get(envelope.type)
    if source is None:
        raise WebhookInvalid(
            f"{what}: unknown type", [{"field": "type", "message": "unknown webhook type"}]
        )
    if expected_source is not None and source != expected_source:
        raise WebhookInvalid(
            f"{what}: a {source.upper()} event sent to the {expected_source.upper()} endpoint",
            [{"field": "type", "message": f"not a {expected_source} event"}],
        )
    provenance = Provenance(
        source_system=source,
        record_id=delivery_id or envelope.id,
        actor=envelope.actor,
        correlation_id=envelope.id,
        delivery_id=delivery_id or envelope.id,
        signature_key_id=signature_key_id,
    )
    return envelope, _command(envelope, provenance, what)


def _command(envelope: Envelope, provenance: Provenance, what: str) -> c.Command:
    data = envelope.data
    if envelope.type == "sow.approved":
        sow = _validate(SowApproved, data, "data", what)
        raw = sow.model_dump(mode="json")
        return c.ApproveSow(
            contract_id=sow.contract_id,
            terms=terms_from_sow(raw),
            customer=raw["customer"],
            at=envelope.occurred_at,
            provenance=provenance,
        )
    if envelope.type == "sow.amended":
        amended = _validate(SowAmended, data, "data", what)
        return c.ProposeAmendment(
            contract_id=amended.contract_id,
            version=amended.version,
            changes=amended.changes,
            effective_from=amended.effective_from,
            reason=amended.reason,
            provenance=provenance,
        )
    if envelope.type == "worker.updated":
        worker = _validate(WorkerUpdated, data, "data", what)
        profile = worker.model_dump(mode="json", exclude={"worker_id", "effective_from"})
        return c.RecordWorker(worker.worker_id, profile, worker.effective_from, provenance)
    if envelope.type == "invoice.posted":
        posted = _validate(InvoicePosted, data, "data", what)
        return c.PostInvoice(
            posted.invoice_number,
            posted.erp_document_no,
            posted.posted_at,
            posted.legal_entity,
            provenance,
        )
    rejected = _validate(InvoiceRejected, data, "data", what)
    return c.RejectInvoice(
        rejected.invoice_number, rejected.reason, rejected.legal_entity, provenance
    )
