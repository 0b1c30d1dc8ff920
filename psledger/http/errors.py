"""Every error answer is JSON: ``{"error": reason_code, "detail": one line}``.

Ledger errors map to statuses by class:

    WebhookInvalid / InputError    422  (a webhook's field errors under "errors")
    UnknownEntity                  404  (the URL names something the ledger lacks;
                                         a webhook naming an unknown entity is 409)
    other DomainError              409  illegal_transition, conflicting_terms, ...
    MissingDependency              409
    InfrastructureError            503  (store_unavailable when the event store
                                         cannot be reached; Retry-After: 1)
    a store conflict left over     409  write_conflict (the retry loops normally
                                         absorb these)
    other store (driver) errors    503  / 500, mapped as psledger.store.errors does
    anything unexpected            500  (logged with its traceback; the answer
                                         carries no detail)

Messages are the ledger's one-line messages; they never carry a token or a
webhook secret (neither reaches the ledger), nor the name of an internal
table, index, constraint or prepared statement (`public_detail`): the store's
errors are translated at the boundary and logged in full.
"""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cdc.webhooks import WebhookInvalid
from domain.errors import (
    DomainError,
    InfrastructureError,
    InputError,
    LedgerError,
    MissingDependency,
    UnknownEntity,
)
from psledger.store.errors import StoreConflict, StoreUnavailable, scrub, translate

log = logging.getLogger("psledger.http")


class ApiError(Exception):
    """An answer other than success, raised from a route."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers = headers


def one_line(text: str, limit: int = 500) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."


def public_detail(exc: BaseException) -> str:
    """One line for a client: no internal table, constraint or statement names."""
    return one_line(scrub(str(exc)))


def from_store_error(exc: PersistenceError) -> ApiError:
    """A driver-level error that reached the boundary untranslated."""
    translated = translate(exc)
    if isinstance(translated, StoreConflict):
        return ApiError(409, "write_conflict", public_detail(translated))
    assert isinstance(translated, LedgerError)
    return from_ledger_error(translated)


def from_ledger_error(exc: LedgerError, *, unknown_status: int = 404) -> ApiError:
    detail = one_line(str(exc)) or exc.reason
    if isinstance(exc, WebhookInvalid):
        return ApiError(422, exc.reason, detail, errors=exc.errors)
    if isinstance(exc, InputError):
        return ApiError(422, exc.reason, detail)
    if isinstance(exc, UnknownEntity):
        return ApiError(unknown_status, exc.reason, detail)
    if isinstance(exc, (DomainError, MissingDependency)):
        return ApiError(409, exc.reason, detail)
    if isinstance(exc, InfrastructureError):
        log.error("infrastructure error: %s", detail)
        retry = {"Retry-After": "1"} if isinstance(exc, StoreUnavailable) else None
        return ApiError(503, exc.reason, public_detail(exc) or exc.reason, headers=retry)
    return ApiError(400, exc.reason, detail)


def error_response(error: ApiError) -> JSONResponse:
    body: dict[str, Any] = {"error": error.code, "detail": error.detail}
    if error.errors is not None:
        body["errors"] = error.errors
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request",
            "message": str(err.get("msg", "invalid")),
        }
        for err in exc.errors()
    ]


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the JSON shape."""

    async def on_api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_ledger_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LedgerError)
        return error_response(from_ledger_error(exc))

    async def on_store_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PersistenceError)
        log.error("event store error: %s: %s", type(exc).__name__, one_line(str(exc)))
        return error_response(from_store_error(exc))

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"field": "request", "message": "invalid"}
        detail = one_line(f"{first['field']}: {first['message']}")
        return error_response(ApiError(422, "invalid_request", detail, errors=errors))

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        codes = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        detail = one_line(str(exc.detail)) if exc.detail else code.replace("_", " ")
        return error_response(
            ApiError(exc.status_code, code, detail, headers=getattr(exc, "headers", None))
        )

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error: %s", type(exc).__name__)
        return error_response(ApiError(500, "internal", "internal error; see the server log"))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(LedgerError, on_ledger_error)
    app.add_exception_handler(PersistenceError, on_store_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
