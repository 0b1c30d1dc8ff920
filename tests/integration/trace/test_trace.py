"""An auditor follows each invoice line to its work item and the source
changes that made it what was billed: who, when, and from which position."""

from __future__ import annotations

import gc
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from domain.errors import UnknownEntity
from psledger.audit.trace import trace, trace_json
from psledger.bootstrap import Wiring, bootstrap
from psledger.cli import cli
from psledger.http.app import create_app
from psledger.http.config import AccessConfig, User, token_hash
from psledger.settings import Settings

JANUARY = "GB01-SOW-1042-2026-01"
CREDIT = "GB01-SOW-1042-2026-01-C1"
FEBRUARY = "GB01-SOW-1042-2026-02"


def traced(wiring: Wiring, number: str) -> dict[str, Any]:
    return trace(wiring.app, number)


def line_of(found: dict[str, Any], item_id: str) -> dict[str, Any]:
    return next(ln for ln in found["lines"] if ln["item_id"] == item_id)


def names(line: dict[str, Any]) -> list[str]:
    return [e["event"] for e in line["events"]]


def test_a_posted_line_leads_to_its_capture_approval_pricing_and_invoicing(demo: Wiring) -> None:
    found = traced(demo, JANUARY)
    line = line_of(found, "TE-0001")
    assert names(line) == ["Captured", "Approved", "Priced", "Invoiced"]
    captured, approved, priced, invoiced = line["events"]
    assert captured["position"]["table"] == "public.time_entries"
    assert captured["position"]["key"] == '{"id":"TE-0001"}'
    assert captured["position"]["lsn"] > 0 and captured["position"]["tx_id"] == "701"
    assert captured["business_time"] == "2026-01-15T17:00:00+00:00"
    assert approved["actor"] == "pm.grey" and approved["data"]["by"] == "pm.grey"
    assert priced["rule_version"] == found["rule_version"]
    assert invoiced["data"]["invoice_number"] == JANUARY
    posted = next(e for e in found["events"] if e["event"] == "Posted")
    assert posted["position"]["delivery_id"] == "evt_erp_120033"
    assert line["approval"]["by"] == "pm.grey"
    assert line["approval"]["at"].startswith("2026-01-08T17:00")
    assert line["approval"]["position"]["lsn"] == captured["position"]["lsn"]
    recorded = [e["recorded_at"] for e in line["events"]]
    assert recorded == sorted(recorded)


def test_every_item_line_ends_with_the_event_that_put_it_on_the_invoice(demo: Wiring) -> None:
    found = traced(demo, JANUARY)
    assert found["rule_version"].startswith("billing-")
    assert [e["event"] for e in found["events"]][:3] == ["Drafted", "Issued", "Posted"]
    items = [ln for ln in found["lines"] if ln["item_id"]]
    assert len(items) == len(found["lines"]) == 42
    for line in items:
        billed = [e for e in line["events"] if e["event"] == "Invoiced"]
        assert billed[-1]["data"]["invoice_number"] == JANUARY, line["item_id"]
        assert names(line)[0] == "Captured"


def test_a_credit_note_line_shows_the_correction_from_the_source(demo: Wiring) -> None:
    line = line_of(traced(demo, CREDIT), "TE-0001")
    assert names(line)[-2:] == ["CorrectionRecorded", "Credited"]
    correction = line["events"][-2]
    assert correction["role"] == "correction"
    assert correction["position"]["tx_id"] == "903"
    assert correction["business_time"] == "2026-02-03T09:00:00+00:00"
    rebilled = line_of(traced(demo, FEBRUARY), "TE-0001")
    assert rebilled["source_position"]["lsn"] == correction["position"]["lsn"]
    assert names(rebilled)[-2:] == ["Priced", "Invoiced"]


def test_an_unknown_invoice_is_one_clear_error(demo: Wiring) -> None:
    with pytest.raises(UnknownEntity, match="invoice NOPE-1 is not known"):
        traced(demo, "NOPE-1")


