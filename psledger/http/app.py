"""The FastAPI app factory.

`create_app(settings)` loads the access configuration (tokens, webhook
secrets) at once, so a bad config file fails before the server starts, and
builds the Wiring when the app starts (lifespan), once for all requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from psledger.bootstrap import Wiring
from psledger.http import (
    docs,
    errors,
    routes_audit,
    routes_finance,
    routes_operator,
    routes_ops,
    routes_queries,
    routes_webhooks,
)
from psledger.http.config import AccessConfig, load_access
from psledger.http.models import Health
from psledger.http.service import Service
from psledger.settings import Settings

DESCRIPTION = """\
The ledger between a firm's PSA, CRM, HR system and ERP.

* `POST /webhooks/{crm|hr|erp}`: Standard Webhooks signed deliveries (no token).
* Everything else takes `Authorization: Bearer <token>`; the token's roles
  (auditor, finance, operator) decide what it may do.
* Errors are `{"error": reason_code, "detail": one line}`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    wiring: Wiring | None = None,
    access: AccessConfig | None = None,
) -> FastAPI:
    """The app. With `wiring`, the caller owns it (and closes it); without,
    the app bootstraps one from `settings` at startup and closes it at shutdown."""
    if settings is None:
        settings = wiring.settings if wiring is not None else Settings()
    service = Service(settings, access or load_access(settings), wiring)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="psledger",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from psledger.http.docs, without a CDN
        redoc_url=None,
    )
    docs.install(app)
    app.state.service = service
    errors.install(app)

    @app.get("/health", response_model=Health, tags=["operations"])
    async def health() -> Health:
        """Liveness: the app is up (no token needed, nothing disclosed)."""
        return Health(status="ok")

    app.include_router(routes_webhooks.router)
    app.include_router(routes_queries.router)
    app.include_router(routes_finance.router)
    app.include_router(routes_operator.router)
    app.include_router(routes_audit.router)
    routes_ops.install(app)  # /metrics, /ops and request timing
    return app
