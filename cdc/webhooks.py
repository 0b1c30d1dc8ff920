"""CRM, HR and ERP webhook bodies -> domain commands.

Bodies are validated with pydantic; a body that fails raises
`WebhookInvalid` carrying the field errors (HTTP answers 422 with them, the
CLI prints one line). The delivery id is the body's `id` unless the
transport (Standard Webhooks `webhook-id`) supplies one.

Numbers are checked at the door against documented limits, as pydantic
constraints on the models (`Money`, `Rate`, `Percent`, `Hours` below), so a
value that would break billing arithmetic later is refused here. The
refusal's reason names the kind of problem when every field error is of one
kind, else it is `invalid_webhook`:

    value_out_of_range  outside a field's bounds (e.g. a markup of 1E+50 %)
    bad_scale           more decimal places than the field allows (never rounded)
    decimal_nan         NaN or an infinity
    nul_byte            a NUL (\\x00) in the delivery id or in any string

Limits (documented, for every source):
    Money     0 <= amount < 10^12, at most 3 decimal places (the finest
              minor unit the ledger knows: BHD, KWD); as NUMERIC(15,3)
    Rate      0 <= rate < 10^9, at most 4 decimal places (cost rates)
    Percent   0 <= pct <= 1000, at most 4 decimal places (expense markup)
    Hours     0 <= hours < 10^6, at most 2 decimal places (retainer hours)
"""

from __future__ import annotations

from collections.abc import Iterator
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

MAX_MONEY = Decimal(10) ** 12
MAX_RATE = Decimal(10) ** 9
MAX_PERCENT = Decimal(1000)
MAX_HOURS = Decimal(10) ** 6

Money = Annotated[Decimal, Field(ge=0, lt=MAX_MONEY, decimal_places=3)]
PositiveMoney = Annotated[Decimal, Field(gt=0, lt=MAX_MONEY, decimal_places=3)]
Rate = Annotated[Decimal, Field(ge=0, lt=MAX_RATE, decimal_places=4)]
Percent = Annotated[Decimal, Field(ge=0, le=MAX_PERCENT, decimal_places=4)]
Hours = Annotated[Decimal, Field(ge=0, lt=MAX_HOURS, decimal_places=2)]

# pydantic error types -> the reason of the refusal
_REASONS = {
    "greater_than": "value_out_of_range",
    "greater_than_equal": "value_out_of_range",
    "less_than": "value_out_of_range",
    "less_than_equal": "value_out_of_range",
    "decimal_max_digits": "value_out_of_range",
    "decimal_whole_digits": "value_out_of_range",
    "decimal_max_places": "bad_scale",
    "finite_number": "decimal_nan",
}


class WebhookInvalid(InputError):
    """A webhook body that does not validate; `errors` lists the fields."""

    reason = "invalid_webhook"

    def __init__(
        self, message: str, errors: list[dict[str, Any]], *, reason: str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
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
    amount: PositiveMoney


class RetainerTerm(_Strict):
    monthly_fee: Money
    included_hours: Hours


class SowApproved(_Strict):
    contract_id: NonEmpty
    version: int = Field(ge=1)
    customer: CustomerData
    legal_entity: NonEmpty
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    billing_method: Literal["time_and_materials", "fixed_price", "retainer"]
    not_to_exceed: Money | None = None
    retainer: RetainerTerm | None = None
    rate_card_id: str | None = None
    expense_markup_pct: Percent = Decimal("0")
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


class TermChanges(_Strict):
    """The numbers an amendment may change, under the same limits as sow.approved;
    the changes themselves reach the contract as sent."""

    not_to_exceed: Money | None = None
    expense_markup_pct: Percent | None = None
    retainer: RetainerTerm | None = None
    milestones: list[MilestoneTerm] | None = None


class WorkerUpdated(_Strict):
    worker_id: NonEmpty
    name: str | None = None
    role: str | None = None
    legal_entity: str | None = None
    cost_rate: Rate | None = None
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
    """Field errors; a bound, scale or NaN error names the value refused."""
    found = []
    for err in exc.errors(include_url=False):
        message = err["msg"]
        if err["type"] in _REASONS:
            message += f" (got {shown(err.get('input'))})"
        found.append(
            {
                "field": ".".join(str(p) for p in (prefix, *err["loc"]) if p != ""),
                "message": message,
                "reason": _REASONS.get(err["type"], "invalid_webhook"),
            }
        )
    return found


def _invalid(what: str, errors: list[dict[str, Any]]) -> WebhookInvalid:
    """One refusal: the first error in the message, a reason for them all."""
    first = errors[0]
    reasons = {e.pop("reason") for e in errors}
    return WebhookInvalid(
        f"{what}: {first['field'] or 'body'}: {first['message']}"
        + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
        errors,
        reason=reasons.pop() if len(reasons) == 1 else None,
    )


def _validate(model: type[_Strict], data: Any, prefix: str, what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(what, _errors(exc, prefix)) from None


def shown(value: Any, limit: int = 60) -> str:
    """``repr`` cut short: control characters (NUL) come out escaped."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _nul_fields(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, string) of the strings (keys too) holding NUL, anywhere in a parsed body."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                yield shown(here), key
            else:
                yield from _nul_fields(item, here)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _nul_fields(item, f"{path}.{n}")


def _refuse_nul(what: str, body: Any, delivery_id: str | None) -> None:
    errors: list[tuple[str, str]] = []
    if delivery_id is not None and "\x00" in delivery_id:
        errors.append(("webhook-id", delivery_id))
    errors.extend(_nul_fields(body, ""))
    if errors:
        listed = [
            {
                "field": field,
                "message": f"contains a NUL byte (\\x00), text cannot store it (got {shown(text)})",
                "reason": "nul_byte",
            }
            for field, text in errors
        ]
        raise _invalid(what, listed)


def parse_webhook(
    body: bytes | str | dict[str, Any],
    *,
    expected_source: str | None = None,
    delivery_id: str | None = None,
    signature_key_id: str | None = None,
) -> tuple[Envelope, c.Command]:
    """Validate a webhook body and build its domain command.

    A NUL in the delivery id or in any string of the body is refused before
    anything else reads them (``nul_byte``)."""
    if delivery_id is not None and "\x00" in delivery_id:
        _refuse_nul(f"webhook {shown(delivery_id)}", None, delivery_id)
    if isinstance(body, dict):
        envelope = _validate(Envelope, body, "", "webhook")
    else:
        try:
            envelope = Envelope.model_validate_json(body)
        except ValidationError as exc:
            raise _invalid("webhook", _errors(exc, "")) from None
    _refuse_nul(
        f"webhook {shown(envelope.id)}",
        {"id": envelope.id, "type": envelope.type, "actor": envelope.actor, "data": envelope.data},
        None,
    )
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
        occurred_at=envelope.occurred_at,
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
        _validate(TermChanges, amended.changes, "data.changes", what)
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
