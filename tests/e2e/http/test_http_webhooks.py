"""Signed webhooks over a real HTTP server: signatures, limits, validation,
refusals and at-most-once application per webhook-id."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
from live_http import LiveServer, envelope, reference_body, signed_headers

REFERENCE_DELIVERIES = [
    ("hr", "hr.worker.updated", "worker:W-1001"),
    ("crm", "crm.sow.approved", "contract:SOW-1042"),
    ("crm", "crm.sow.approved.fixed_price", "contract:SOW-2001"),
    ("crm", "crm.sow.approved.retainer", "contract:SOW-3007"),
    ("crm", "crm.sow.amended", "contract:SOW-1042"),
]


def history(server: LiveServer, entity: str) -> list[dict[str, object]]:
    with server.client("auditor") as client:
        response = client.get(f"/entities/{entity}/history")
    assert response.status_code == 200, response.text
    entries: list[dict[str, object]] = response.json()
    return entries


def worker_body(worker_id: str = "W-7", cost_rate: str = "50.00") -> bytes:
    return envelope(
        "worker.updated",
        {
            "worker_id": worker_id,
            "name": "Test Worker",
            "cost_rate": cost_rate,
            "effective_from": "2026-01-01",
        },
    )


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    assert body["error"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# -- the reference webhooks ------------------------------------------------------


def test_reference_webhooks_signed_are_accepted_and_show_up_in_history(
    server: LiveServer,
) -> None:
    answers = {}
    for source, name, _entity in REFERENCE_DELIVERIES:
        response = server.deliver(source, reference_body(name), delivery_id=f"d-{name}")
        assert response.status_code == 202, response.text
        answer = response.json()
        assert answer["duplicate"] is False and answer["event_ids"]
        answers[name] = answer

    for _source, name, entity in REFERENCE_DELIVERIES:
        entries = history(server, entity)
        sources = [e["provenance"]["delivery_id"] for e in entries]  # type: ignore[index]
        assert f"d-{name}" in sources

    amended = history(server, "contract:SOW-1042")
    assert [e["event"] for e in amended][-1] == "AmendmentProposed"
    last = amended[-1]["provenance"]
    assert last["source_system"] == "crm"  # type: ignore[index]
    assert last["signature_key_id"].startswith("crm:")  # type: ignore[index]


def test_the_same_deliveries_again_append_nothing_and_answer_the_first_answer(
    server: LiveServer,
) -> None:
    first = {}
    for source, name, _ in REFERENCE_DELIVERIES:
        first[name] = server.deliver(source, reference_body(name), delivery_id=f"d-{name}").json()
    before = {entity: len(history(server, entity)) for _, _, entity in REFERENCE_DELIVERIES}

    for source, name, _ in REFERENCE_DELIVERIES:
        again = server.deliver(source, reference_body(name), delivery_id=f"d-{name}")
        assert again.status_code == 202
        assert again.json()["event_ids"] == first[name]["event_ids"]
        assert again.json()["duplicate"] is True

    after = {entity: len(history(server, entity)) for _, _, entity in REFERENCE_DELIVERIES}
    assert after == before


# -- signatures ------------------------------------------------------------------------


def test_a_valid_signature_is_accepted(server: LiveServer) -> None:
    response = server.deliver("hr", worker_body())
    assert response.status_code == 202, response.text
    assert response.json()["event_ids"] == ["worker:W-7@1"]


def test_a_wrong_secret_is_refused_and_appends_nothing(server: LiveServer) -> None:
    other = server.credentials.secrets["erp"][0]  # a real secret, of another source
    response = server.deliver("hr", worker_body(), secret=other)
    assert_error(response, 401, "bad_signature")
    with server.client("auditor") as client:
        assert client.get("/entities/W-7/history").status_code == 404


def test_both_the_old_and_the_new_secret_are_accepted_during_a_rotation(
    server: LiveServer,
) -> None:
    old, new = server.credentials.secrets["crm"]
    body = reference_body("crm.sow.approved")
    assert server.deliver("crm", body, secret=old).status_code == 202
    amended = reference_body("crm.sow.amended")
    assert server.deliver("crm", amended, secret=new).status_code == 202
    key_ids = {e["provenance"]["signature_key_id"] for e in history(server, "contract:SOW-1042")}  # type: ignore[index]
    assert len(key_ids) == 2


def test_a_stale_timestamp_is_refused(server: LiveServer) -> None:
    at = datetime.now(UTC) - timedelta(minutes=6)
    assert_error(server.deliver("hr", worker_body(), at=at), 401, "stale_signature")


def test_a_future_timestamp_is_refused(server: LiveServer) -> None:
    at = datetime.now(UTC) + timedelta(minutes=6)
    response = server.deliver("hr", worker_body(), at=at)
    body = assert_error(response, 401, "stale_signature")
    assert "future" in str(body["detail"])


def test_a_timestamp_within_tolerance_is_accepted(server: LiveServer) -> None:
    at = datetime.now(UTC) - timedelta(minutes=4)
    assert server.deliver("hr", worker_body(), at=at).status_code == 202


def test_a_tampered_body_is_refused(server: LiveServer) -> None:
    secret = server.credentials.secrets["hr"][0]
    headers = signed_headers(worker_body(cost_rate="50.00"), secret)
    tampered = worker_body(cost_rate="5000.00")
    with server.client() as client:
        response = client.post("/webhooks/hr", content=tampered, headers=headers)
    assert_error(response, 401, "bad_signature")


def test_a_signature_replayed_under_another_id_is_refused(server: LiveServer) -> None:
    secret = server.credentials.secrets["hr"][0]
    body = worker_body()
    headers = signed_headers(body, secret, delivery_id="msg-1")
    headers["webhook-id"] = "msg-2"
    with server.client() as client:
        response = client.post("/webhooks/hr", content=body, headers=headers)
    assert_error(response, 401, "bad_signature")


def test_a_replayed_delivery_appends_nothing(server: LiveServer) -> None:
    secret = server.credentials.secrets["hr"][0]
    body = worker_body()
    headers = signed_headers(body, secret, delivery_id="msg-replayed")
    with server.client() as client:
        first = client.post("/webhooks/hr", content=body, headers=headers)
        second = client.post("/webhooks/hr", content=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert second.json() == {**first.json(), "duplicate": True}
    assert len(history(server, "worker:W-7")) == 1


def test_missing_signature_headers_are_refused(server: LiveServer) -> None:
    with server.client() as client:
        bare = client.post("/webhooks/hr", content=worker_body())
        assert_error(bare, 401, "missing_signature")
        headers = signed_headers(worker_body(), server.credentials.secrets["hr"][0])
        del headers["webhook-signature"]
        assert_error(
            client.post("/webhooks/hr", content=worker_body(), headers=headers),
            401,
            "missing_signature",
        )


def test_malformed_signature_headers_are_refused_not_crashed(server: LiveServer) -> None:
    body = worker_body()
    now = str(int(time.time()))
    cases = [
        {"webhook-id": "m1", "webhook-timestamp": now, "webhook-signature": "garbage"},
        {"webhook-id": "m1", "webhook-timestamp": now, "webhook-signature": "v1,@@@ v2,x"},
        {"webhook-id": "m1", "webhook-timestamp": "soon", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "m1", "webhook-timestamp": "1e9", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "a b", "webhook-timestamp": now, "webhook-signature": "v1,AAAA"},
    ]
    with server.client() as client:
        for headers in cases:
            response = client.post("/webhooks/hr", content=body, headers=headers)
            assert response.status_code == 401, (headers, response.text)


def test_a_bearer_token_does_not_stand_in_for_a_signature(server: LiveServer) -> None:
    with server.client("all") as client:
        response = client.post("/webhooks/hr", content=worker_body())
    assert_error(response, 401, "missing_signature")


def test_a_source_cannot_deliver_to_another_sources_endpoint(server: LiveServer) -> None:
    # signed with the HR secret, sent to the CRM endpoint
    body = worker_body()
    headers = signed_headers(body, server.credentials.secrets["hr"][0])
    with server.client() as client:
        assert_error(
            client.post("/webhooks/crm", content=body, headers=headers), 401, "bad_signature"
        )
    # signed with the CRM secret, an HR event on the CRM endpoint: the body is refused
    response = server.deliver("crm", body)
    assert_error(response, 422, "invalid_webhook")


def test_errors_never_carry_the_secret(server: LiveServer) -> None:
    secrets = server.credentials.all_secrets()
    responses = [
        server.deliver("hr", worker_body(), secret=server.credentials.secrets["crm"][0]),
        server.deliver("hr", b"{not json"),
        server.deliver("hr", worker_body(), at=datetime.now(UTC) - timedelta(hours=1)),
    ]
    for response in responses:
        for secret in secrets:
            assert secret not in response.text
            assert secret.removeprefix("whsec_") not in response.text


# -- limits, validation, refusals ------------------------------------------------


def test_a_body_over_the_limit_is_refused_with_413(server: LiveServer) -> None:
    big = envelope(
        "worker.updated",
        {"worker_id": "W-9", "effective_from": "2026-01-01", "name": "x" * (70 * 1024)},
    )
    assert_error(server.deliver("hr", big), 413, "body_too_large")


def test_a_body_over_the_limit_without_content_length_is_refused_with_413(
    server: LiveServer,
) -> None:
    chunk = b" " * 8192

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield chunk

    headers = {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}
    with server.client() as client:
        response = client.post("/webhooks/hr", content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "body_too_large")


def test_an_invalid_body_is_422_with_field_errors_and_quarantined(server: LiveServer) -> None:
    body = envelope("worker.updated", {"worker_id": "W-8", "cost_rate": "-5"})
    response = server.deliver("hr", body, delivery_id="msg-invalid-1")
    answer = assert_error(response, 422, "invalid_webhook")
    fields = {e["field"] for e in answer["errors"]}  # type: ignore[attr-defined]
    assert {"data.cost_rate", "data.effective_from"} <= fields

    with server.client("operator") as client:
        listed = client.get("/quarantine").json()
        (row,) = [r for r in listed if r["record_key"] == "msg-invalid-1"]
        assert row["source"] == "webhook:hr"
        assert row["reason"] == "invalid_webhook"
        shown = client.get(f"/quarantine/{row['id']}").json()
    assert shown["raw_text"].encode() == body
    with server.client("auditor") as client:
        assert client.get("/entities/W-8").status_code == 404


def test_a_body_that_is_not_json_is_422_and_quarantined(server: LiveServer) -> None:
    response = server.deliver("erp", b"\xff\xfe not json", delivery_id="msg-bytes")
    assert_error(response, 422, "invalid_webhook")
    with server.client("operator") as client:
        keys = [r["record_key"] for r in client.get("/quarantine").json()]
    assert "msg-bytes" in keys


def test_posting_an_invoice_the_ledger_lacks_is_409(server: LiveServer) -> None:
    response = server.deliver("erp", reference_body("erp.invoice.posted"))
    body = assert_error(response, 409, "unknown_entity")
    assert "GB01-SOW-1042-2026-01" in str(body["detail"])


def test_conflicting_terms_are_409_and_append_nothing(server: LiveServer) -> None:
    approved = json.loads(reference_body("crm.sow.approved"))
    assert server.deliver("crm", json.dumps(approved).encode()).status_code == 202
    approved["id"] = "evt_crm_other"
    approved["data"]["currency"] = "EUR"
    response = server.deliver("crm", json.dumps(approved).encode())
    assert response.status_code == 409, response.text
    assert response.json()["error"] in {"conflicting_terms", "illegal_transition"}
    assert len(history(server, "contract:SOW-1042")) == 1


def test_an_unknown_source_is_refused(server: LiveServer) -> None:
    with server.client() as client:
        response = client.post("/webhooks/psa", content=b"{}")
    assert response.status_code in (404, 422)
    assert "error" in response.json()


def test_a_known_webhook_id_with_another_body_is_409_and_quarantined(server: LiveServer) -> None:
    # given a delivery applied under its id
    original = worker_body("W-9", "50.00")
    first = server.deliver("hr", original, delivery_id="msg-reused")
    assert first.status_code == 202, first.text

    # when the same id comes again with another body (a new cost rate)
    changed = worker_body("W-9", "75.00")
    response = server.deliver("hr", changed, delivery_id="msg-reused")

    # then it is a conflict, not a redelivery: refused, kept for an operator, nothing applied
    body = assert_error(response, 409, "webhook_id_reused")
    assert "msg-reused" in str(body["detail"])
    with server.client("operator") as client:
        rows = [r for r in client.get("/quarantine").json() if r["record_key"] == "msg-reused"]
        assert [r["reason"] for r in rows] == ["webhook_id_reused"]
        shown = client.get(f"/quarantine/{rows[0]['id']}").json()
    assert shown["raw_text"].encode() == changed
    assert len(history(server, "worker:W-9")) == 1

    # and the first body again is still a plain redelivery
    again = server.deliver("hr", original, delivery_id="msg-reused")
    assert again.status_code == 202 and again.json()["duplicate"] is True
