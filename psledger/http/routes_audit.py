"""Audit endpoints: the lineage of an invoice (`psledger audit trace`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from psledger.audit.trace import trace_json
from psledger.http.auth import READ, authorize
from psledger.http.config import User
from psledger.http.models import error_responses
from psledger.http.service import service_of

router = APIRouter(tags=["audit"])

Reader = Annotated[User, Depends(authorize(*READ))]
Id = Annotated[str, Path(min_length=1, max_length=200)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TraceEvent(_Open):
    event: str = Field(description="the event's name, e.g. Captured, Approved, Priced")
    role: str = Field(description="capture, revision, approval, pricing, invoicing, posting")
    version: int = Field(description="the aggregate version the event made")
    actor: str | None = None
    business_time: str | None = Field(
        default=None, description="when the change happened at its source (UTC)"
    )
    recorded_at: str = Field(description="when the ledger recorded the event (UTC)")
    source: str | None = None
    position: dict[str, Any] | None = Field(
        default=None,
        description="the source position: connector, table, key, LSN, txId (and topic, "
        "partition, offset where known) for CDC; delivery id for a webhook",
    )
    rule_version: str | None = None
    data: dict[str, Any]


class TraceApproval(_Open):
    by: str | None = None
    at: str | None = None
    source: str | None = None
    position: dict[str, Any] | None = None


class TraceLine(_Open):
    line_no: int | None = None
    item_kind: str | None = None
    item_id: str | None = None
    net: str | None = None
    source: str | None = None
    source_position: dict[str, Any] | None = None
    approval: TraceApproval
    events: list[TraceEvent] = Field(description="the item's events that made the line")


class InvoiceTrace(_Open):
    invoice: str
    kind: str
    state: str
    rule_version: str | None = Field(default=None, description="the rules that priced it")
    events: list[TraceEvent] = Field(description="the invoice's own events")
    lines: list[TraceLine]


@router.get(
    "/invoices/{number}/trace",
    response_model=InvoiceTrace,
    responses=error_responses(401, 403, 404, 422, 503),
)
async def get_trace(request: Request, _user: Reader, number: Id) -> Response:
    """Every line -> its work item -> the events that billed it, with who, when
    (business and recorded time) and the source position of each."""
    app = service_of(request).wiring.app
    body = await service_of(request).run(trace_json, app, number)
    # The document is the view's stored entries spliced together; it is not
    # validated again against `InvoiceTrace`, which documents it.
    return Response(body, media_type="application/json")
