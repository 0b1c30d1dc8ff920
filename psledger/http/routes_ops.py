"""Operations over HTTP: `GET /metrics`, the `/ops` dashboard, and the
middleware that times every request.

    GET  /metrics      Prometheus text (no token: counts only, no secrets)
    GET  /ops          the dashboard (operator or finance: a bearer token,
                       or the session cookie from /ops/login)
    GET  /ops/quarantine/{id}   one quarantined record (same access as /ops;
                       the API's JSON form is GET /quarantine/{id})
    GET  /ops/login    a form asking for a token
    POST /ops/login    token in the form body (never in a URL, so never in
                       an access log); sets an HttpOnly session cookie
    POST /ops/logout   ends the session

Sessions live in this process's memory (one uvicorn worker) and last
`SESSION_SECONDS`; the cookie holds a random session id, never the token.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from psledger.http.config import User
from psledger.http.errors import ApiError
from psledger.http.service import Service, service_of
from psledger.ops import figures, metrics
from psledger.ops.render import render_dashboard, render_login, render_quarantined

router = APIRouter(tags=["operations"])

COOKIE = "psledger_ops"
SESSION_SECONDS = 8 * 3600
DASHBOARD_ROLES = frozenset({"operator", "finance"})


class Sessions:
    """Session id -> (user, expiry), in memory."""

    def __init__(self) -> None:
        self._by_id: dict[str, tuple[User, float]] = {}

    def open(self, user: User) -> str:
        session_id = secrets.token_urlsafe(32)
        self._by_id[session_id] = (user, time.monotonic() + SESSION_SECONDS)
        return session_id

    def user(self, session_id: str | None) -> User | None:
        found = self._by_id.get(session_id or "")
        if found is None or found[1] < time.monotonic():
            self._by_id.pop(session_id or "", None)
            return None
        return found[0]

    def close(self, session_id: str | None) -> None:
        self._by_id.pop(session_id or "", None)


def _sessions(request: Request) -> Sessions:
    found: Sessions = request.app.state.ops_sessions
    return found


def _dashboard_user(request: Request) -> User | None:
    """The caller, from a bearer token or the session cookie (None: not signed in)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = service_of(request).access.user_for(header[7:].strip())
    else:
        user = _sessions(request).user(request.cookies.get(COOKIE))
    return user


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """psledger_* series; the store's gauges are read now."""
    service = service_of(request)
    body = await service.run(metrics.exposition, service.wiring.read_side)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/ops", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(
    request: Request, stuck_days: Annotated[int, Query(ge=0, le=3650)] = 7
) -> Response:
    """The operations dashboard (operator or finance)."""
    user = _dashboard_user(request)
    if user is None:
        return RedirectResponse("/ops/login", status_code=303)
    if not DASHBOARD_ROLES & user.roles:
        raise ApiError(403, "forbidden", f"user {user.name} needs the role finance or operator")
    service = service_of(request)
    found = await service.run(_figures, service, stuck_days)
    return HTMLResponse(render_dashboard(found, user.name))


def _figures(service: Service, stuck_days: int) -> dict[str, Any]:
    service.wiring.read_side.catch_up()
    return figures.dashboard(service.wiring.app, datetime.now(UTC), stuck_days)


@router.get("/ops/quarantine/{record_id}", response_class=HTMLResponse, include_in_schema=False)
async def quarantined(
    request: Request, record_id: Annotated[str, Path(max_length=300)]
) -> Response:
    """One quarantined record, for a browser signed in to the dashboard."""
    user = _dashboard_user(request)
    if user is None:
        return RedirectResponse("/ops/login", status_code=303)
    if not DASHBOARD_ROLES & user.roles:
        raise ApiError(403, "forbidden", f"user {user.name} needs the role finance or operator")
    service = service_of(request)
    row = await service.run(service.wiring.quarantine.show, record_id)  # unknown: 404
    return HTMLResponse(render_quarantined(row))


@router.get("/ops/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form() -> HTMLResponse:
    return HTMLResponse(render_login(None))


@router.post("/ops/login", include_in_schema=False)
async def login(request: Request) -> Response:
    """Exchange a token (form field `token`) for a session cookie."""
    form = parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    user = service_of(request).access.user_for(token) if token else None
    if user is None or not DASHBOARD_ROLES & user.roles:
        message = (
            "that token is not known" if user is None else "the dashboard needs finance or operator"
        )
        return HTMLResponse(render_login(message), status_code=401)
    response = RedirectResponse("/ops", status_code=303)
    response.set_cookie(
        COOKIE,
        _sessions(request).open(user),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        path="/ops",
    )
    return response


@router.post("/ops/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    _sessions(request).close(request.cookies.get(COOKIE))
    response = RedirectResponse("/ops/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ops")
    return response


class TimingMiddleware:
    """Times each HTTP request (by route template, never the raw path) and
    counts webhook answers by source and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.observe_http(
                scope["method"], route, scope["path"], status[0], time.perf_counter() - started
            )


def install(app: FastAPI) -> None:
    """The routes, the sessions and the timing middleware, on `app`."""
    app.state.ops_sessions = Sessions()
    app.add_middleware(TimingMiddleware)
    app.include_router(router)
