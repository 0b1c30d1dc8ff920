"""A month of the demo firm through the HTTP API: contracts and workers by
signed webhook, PSA rows by Debezium file, then billing, invoices, ERP
posting and an amendment approval over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from live_http import Credentials, LiveServer, build_january, reference_body, serve

INVOICE = "GB01-SOW-1042-2026-01"


@pytest.fixture(scope="module")
def billed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose ledger has January 2026 billed (over HTTP)."""
    tmp = tmp_path_factory.mktemp("flow")
    credentials = Credentials.fresh()
    config = credentials.write_config(tmp / "psledger.toml")
    store = f"sqlite:///{tmp}/ledger.db"
    with serve(store, credentials, config) as server:
        assert INVOICE in build_january(server, tmp, store)
        yield server


def test_invoices_are_listed_with_filters(billed: LiveServer) -> None:
    with billed.client("auditor") as client:
        everything = client.get("/invoices").json()
        by_contract = client.get("/invoices", params={"contract": "SOW-1042"}).json()
        none = client.get("/invoices", params={"period": "2025-12"}).json()
    assert {inv["number"] for inv in by_contract} == {INVOICE}
    assert len(everything) >= 2
    assert none == []
    assert all("lines" not in inv for inv in everything)


def test_an_invoice_lists_each_line_with_its_work_item_and_source_record(
    billed: LiveServer,
) -> None:
    with billed.client("auditor") as client:
        invoice = client.get(f"/invoices/{INVOICE}").json()
    assert invoice["number"] == INVOICE
    time_lines = [ln for ln in invoice["lines"] if ln["item_kind"] == "time_entry"]
    assert time_lines
    for line in time_lines:
        assert line["item_id"]
        assert line["source_record"]["table"].endswith("time_entries")
        assert line["source_record"]["key"] and line["source_record"]["lsn"]
        assert line["source"]


def test_the_erp_payload_keeps_the_item_ids(billed: LiveServer) -> None:
    with billed.client("auditor") as client:
        payload = client.get(f"/invoices/{INVOICE}/erp").json()
        invoice = client.get(f"/invoices/{INVOICE}").json()
    assert payload["number"] == INVOICE
    item_ids = sorted(i for line in payload["lines"] for i in line["item_ids"])
    assert item_ids == sorted(ln["item_id"] for ln in invoice["lines"] if ln.get("item_id"))


def test_an_unknown_invoice_is_404(billed: LiveServer) -> None:
    with billed.client("auditor") as client:
        for path in ("/invoices/NOPE-1", "/invoices/NOPE-1/erp", "/entities/NOPE-1/history"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"] == "unknown_entity"


def test_posting_twice_with_another_document_number_is_409(billed: LiveServer) -> None:
    posted = reference_body("erp.invoice.posted")
    assert billed.deliver("erp", posted, delivery_id="erp-post-1").status_code == 202
    again = json.loads(posted)
    again["id"] = "evt_erp_other"
    again["data"]["erp_document_no"] = "FTI-999999"
    response = billed.deliver("erp", json.dumps(again).encode(), delivery_id="erp-post-2")
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "illegal_transition"
    with billed.client("auditor") as client:
        invoice = client.get(f"/invoices/{INVOICE}").json()
        posted_list = client.get("/invoices", params={"state": "posted"}).json()
    assert invoice["state"] == "posted"
    assert invoice["erp_document_no"] == "FTI-000918"
    assert [inv["number"] for inv in posted_list] == [INVOICE]


def test_finance_approves_an_amendment_as_the_tokens_user(billed: LiveServer) -> None:
    assert billed.deliver("crm", reference_body("crm.sow.amended")).status_code == 202
    with billed.client("auditor") as client:
        before = client.get("/entities/contract:SOW-1042").json()
    with billed.client("finance") as client:
        approved = client.post("/contracts/SOW-1042/amendments/2/approve")
        again = client.post("/contracts/SOW-1042/amendments/2/approve")
        missing = client.post("/contracts/SOW-1042/amendments/9/approve")
        unknown = client.post("/contracts/SOW-0000/amendments/2/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved_by"] == "finance"
    assert again.status_code == 409
    assert missing.status_code == 404
    assert unknown.status_code == 404
    with billed.client("auditor") as client:
        (contract,) = client.get("/entities/contract:SOW-1042").json()
        history = client.get("/entities/contract:SOW-1042/history").json()
        (as_before,) = client.get(
            "/entities/contract:SOW-1042", params={"as_of": history[-2]["recorded_at"]}
        ).json()
    version2 = contract["versions"][1]
    assert version2["status"] == "approved" and version2["approved_by"] == "finance"
    assert as_before == before[0]
    assert history[-1]["actor"] == "finance"


def test_bad_query_parameters_are_422(billed: LiveServer) -> None:
    with billed.client("finance") as client:
        assert client.get("/entities/SOW-1042", params={"as_of": "yesterday"}).status_code == 422
        bad_period = client.post("/billing-runs", json={"period": "2026-13"})
        no_period = client.post("/billing-runs", json={})
    assert bad_period.status_code == 422
    assert no_period.status_code == 422
    assert no_period.json()["error"] == "invalid_request"


def test_an_entity_before_it_existed_is_404(billed: LiveServer) -> None:
    with billed.client("auditor") as client:
        response = client.get("/entities/SOW-1042", params={"as_of": "2000-01-01T00:00:00Z"})
    assert response.status_code == 404
