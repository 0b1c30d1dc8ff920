"""Signed CRM, HR and ERP webhooks: ``POST /webhooks/{crm|hr|erp}``.

In order, a delivery is refused with
    413  a body over the limit (Content-Length, then the bytes read);
    401  a missing, malformed, stale (or future) or non-matching signature;
    422  a body that fails validation: the field errors are answered and the
         raw body is quarantined (source ``webhook:<source>``, key the
         webhook-id) for an operator to replay or discard;
    409  a body the ledger refuses: an illegal transition, conflicting terms,
         an entity the ledger lacks (unknown_entity), another source's data,
         or a known webhook-id with another body (webhook_id_reused); these
         are quarantined too.
Otherwise it is applied in one transaction and answered 202 with the ids of
the appended events. The ``webhook-id`` is the delivery id: it is recorded
with the events in that transaction, and the same id again answers the
first answer (``duplicate: true``) and appends nothing.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request

from cdc.webhooks import Envelope
from domain.errors import InputError, UnknownEntity
from psledger.http.errors import ApiError, from_ledger_error
from psledger.http.models import WebhookAccepted, error_responses
from psledger.http.service import service_of
from psledger.http.signatures import SignatureRefused, verify
from psledger.inbox import WebhookIdReused

router = APIRouter(tags=["webhooks"])

Source = Literal["crm", "hr", "erp"]

_BODY_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": Envelope.model_json_schema()}},
    }
}


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing (413) more than `limit` bytes, declared or sent."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, "body_too_large", f"webhook bodies are limited to {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "body_too_large", f"webhook bodies are limited to {limit} bytes")
    return bytes(body)


@router.post(
    "/webhooks/{source}",
    status_code=202,
    response_model=WebhookAccepted,
    responses=error_responses(400, 401, 409, 413, 422, 503),
    openapi_extra=_BODY_SCHEMA,
)
async def receive_webhook(
    request: Request,
    source: Source,
    webhook_id: Annotated[str | None, Header(alias="webhook-id")] = None,
    webhook_timestamp: Annotated[str | None, Header(alias="webhook-timestamp")] = None,
    webhook_signature: Annotated[str | None, Header(alias="webhook-signature")] = None,
) -> WebhookAccepted:
    """Apply a signed delivery once (Standard Webhooks: the source's secrets)."""
    service = service_of(request)
    access = service.access
    body = await read_limited(request, access.max_body_bytes)
    headers = {
        "webhook-id": webhook_id or "",
        "webhook-timestamp": webhook_timestamp or "",
        "webhook-signature": webhook_signature or "",
    }
    try:
        verified = verify(
            headers,
            body,
            access.keys_for(source),
            now=time.time(),
            tolerance=access.tolerance_seconds,
        )
    except SignatureRefused as exc:
        raise ApiError(401, exc.code, str(exc)) from None
    ledger = service.wiring.ledger
    try:
        applied = await service.run(
            ledger.apply_webhook,
            body,
            expected_source=source,
            delivery_id=verified.delivery_id,
            signature_key_id=verified.key_id,
        )
    except WebhookIdReused as exc:  # quarantined by the inbox
        raise ApiError(409, exc.reason, str(exc)) from None
    except InputError as exc:  # quarantined by the inbox
        raise from_ledger_error(exc) from None
    except UnknownEntity as exc:
        raise from_ledger_error(exc, unknown_status=409) from None
    return WebhookAccepted(
        source=source,
        delivery_id=verified.delivery_id,
        event_ids=applied.event_ids,
        duplicate=applied.duplicate,
    )
