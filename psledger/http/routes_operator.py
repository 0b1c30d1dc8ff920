"""The quarantine: list and show (auditor, finance, operator); replay and
discard (operator)."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from psledger.http.auth import OPERATOR, READ_QUARANTINE, authorize
from psledger.http.config import User
from psledger.http.errors import ApiError, one_line
from psledger.http.models import (
    DiscardOutcome,
    QuarantinedRecord,
    QuarantinedRecordDetail,
    ReplayOutcome,
    error_responses,
)
from psledger.http.service import service_of
from psledger.set_aside import Quarantine
from psledger.store.rows import QuarantineRow

router = APIRouter(tags=["quarantine"])

Reader = Annotated[User, Depends(authorize(*READ_QUARANTINE))]
Operator = Annotated[User, Depends(authorize(*OPERATOR))]
RecordId = Annotated[str, Path(min_length=1, max_length=300)]


def _summary(row: QuarantineRow) -> QuarantinedRecord:
    return QuarantinedRecord(
        id=row.id,
        source=row.source,
        partition=row.partition,
        offset=row.offset,
        record_key=row.record_key,
        reason=row.reason,
        detail=row.detail,
        created_at=row.created_at.isoformat(),
        status=row.status,
        raw_size=len(row.raw),
    )


def _open_row(quarantine: Quarantine, record_id: str) -> QuarantineRow:
    row = quarantine.show(record_id)  # UnknownEntity: 404
    if row.status != "open":
        raise ApiError(409, "not_open", f"quarantined record {record_id} is {row.status}")
    return row


@router.get(
    "/quarantine", response_model=list[QuarantinedRecord], responses=error_responses(401, 403)
)
async def list_quarantine(
    request: Request,
    _user: Reader,
    status: Annotated[str, Query(min_length=1, max_length=100)] = "open",
) -> list[QuarantinedRecord]:
    """Quarantined records with this status (open by default), without their bytes."""
    quarantine = service_of(request).wiring.quarantine
    rows = await service_of(request).run(quarantine.list, status)
    return [_summary(row) for row in rows]


@router.get(
    "/quarantine/{record_id}",
    response_model=QuarantinedRecordDetail,
    responses=error_responses(401, 403, 404),
)
async def show_quarantined(
    request: Request, _user: Reader, record_id: RecordId
) -> QuarantinedRecordDetail:
    """One quarantined record with its raw bytes."""
    row = await service_of(request).run(service_of(request).wiring.quarantine.show, record_id)
    return QuarantinedRecordDetail(
        **_summary(row).model_dump(),
        raw_text=row.raw.decode("utf-8", errors="replace"),
        raw_base64=base64.b64encode(row.raw).decode("ascii"),
    )


@router.post(
    "/quarantine/{record_id}/replay",
    response_model=ReplayOutcome,
    responses=error_responses(401, 403, 404, 409),
)
async def replay_quarantined(
    request: Request, _user: Operator, record_id: RecordId
) -> ReplayOutcome:
    """Apply the record again; it leaves the quarantine only if it now applies
    (409 replay_failed with the reason otherwise)."""
    quarantine = service_of(request).wiring.quarantine

    def work() -> ReplayOutcome:
        _open_row(quarantine, record_id)
        report = quarantine.replay(record_id)
        after = quarantine.show(record_id)
        if after.status == "open":
            reason = report.problems[0] if report.problems else after.detail
            raise ApiError(409, "replay_failed", one_line(reason))
        return ReplayOutcome(id=record_id, status=after.status, events=report.events)

    return await service_of(request).run(work)


@router.post(
    "/quarantine/{record_id}/discard",
    response_model=DiscardOutcome,
    responses=error_responses(401, 403, 404, 409),
)
async def discard_quarantined(
    request: Request, user: Operator, record_id: RecordId
) -> DiscardOutcome:
    """Give up on a record; it stays listed with the status `discarded by <user>`."""
    quarantine = service_of(request).wiring.quarantine

    def work() -> DiscardOutcome:
        _open_row(quarantine, record_id)
        quarantine.discard(record_id, user.name)
        return DiscardOutcome(id=record_id, status=quarantine.show(record_id).status)

    return await service_of(request).run(work)
