"""Finance actions: approve a contract amendment, run billing for a period."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from psledger.http.auth import FINANCE, authorize
from psledger.http.config import User
from psledger.http.models import (
    AmendmentApproved,
    BillingRunOutcome,
    BillingRunRequest,
    error_responses,
)
from psledger.http.service import service_of

router = APIRouter(tags=["finance"])

Finance = Annotated[User, Depends(authorize(*FINANCE))]


@router.post(
    "/contracts/{contract_id}/amendments/{version}/approve",
    response_model=AmendmentApproved,
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
async def approve_amendment(
    request: Request,
    user: Finance,
    contract_id: Annotated[str, Path(min_length=1, max_length=200)],
    version: Annotated[int, Path(ge=1, le=1_000_000)],
) -> AmendmentApproved:
    """Approve a proposed amendment as the token's user; it is in force from
    its effective date."""
    ledger = service_of(request).wiring.ledger
    applied = await service_of(request).run(
        ledger.approve_amendment, contract_id, version, user.name
    )
    return AmendmentApproved(
        contract_id=contract_id,
        version=version,
        approved_by=user.name,
        event_ids=applied.event_ids,
    )


@router.post(
    "/billing-runs",
    response_model=BillingRunOutcome,
    responses=error_responses(400, 401, 403, 409, 422, 503),
)
async def run_billing(
    request: Request, user: Finance, body: BillingRunRequest
) -> BillingRunOutcome:
    """Price, cap and hold the period's billable work and draft its invoices."""
    ledger = service_of(request).wiring.ledger
    outcome = await service_of(request).run(ledger.bill, body.period, user.name)
    return BillingRunOutcome(
        period=outcome.period,
        invoices=outcome.invoices,
        events_appended=outcome.events_appended,
        exceptions=outcome.exceptions,
    )
