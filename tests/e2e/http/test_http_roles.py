"""The role matrix: every endpoint with every role, an unknown token and no token.

Allowed callers get past authorization (whatever the ledger then answers);
others get 401 (no or unknown token) or 403 (a token without the role).
Webhook endpoints take no token at all: a delivery authenticates by its
signature, so every bearer gets 401 there.
"""

from __future__ import annotations

from typing import Any

import pytest
from live_http import LiveServer

AUDITOR, FINANCE, OPERATOR = "auditor", "finance", "operator"
READ = {AUDITOR, FINANCE}
PUBLIC = "public"
SIGNED = "signed"

# (method, path template, concrete path, JSON body, who may call it)
ENDPOINTS: list[tuple[str, str, str, Any, set[str] | str]] = [
    ("GET", "/invoices", "/invoices", None, READ),
    ("GET", "/invoices/{number}", "/invoices/INV-1", None, READ),
    ("GET", "/invoices/{number}/erp", "/invoices/INV-1/erp", None, READ),
    ("GET", "/invoices/{number}/trace", "/invoices/INV-1/trace", None, READ),
    ("GET", "/entities/{entity_id}/history", "/entities/SOW-1/history", None, READ),
    ("GET", "/entities/{entity_id}", "/entities/SOW-1", None, READ),
    ("GET", "/quarantine", "/quarantine", None, {AUDITOR, FINANCE, OPERATOR}),
    ("GET", "/quarantine/{record_id}", "/quarantine/q-1", None, {AUDITOR, FINANCE, OPERATOR}),
    ("POST", "/quarantine/{record_id}/replay", "/quarantine/q-1/replay", None, {OPERATOR}),
    ("POST", "/quarantine/{record_id}/discard", "/quarantine/q-1/discard", None, {OPERATOR}),
    (
        "POST",
        "/contracts/{contract_id}/amendments/{version}/approve",
        "/contracts/SOW-1/amendments/2/approve",
        None,
        {FINANCE},
    ),
    ("POST", "/billing-runs", "/billing-runs", {"period": "2026-01"}, {FINANCE}),
    ("POST", "/webhooks/{source}", "/webhooks/crm", {}, SIGNED),
    ("POST", "/webhooks/{source}", "/webhooks/hr", {}, SIGNED),
    ("POST", "/webhooks/{source}", "/webhooks/erp", {}, SIGNED),
    ("GET", "/health", "/health", None, PUBLIC),
]
CALLERS = [None, "unknown", AUDITOR, FINANCE, OPERATOR, "all"]


def expected(caller: str | None, allowed: set[str] | str) -> str:
    if allowed == PUBLIC:
        return "allowed"
    if allowed == SIGNED or caller in (None, "unknown"):
        return "401"
    assert isinstance(allowed, set)
    if caller == "all" or caller in allowed:
        return "allowed"
    return "403"


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c or "no-token")
@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"),
    [(m, p, b, a) for m, _t, p, b, a in ENDPOINTS],
    ids=[f"{m} {p}" for m, _t, p, _b, _a in ENDPOINTS],
)
def test_role_matrix(
    shared_server: LiveServer,
    caller: str | None,
    method: str,
    path: str,
    body: Any,
    allowed: set[str] | str,
) -> None:
    headers = {}
    if caller == "unknown":
        headers["authorization"] = "Bearer not-a-configured-token"
    elif caller is not None:
        headers["authorization"] = f"Bearer {shared_server.credentials.tokens[caller]}"
    with shared_server.client() as client:
        response = client.request(method, path, json=body, headers=headers)
    outcome = expected(caller, allowed)
    if outcome == "allowed":
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == int(outcome), response.text
        assert set(response.json()) >= {"error", "detail"}
        if response.status_code == 401 and allowed != SIGNED:
            assert response.headers["www-authenticate"] == "Bearer"
    for token in shared_server.credentials.tokens.values():
        assert token not in response.text


def test_the_matrix_covers_every_operation_in_the_openapi_document(
    shared_server: LiveServer,
) -> None:
    with shared_server.client() as client:
        document = client.get("/openapi.json").json()
    served = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert served == {(m, t) for m, t, _p, _b, _a in ENDPOINTS}


def test_the_docs_are_served_without_a_token(shared_server: LiveServer) -> None:
    with shared_server.client() as client:
        assert client.get("/docs").status_code == 200
        assert client.get("/openapi.json").json()["info"]["title"] == "psledger"


def test_a_non_bearer_authorization_is_401(shared_server: LiveServer) -> None:
    token = shared_server.credentials.tokens["all"]
    with shared_server.client() as client:
        response = client.get("/invoices", headers={"authorization": f"Basic {token}"})
    assert response.status_code == 401
    assert token not in response.text