def test_the_json_of_every_trace_is_the_trace_its_entries_copied_as_stored(
    demo: Wiring,
) -> None:
    # given every invoice of the demo: issued, credited, re-issued and posted
    numbers = sorted(demo.ledger.entity_ids("invoice"))
    assert {JANUARY, CREDIT, FEBRUARY} <= set(numbers)
    for number in numbers:
        # when its trace is asked for as JSON, compact and indented
        compact = trace_json(demo.app, number)
        indented = trace_json(demo.app, number, indent=True)
        # then both decode to the trace, key order kept, and only the
        # document's frame is indented: each entry is one line as stored
        found = traced(demo, number)
        assert orjson.loads(compact) == orjson.loads(indented) == found, number
        assert list(orjson.loads(compact)) == list(found)
        entries = found["events"] + [e for ln in found["lines"] for e in ln["events"]]
        assert indented.count(b'\n    {"event":') + indented.count(b'\n        {"event":') == len(
            entries
        ), number


def test_the_cli_prints_the_trace_as_text_and_json(demo: Wiring) -> None:
    store = demo.settings.store
    runner = CliRunner()
    text = runner.invoke(cli, ["--store", store, "audit", "trace", JANUARY])
    assert text.exit_code == 0, text.output
    assert "line 1: time_entry TE-0001 full" in text.output
    assert "approved by pm.grey" in text.output
    as_json = runner.invoke(cli, ["--store", store, "audit", "trace", JANUARY, "--format", "json"])
    assert orjson.loads(as_json.output) == traced(demo, JANUARY)
    missing = runner.invoke(cli, ["--store", store, "audit", "trace", "NOPE-1"])
    assert missing.exit_code == 1
    assert missing.output.strip() == "psledger: error: invoice NOPE-1 is not known to the ledger"


def test_http_serves_the_trace_to_auditors_and_declares_it(demo: Wiring) -> None:
    users = {
        token_hash("aud"): User("ann", frozenset({"auditor"})),
        token_hash("ops"): User("otto", frozenset({"operator"})),
    }
    app = create_app(wiring=demo, access=AccessConfig(users_by_token_hash=users))
    with TestClient(app) as client:
        ok = client.get(f"/invoices/{JANUARY}/trace", headers={"authorization": "Bearer aud"})
        assert ok.status_code == 200
        assert ok.json() == traced(demo, JANUARY)
        denied = client.get(f"/invoices/{JANUARY}/trace", headers={"authorization": "Bearer ops"})
        assert denied.status_code == 403
        gone = client.get("/invoices/NOPE-1/trace", headers={"authorization": "Bearer aud"})
        assert gone.status_code == 404
        document = client.get("/openapi.json").json()
    operation = document["paths"]["/invoices/{number}/trace"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "InvoiceTrace"
    )


def test_traces_served_at_once_catch_the_view_up_once_and_agree(demo: Wiring) -> None:
    # given the demo, its lineage view not yet caught up, and four requests at once
    numbers = sorted(demo.ledger.entity_ids("invoice"))
    with ThreadPoolExecutor(4) as pool:
        at_once = list(pool.map(lambda n: traced(demo, n), numbers * 2))
    # then each answer is the one a lone trace gives, after the fact
    assert at_once == [traced(demo, n) for n in numbers * 2]
    status = {s.name: s for s in demo.read_side.status()}
    assert status["lineage"].lag == 0


def test_an_application_that_traced_is_freed_when_it_is_dropped(tmp_path: Path) -> None:
    # given an application that has traced (the trace keeps its read side)
    wiring = bootstrap(Settings(store=f"sqlite:///{tmp_path / 'ledger.db'}"))
    with pytest.raises(UnknownEntity):
        trace(wiring.app, "NO-SUCH-INVOICE")
    app = weakref.ref(wiring.app)
    # when its wiring is closed and dropped
    wiring.close()
    del wiring
    gc.collect()
    # then nothing holds the application (nor its store) any more
    assert app() is None
