"""The HTTP app against PostgreSQL: reference webhooks in, history out, the
same deliveries again append nothing, refusals append nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_http import Credentials, LiveServer, reference_body, serve

pytestmark = pytest.mark.postgres

DELIVERIES = [
    ("hr", "hr.worker.updated"),
    ("crm", "crm.sow.approved"),
    ("crm", "crm.sow.amended"),
]


@pytest.fixture
def pg_server(pg_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    credentials = Credentials.fresh()
    config = credentials.write_config(tmp_path / "psledger.toml")
    with serve(pg_url, credentials, config) as server:
        yield server


def test_reference_webhooks_once_each_on_postgres(pg_server: LiveServer) -> None:
    first = {}
    for source, name in DELIVERIES:
        response = pg_server.deliver(source, reference_body(name), delivery_id=f"pg-{name}")
        assert response.status_code == 202, response.text
        first[name] = response.json()["event_ids"]
    for source, name in DELIVERIES:
        again = pg_server.deliver(source, reference_body(name), delivery_id=f"pg-{name}")
        assert again.status_code == 202
        assert again.json() == {
            "source": source,
            "delivery_id": f"pg-{name}",
            "event_ids": first[name],
            "duplicate": True,
        }
    with pg_server.client("auditor") as client:
        contract = client.get("/entities/contract:SOW-1042/history").json()
        worker = client.get("/entities/W-1001/history").json()
    assert [e["provenance"]["delivery_id"] for e in contract] == [
        "pg-crm.sow.approved",
        "pg-crm.sow.amended",
    ]
    assert len(worker) == 1


def test_refusals_append_nothing_on_postgres(pg_server: LiveServer) -> None:
    assert pg_server.deliver("crm", reference_body("crm.sow.approved")).status_code == 202
    conflicting = json.loads(reference_body("crm.sow.approved"))
    conflicting["data"]["currency"] = "EUR"
    refused = pg_server.deliver("crm", json.dumps(conflicting).encode())
    unknown = pg_server.deliver("erp", reference_body("erp.invoice.posted"))
    invalid = pg_server.deliver("hr", b'{"type": "worker.updated"}', delivery_id="pg-bad")
    assert refused.status_code == 409
    assert unknown.status_code == 409
    assert invalid.status_code == 422
    with pg_server.client("finance") as client:
        assert len(client.get("/entities/contract:SOW-1042/history").json()) == 1
        quarantined = client.get("/quarantine").json()
    # every refusal is kept for an operator with its reason, the sender told why
    reasons = sorted(row["reason"] for row in quarantined)
    assert reasons == ["conflicting_terms", "invalid_webhook", "unknown_entity"]
    assert "pg-bad" in [row["record_key"] for row in quarantined]
