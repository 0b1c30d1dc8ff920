"""Structured logs: one JSON line per event with the record's source position
or webhook id as its correlation id, a console format for humans, and no
secret in any line, whatever passes through."""

from __future__ import annotations

import io
import json
import logging
import math
from datetime import UTC, datetime
from pathlib import Path

import httpx
from ops_support import cli, parking_and_quarantine_file, serve
from standardwebhooks import Webhook

from psledger.demo.run import write_january
from psledger.ops import logs

REFERENCE = Path(__file__).resolve().parents[3] / "psledger" / "data" / "webhooks"


def extras(tmp_path: Path) -> Path:
    january = tmp_path / "psa-2026-01.jsonl"
    write_january(january)
    return parking_and_quarantine_file(january, tmp_path / "extras.jsonl")


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_an_ingest_logs_each_set_aside_record_with_its_source_position(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/logs.db"
    done = cli(
        "--log-format", "json", "--store", store, "ingest", "debezium", str(extras(tmp_path))
    )
    lines = json_lines(done.stderr)
    assert lines and len(lines) == len(done.stderr.strip().splitlines())  # every line is JSON
    by_event = {str(line["event"]): line for line in lines}
    parked = by_event["record parked"]
    assert parked["correlation_id"] == "psa.public.time_entries[0@900001]"
    quarantined = by_event["record quarantined"]
    assert quarantined["correlation_id"] == "psa.public.time_entries[0@900002]"
    assert quarantined["reason"] == "malformed_json"
    assert by_event["batch decided"]["parked"] == 1


def test_the_console_format_is_chosen_by_the_environment(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/console.db"
    done = cli(
        "--store",
        store,
        "ingest",
        "debezium",
        str(extras(tmp_path)),
        env={"PSLEDGER_LOG_FORMAT": "console"},
    )
    parked = [line for line in done.stderr.splitlines() if " record parked " in line]
    assert len(parked) == 1
    assert "correlation_id=psa.public.time_entries[0@900001]" in parked[0]
    assert not json_lines(done.stderr)


def test_without_a_log_format_an_ingest_logs_nothing(tmp_path: Path) -> None:
    done = cli("--store", f"sqlite:///{tmp_path}/q.db", "ingest", "debezium", str(extras(tmp_path)))
    assert done.stderr == ""


def test_a_served_webhook_is_logged_by_its_delivery_id_and_no_secret_is(tmp_path: Path) -> None:
    with serve(f"sqlite:///{tmp_path}/served.db", tmp_path) as server:
        body = (REFERENCE / "crm.sow.approved.json").read_bytes()
        at = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": "msg_logged_1",
            "webhook-timestamp": str(math.floor(at.timestamp())),
            "webhook-signature": Webhook(server.secrets["crm"]).sign(
                "msg_logged_1", at, body.decode()
            ),
        }
        assert (
            httpx.post(f"{server.url}/webhooks/crm", content=body, headers=headers).status_code
            == 202
        )
        with server.client("operator") as client:
            assert client.get("/ops").status_code == 200
            assert (
                client.post("/ops/login", data={"token": server.tokens["operator"]}).status_code
                == 303
            )
            assert client.post("/ops/login", data={"token": "psl_wrong"}).status_code == 401
        with server.client("finance") as client:
            assert client.get("/metrics").status_code == 200
        text = server.log.read_text()
    lines = json_lines(text)
    decided = [line for line in lines if line["event"] == "batch decided"]
    assert decided[0]["correlation_id"] == "webhook:crm:msg_logged_1"
    for secret in [*server.tokens.values(), *server.secrets.values()]:
        assert secret not in text
        assert secret.split("_", 1)[1] not in text


def test_secrets_in_messages_and_fields_are_masked() -> None:
    stream = io.StringIO()
    logs.configure("json", stream=stream)
    try:
        logs.event(
            logging.getLogger("psledger.test"),
            "connect to postgresql://app:s3cr3t@db:5432/ledger with Bearer psl_abc123",
            detail="key whsec_c2VjcmV0a2V5 in ?token=psl_zzz&x=1",
            webhook_secret="plain-value",
            authorization="Basic Zm9vOmJhcg==",
            correlation_id="webhook:crm:msg_1",
        )
    finally:
        logs.unconfigure()
    line = json.loads(stream.getvalue())
    text = stream.getvalue()
    for secret in ("s3cr3t", "psl_abc123", "c2VjcmV0a2V5", "psl_zzz", "plain-value", "Zm9vOmJhcg"):
        assert secret not in text
    assert "postgresql://app:***@db:5432/ledger" in str(line["event"])
    assert line["webhook_secret"] == line["authorization"] == "***"
    assert line["correlation_id"] == "webhook:crm:msg_1"
