"""Read endpoints: invoices, ERP payloads, history, state as of a moment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import WithJsonSchema

from psledger import queries, queries_views
from psledger.app import LedgerApplication
from psledger.http.auth import READ, authorize
from psledger.http.config import User
from psledger.http.models import (
    PERIOD_PATTERN,
    EntityState,
    ErpPayload,
    HistoryEntry,
    InvoiceDetail,
    InvoiceSummary,
    error_responses,
)
from psledger.http.service import service_of

router = APIRouter(tags=["queries"])

Reader = Annotated[User, Depends(authorize(*READ))]
Filter = Annotated[str | None, Query(max_length=200)]
PeriodFilter = Annotated[
    str | None, Query(pattern=PERIOD_PATTERN, description="calendar month YYYY-MM")
]
StateFilter = Annotated[Literal["draft", "issued", "posted", "rejected"] | None, Query()]
Id = Annotated[str, Path(min_length=1, max_length=200)]
ERRORS = error_responses(401, 403, 404, 422, 503)
# An optional instant, declared as a plain date-time string in OpenAPI.
DATE_TIME = WithJsonSchema({"type": "string", "format": "date-time"})


def _views(request: Request) -> LedgerApplication:
    """The views, caught up to the store's last event (a no-op while `serve`'s
    runner keeps them current)."""
    wiring = service_of(request).wiring
    wiring.read_side.catch_up()
    return wiring.app


@router.get("/invoices", response_model=list[InvoiceSummary], responses=ERRORS)
async def list_invoices(
    request: Request,
    _user: Reader,
    contract: Filter = None,
    period: PeriodFilter = None,
    state: StateFilter = None,
) -> list[dict[str, Any]]:
    """Invoices and credit notes (without lines), by period then number."""

    def work() -> list[dict[str, Any]]:
        app = _views(request)
        return queries_views.invoice_rows(
            app, "summary", contract=contract, period=period, state=state
        )

    return await service_of(request).run(work)


@router.get("/invoices/{number}", response_model=InvoiceDetail, responses=ERRORS)
async def get_invoice(request: Request, _user: Reader, number: Id) -> dict[str, Any]:
    """One invoice with its lines; each line names its work item and source record."""
    return await service_of(request).run(lambda: queries_views.invoice_row(_views(request), number))


@router.get("/invoices/{number}/erp", response_model=ErpPayload, responses=ERRORS)
async def get_erp_payload(request: Request, _user: Reader, number: Id) -> dict[str, Any]:
    """The invoice as the ERP receives it: lines summarised, item ids kept."""
    return await service_of(request).run(
        lambda: queries_views.invoice_row(_views(request), number, "erp")
    )


@router.get("/entities/{entity_id}/history", response_model=list[HistoryEntry], responses=ERRORS)
async def get_history(request: Request, _user: Reader, entity_id: Id) -> list[dict[str, Any]]:
    """Every event of the entities with this id (or `kind:id`), oldest first."""
    ledger = service_of(request).wiring.ledger
    return await service_of(request).run(queries.history, ledger, entity_id)


@router.get("/entities/{entity_id}", response_model=list[EntityState], responses=ERRORS)
async def get_entity(
    request: Request,
    _user: Reader,
    entity_id: Id,
    as_of: Annotated[
        datetime | None,
        Query(
            description="business time: the state after the changes made at their source "
            "by then (CDC commit time, webhook occurred_at); UTC if no offset"
        ),
        DATE_TIME,
    ] = None,
    recorded_as_of: Annotated[
        datetime | None,
        Query(
            description="ledger time: the state as the ledger had recorded it by then; "
            "UTC if no offset"
        ),
        DATE_TIME,
    ] = None,
) -> list[dict[str, Any]]:
    """The state of the entities with this id, now, as they were at a business
    time (`as_of`), or as the ledger had recorded them (`recorded_as_of`)."""
    ledger = service_of(request).wiring.ledger
    business = queries.as_utc(as_of) if as_of else None
    recorded = queries.as_utc(recorded_as_of) if recorded_as_of else None

    def work() -> list[dict[str, Any]]:
        return queries.entity_state(ledger, entity_id, business, recorded_as_of=recorded)

    return await service_of(request).run(work)
