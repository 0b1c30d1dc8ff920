"""The quarantine over HTTP: what a refused webhook leaves behind, replay and discard."""

from __future__ import annotations

from live_http import LiveServer, envelope


def quarantine_invalid(server: LiveServer, delivery_id: str) -> str:
    body = envelope("invoice.posted", {"invoice_number": "X-1"})
    assert server.deliver("erp", body, delivery_id=delivery_id).status_code == 422
    with server.client("operator") as client:
        rows = client.get("/quarantine").json()
    (row,) = [r for r in rows if r["record_key"] == delivery_id]
    return str(row["id"])


def test_replaying_a_record_that_still_fails_is_409_and_it_stays(server: LiveServer) -> None:
    row_id = quarantine_invalid(server, "q-1")
    with server.client("operator") as client:
        response = client.post(f"/quarantine/{row_id}/replay")
        assert response.status_code == 409, response.text
        assert response.json()["error"] == "replay_failed"
        assert client.get(f"/quarantine/{row_id}").json()["status"] == "open"


def test_discarding_records_who_and_a_second_discard_is_409(server: LiveServer) -> None:
    row_id = quarantine_invalid(server, "q-2")
    with server.client("operator") as client:
        first = client.post(f"/quarantine/{row_id}/discard")
        second = client.post(f"/quarantine/{row_id}/discard")
        replay = client.post(f"/quarantine/{row_id}/replay")
        still_open = [r["id"] for r in client.get("/quarantine").json()]
        shown = client.get(f"/quarantine/{row_id}").json()
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "discarded by operator"
    assert second.status_code == 409 and second.json()["error"] == "not_open"
    assert replay.status_code == 409
    assert row_id not in still_open
    assert shown["status"] == "discarded by operator"


def test_an_unknown_quarantine_id_is_404(server: LiveServer) -> None:
    with server.client("operator") as client:
        for response in (
            client.get("/quarantine/nope"),
            client.post("/quarantine/nope/replay"),
            client.post("/quarantine/nope/discard"),
        ):
            assert response.status_code == 404
            assert response.json()["error"] == "unknown_entity"


def test_the_same_invalid_delivery_twice_is_quarantined_once(server: LiveServer) -> None:
    quarantine_invalid(server, "q-3")
    body = envelope("invoice.posted", {"invoice_number": "X-1"})
    # a new event id, so a different body: a second row
    assert server.deliver("erp", body, delivery_id="q-3").status_code == 422
    with server.client("operator") as client:
        rows = [r for r in client.get("/quarantine").json() if r["record_key"] == "q-3"]
    assert 1 <= len(rows) <= 2
