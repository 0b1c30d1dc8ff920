"""The CLI as a user runs it: a real process, a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[3] / "psledger" / "data" / "webhooks"


def psledger(store: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "psledger", "--store", store, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"psledger {args} failed: {result.stderr}")
    return result


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return str(request.getfixturevalue("pg_url"))


def test_demo_bills_all_three_billing_methods_and_a_rerun_appends_nothing(
    store: str, tmp_path: Path
) -> None:
    out = psledger(store, "demo", "--out", str(tmp_path / "files")).stdout
    assert "GB01-SOW-1042-2026-01" in out  # time and materials
    assert "US01-SOW-2001-2026-01-PRJ-CT-1-MS-2001-1" in out  # fixed price milestone
    assert "DE01-SOW-3007-2026-01" in out  # retainer
    assert "GB01-SOW-1042-2026-01-C1" in out and "-R1" in out
    assert "open billing exceptions:" in out

    again = psledger(store, "bill", "--period", "2026-02").stdout
    assert again.startswith("billing 2026-02: 0 events appended, 0 invoices")

    rerun = psledger(store, "demo", "--out", str(tmp_path / "files2")).stdout
    assert "events appended: 0" in rerun


def test_history_of_a_time_entry_shows_its_approver_and_invoice(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/ledger.db"
    psledger(store, "demo", "--out", str(tmp_path / "files"))
    entries = json.loads(psledger(store, "history", "TE-0001", "--format", "json").stdout)
    approved = next(e for e in entries if e["event"] == "Approved")
    assert approved["data"]["by"] == "pm.grey"
    assert approved["data"]["at"].startswith("2026-01-08T17:00")
    assert approved["provenance"]["table"] == "public.time_entries"
    assert approved["provenance"]["lsn"] > 0
    invoiced = next(e for e in entries if e["event"] == "Invoiced")
    assert invoiced["data"]["invoice_number"] == "GB01-SOW-1042-2026-01"
    table = psledger(store, "history", "TE-0001").stdout
    assert "pm.grey" in table and "Invoiced" in table


def test_invoices_json_has_totals_and_lines_pointing_at_their_source(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/ledger.db"
    psledger(store, "demo", "--out", str(tmp_path / "files"))
    invoices = json.loads(psledger(store, "invoices", "--format", "json").stdout)
    for invoice in invoices:
        net = sum((float(line["net"]) for line in invoice["lines"]), 0.0)
        assert abs(net - float(invoice["net"])) < 0.005
        assert invoice["rule_version"].startswith("billing-")
        for line in invoice["lines"]:
            assert line["item_kind"] == "retainer_fee" or line["source"]


def events_in(store: str) -> int:
    from psledger.bootstrap import bootstrap
    from psledger.settings import Settings

    wiring = bootstrap(Settings(store=store))
    try:
        return wiring.app.recorder.max_notification_id() or 0
    finally:
        wiring.close()


def test_a_webhook_that_breaks_a_rule_exits_non_zero_with_one_line_and_changes_nothing(
    store: str, tmp_path: Path
) -> None:
    psledger(store, "ingest", "webhook", str(REFERENCE / "crm.sow.approved.json"))
    before = events_in(store)

    unknown = psledger(
        store, "ingest", "webhook", str(REFERENCE / "erp.invoice.posted.json"), check=False
    )
    assert unknown.returncode != 0
    assert unknown.stderr.count("\n") == 1 and "Traceback" not in unknown.stderr
    assert "invoice GB01-SOW-1042-2026-01 is not known" in unknown.stderr

    body = json.loads((REFERENCE / "crm.sow.approved.json").read_text())
    body["id"] = "evt_crm_other"
    body["data"]["not_to_exceed"] = "99999.00"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(body))
    conflict = psledger(store, "ingest", "webhook", str(changed), check=False)
    assert conflict.returncode != 0
    assert "version 1 is already approved with different terms" in conflict.stderr
    assert conflict.stderr.count("\n") == 1

    assert events_in(store) == before


def test_approving_an_amendment_from_the_cli(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/ledger.db"
    psledger(
        store,
        "ingest",
        "webhook",
        str(REFERENCE / "crm.sow.approved.json"),
        str(REFERENCE / "crm.sow.amended.json"),
    )
    out = psledger(store, "contracts", "approve-amendment", "SOW-1042", "2", "--by", "fin.ops")
    assert "approved by fin.ops" in out.stdout
    twice = psledger(
        store, "contracts", "approve-amendment", "SOW-1042", "2", "--by", "fin.ops", check=False
    )
    assert twice.returncode == 1 and "is approved; cannot approve the amendment" in twice.stderr


def test_a_bad_store_url_is_one_clear_line() -> None:
    result = psledger("mysql://nowhere/db", "invoices", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("psledger: error: store 'mysql://nowhere/db'")


def test_items_lists_billing_exceptions_for_operators(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/ledger.db"
    psledger(store, "demo", "--out", str(tmp_path / "files"))
    held = json.loads(psledger(store, "items", "--exception", "no_rate", "--format", "json").stdout)
    assert [(i["id"], i["state"]) for i in held] == [("TE-0900", "approved")]
    assert "architect" in held[0]["exception"]["reason"]
    on_hold = psledger(store, "items", "--exception", "project_on_hold").stdout
    assert "TE-2001" in on_hold and "PRJ-NW-2" in on_hold
    posted = json.loads(psledger(store, "items", "--state", "posted", "--format", "json").stdout)
    assert posted and all(i["erp_document_no"] == "FTI-000918" for i in posted)
