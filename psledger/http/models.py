"""Request and response bodies, so the OpenAPI document has schemas.

The views in `projections` stay the source of truth: models declare the
fields every client relies on and allow the rest (``extra="allow"``).
Money is a decimal string, instants are ISO 8601 strings.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    error: str = Field(description="reason code, e.g. illegal_transition")
    detail: str = Field(description="one line for a human")
    errors: list[FieldError] | None = Field(default=None, description="field errors (422)")


class Health(BaseModel):
    status: str


class WebhookAccepted(BaseModel):
    source: str
    delivery_id: str
    event_ids: list[str] = Field(description="events appended by the first delivery")
    duplicate: bool = Field(description="true when this delivery id was applied before")


class InvoiceLine(_Open):
    line_no: int | None = None
    item_id: str | None = Field(default=None, description="the work item this line bills")
    item_kind: str | None = None
    source: str | None = Field(
        default=None, description="the source change whose values the line bills"
    )
    source_record: dict[str, Any] | None = Field(
        default=None,
        description="provenance of that change (table, key, LSN, txId, commit time; "
        "or webhook delivery id); on lines drafted before lineage was fixed: the "
        "item's first capture",
    )
    approved_by: str | None = Field(default=None, description="who approved the work item")
    approved_at: str | None = None
    approval_source: str | None = Field(
        default=None, description="the source change that approved the work item"
    )
    approval_record: dict[str, Any] | None = Field(
        default=None,
        description="provenance of the approval (LSN and txId, or webhook delivery id); "
        "absent on lines drafted before it was recorded",
    )
    net: str | None = None


class InvoiceSummary(_Open):
    number: str
    kind: str
    state: str
    contract_id: str
    period: str
    legal_entity: str | None = None
    customer_id: str | None = None
    invoice_date: str | None = None
    due_date: str | None = None
    currency: str
    net: str
    tax: str
    gross: str
    erp_document_no: str | None = None
    rejection_reason: str | None = None


class InvoiceDetail(InvoiceSummary):
    lines: list[InvoiceLine]


class ErpLine(_Open):
    line_no: int
    item_ids: list[str]


class ErpPayload(_Open):
    document_type: str
    number: str
    currency: str
    lines: list[ErpLine]


class HistoryEntry(_Open):
    entity: str
    version: int
    recorded_at: str = Field(description="when the ledger recorded the event")
    business_time: str | None = Field(
        default=None,
        description="when the change happened at its source (CDC commit time, webhook "
        "occurred_at); none for the ledger's own events",
    )
    event: str
    actor: str | None = None
    source: str | None = None
    provenance: dict[str, Any] | None = None
    data: dict[str, Any]


class EntityState(_Open):
    """An aggregate's state; its fields depend on its kind."""


class QuarantinedRecord(BaseModel):
    id: str
    source: str
    partition: int
    offset: int
    record_key: str | None
    reason: str
    detail: str
    created_at: str
    status: str
    raw_size: int


class QuarantinedRecordDetail(QuarantinedRecord):
    raw_text: str = Field(description="the raw bytes as UTF-8, undecodable bytes replaced")
    raw_base64: str


class ReplayOutcome(BaseModel):
    id: str
    status: str = Field(description="replayed or duplicate")
    events: int


class DiscardOutcome(BaseModel):
    id: str
    status: str


class AmendmentApproved(BaseModel):
    contract_id: str
    version: int
    approved_by: str
    event_ids: list[str]


# a calendar month as `domain.period.Period` reads it: YYYY-MM, months 01 to 12
PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class BillingRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(
        pattern=PERIOD_PATTERN, examples=["2026-01"], description="calendar month YYYY-MM"
    )


class BillingRunOutcome(BaseModel):
    period: str
    invoices: list[str]
    events_appended: int
    exceptions: dict[str, int]


_DESCRIPTIONS = {
    400: "a body that cannot be read",
    401: "no or unknown bearer token; for webhooks: missing, bad or stale signature",
    403: "the token's user lacks the role",
    404: "not known to the ledger",
    409: "refused by a ledger rule (the reason code says which)",
    413: "body over the limit",
    422: "invalid request or webhook body (field errors listed)",
    503: "the event store is unavailable",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses (422 always: it
    replaces FastAPI's default validation error schema with ours)."""
    return {
        code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]}
        for code in sorted({*codes, 422})
    }
