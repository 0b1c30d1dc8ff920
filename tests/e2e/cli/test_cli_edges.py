"""Edges found on the demo data, as a user meets them at the CLI.

- an item moved at the source to another contract's project is not billed
  under its old contract;
- invoice lines point at the source change they bill and at the approval;
- `--as-of` is business time, `--recorded-as-of` ledger time;
- one item whose values break the arithmetic does not stop a billing run.

The demo runs once per module; a test that changes the store works on a copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from psledger.demo import firm
from psledger.demo.envelopes import DebeziumWriter

MARCH2 = datetime(2026, 3, 2, 9, tzinfo=UTC)


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


def as_json(store: str, *args: str) -> Any:
    return json.loads(psledger(store, *args).stdout)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("demo")
    db = where / "ledger.db"
    psledger(f"sqlite:///{db}", "demo", "--out", str(where / "files"))
    return db


@pytest.fixture
def demo(demo_db: Path) -> str:
    """The demo's store, read only."""
    return f"sqlite:///{demo_db}"


@pytest.fixture
def own_demo(demo_db: Path, tmp_path: Path) -> str:
    """A copy of the demo's store that the test may change."""
    for suffix in ("", "-wal", "-shm"):
        source = demo_db.with_name(demo_db.name + suffix)
        if source.exists():
            shutil.copy(source, tmp_path / f"ledger.db{suffix}")
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def psa_changes(path: Path, changes: list[tuple[str, str, Any, Any]], tx: int) -> Path:
    """A Debezium file with one PSA transaction of these row changes."""
    with path.open("wb") as out:
        writer = DebeziumWriter(out)
        writer.lsn, writer.tx = 60_000_000 + tx * 1000, tx
        writer.transaction(changes, MARCH2)
    return path


def lines_for(invoices: list[dict[str, Any]], item_id: str) -> dict[str, dict[str, Any]]:
    """invoice number -> the line of this item on it."""
    return {
        inv["number"]: line
        for inv in invoices
        for line in inv["lines"]
        if line.get("item_id") == item_id
    }


def item(store: str, item_id: str) -> dict[str, Any]:
    [state] = as_json(store, "show", f"time_entry:{item_id}")
    return dict(state)


# -- A: items follow their project to its contract ------------------------------


def test_an_item_moved_to_a_fixed_price_project_before_billing_is_not_billed(
    own_demo: str, tmp_path: Path
) -> None:
    # TE-5001: 3 h on PRJ-NW-1 (SOW-1042, time and materials), approved, then
    # moved to PRJ-CT-1 (SOW-2001, fixed price: time is not billable there)
    row = firm.time_entry(
        "TE-5001", "PRJ-NW-1", "W-1002", "consultant", date(2026, 3, 2), "3.00", "pm.grey"
    )
    moved = {**row, "project_id": "PRJ-CT-1"}
    psledger(own_demo, "ingest", "debezium", str(psa_changes(tmp_path / "a.jsonl",
             [("time_entries", "c", None, row)], 950)))  # fmt: skip
    psledger(own_demo, "ingest", "debezium", str(psa_changes(tmp_path / "b.jsonl",
             [("time_entries", "u", row, moved)], 951)))  # fmt: skip

    psledger(own_demo, "bill", "--period", "2026-03")

    invoices = as_json(own_demo, "invoices", "--format", "json")
    assert lines_for(invoices, "TE-5001") == {}  # not on SOW-1042 at RCL-GB-4
    state = item(own_demo, "TE-5001")
    assert (state["state"], state["project_id"], state["priced"]) == ("approved", "PRJ-CT-1", [])


def test_an_invoiced_item_moved_to_another_contract_is_credited_and_not_billed_again(
    own_demo: str, tmp_path: Path
) -> None:
    # TE-0002: 7.5 h on PRJ-NW-1, invoiced on GB01-SOW-1042-2026-01 at RCL-GB-1
    [jan] = as_json(own_demo, "invoices", "--format", "json", "--period", "2026-01",
                    "--contract", "SOW-1042")  # fmt: skip
    [jan_line] = lines_for([jan], "TE-0002").values()
    row = firm.month_time(1, 1)[1]
    assert (row["id"], row["project_id"]) == ("TE-0002", "PRJ-NW-1")
    moved = {**row, "project_id": "PRJ-CT-1", "updated_at": MARCH2}
    psledger(own_demo, "ingest", "debezium", str(psa_changes(tmp_path / "move.jsonl",
             [("time_entries", "u", row, moved)], 952)))  # fmt: skip

    billed = psledger(own_demo, "bill", "--period", "2026-03").stdout

    # a credit note negates January's line on SOW-1042; SOW-2001 is fixed
    # price, so TE-0002 now stops at approved and is billed nowhere
    assert "GB01-SOW-1042-2026-01-C2" in billed
    invoices = as_json(own_demo, "invoices", "--format", "json")
    lines = lines_for(invoices, "TE-0002")
    assert set(lines) == {"GB01-SOW-1042-2026-01", "GB01-SOW-1042-2026-01-C2"}
    assert Decimal(lines["GB01-SOW-1042-2026-01-C2"]["net"]) == -Decimal(jan_line["net"])
    state = item(own_demo, "TE-0002")
    assert (state["state"], state["project_id"]) == ("approved", "PRJ-CT-1")
    assert state["invoice_number"] is None


# -- B: lineage of invoice lines ---------------------------------------------------


def test_a_rebill_points_at_the_correction_and_the_approval(demo: str) -> None:
    invoices = as_json(demo, "invoices", "--format", "json")

    lines = lines_for(invoices, "TE-0001")
    first, rebill = lines["GB01-SOW-1042-2026-01"], lines["GB01-SOW-1042-2026-02"]

    assert (Decimal(first["quantity"]), first["source_record"]["tx_id"]) == (Decimal(8), "701")
    assert (Decimal(rebill["quantity"]), rebill["source_record"]["tx_id"]) == (Decimal(6), "903")
    assert rebill["approval_record"]["tx_id"] == "701"
    assert rebill["approval_record"]["lsn"] == first["source_record"]["lsn"]
    assert rebill["approved_by"] == "pm.grey"


def test_a_late_approval_is_on_the_line_beside_the_capture(demo: str) -> None:
    invoices = as_json(demo, "invoices", "--format", "json")

    [line] = lines_for(invoices, "TE-0079").values()

    assert line["source_record"]["tx_id"] == "704"  # the values billed, as captured
    assert line["approval_record"]["tx_id"] == "902"  # the approval, in February
    assert line["approval_record"]["lsn"] > line["source_record"]["lsn"]
    assert (line["approved_by"], line["approved_at"][:10]) == ("pm.grey", "2026-02-03")
    table = psledger(demo, "invoices", "--lines", "--period", "2026-02").stdout
    assert "tx=902" in table


# -- C: as of business time, or of ledger time ---------------------------------


def test_as_of_is_business_time(demo: str) -> None:
    # README: on 1 February TE-0001 was approved at 8 h, not yet corrected
    [state] = as_json(demo, "show", "TE-0001", "--as-of", "2026-02-01T00:00:00Z")

    assert state["state"] == "approved"
    assert state["fields"]["hours"] == "8.00"
    assert state["pending_correction"] is None


def test_before_its_capture_at_the_source_an_item_did_not_exist(demo: str) -> None:
    result = psledger(demo, "show", "TE-0001", "--as-of", "2026-01-01T00:00:00Z", check=False)

    assert result.returncode == 1
    assert "did not exist yet" in result.stderr and "business time" in result.stderr


def test_recorded_as_of_is_ledger_time(demo: str) -> None:
    now = datetime.now(UTC).isoformat()
    [latest] = as_json(demo, "show", "TE-0001")

    [recorded] = as_json(demo, "show", "TE-0001", "--recorded-as-of", now)
    before = psledger(demo, "show", "TE-0001", "--recorded-as-of", "2026-02-01", check=False)

    assert recorded == latest
    assert before.returncode == 1 and "recorded time" in before.stderr


def test_as_of_and_recorded_as_of_together_are_refused(demo: str) -> None:
    result = psledger(
        demo, "show", "TE-0001", "--as-of", "2026-02-01", "--recorded-as-of", "2026-02-01",
        check=False,
    )  # fmt: skip

    assert result.returncode == 1
    assert "not both" in result.stderr


def test_http_as_of_is_business_time_and_declared_as_date_time(
    demo_db: Path, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from psledger.http import create_app
    from psledger.settings import Settings

    token = "psl_edges_auditor_token"
    config = tmp_path / "psledger.toml"
    digest = hashlib.sha256(token.encode()).hexdigest()
    config.write_text(f'[tokens.auditor]\nsha256 = "{digest}"\nroles = ["auditor"]\n')
    settings = Settings(store=f"sqlite:///{demo_db}", config_file=config)
    headers = {"Authorization": f"Bearer {token}"}

    with TestClient(create_app(settings)) as client:
        business = client.get(
            "/entities/TE-0001", params={"as_of": "2026-02-01T00:00:00Z"}, headers=headers
        )
        recorded = client.get(
            "/entities/TE-0001", params={"recorded_as_of": "2026-02-01T00:00:00Z"}, headers=headers
        )
        both = client.get(
            "/entities/TE-0001",
            params={"as_of": "2026-02-01T00:00:00Z", "recorded_as_of": "2026-02-01T00:00:00Z"},
            headers=headers,
        )
        schema = client.get("/openapi.json").json()

    assert business.status_code == 200, business.text
    assert business.json()[0]["state"] == "approved"
    assert recorded.status_code == 404  # the ledger recorded the demo later
    assert both.status_code == 422
    parameters = {
        p["name"]: p["schema"]
        for p in schema["paths"]["/entities/{entity_id}"]["get"]["parameters"]
    }
    for name in ("as_of", "recorded_as_of"):
        assert parameters[name] == {**parameters[name], "type": "string", "format": "date-time"}


# -- D: one bad item never stops a billing run ---------------------------------


def plant_hours(store: str, item_id: str, hours: Decimal) -> None:
    """An approved time entry whose hours got into the store before the
    boundary checks existed: straight through the domain, past the CDC
    mapping that refuses such values now."""
    from domain import commands as c
    from domain.handlers import handle
    from domain.provenance import Provenance
    from psledger.app import with_retries
    from psledger.bootstrap import bootstrap
    from psledger.settings import Settings

    fields = {
        "project_id": "PRJ-NW-1",
        "worker_id": "W-1002",
        "role": "consultant",
        "work_date": date(2026, 3, 3),
        "hours": hours,
        "billable": True,
    }
    provenance = Provenance("psa", f"legacy:{item_id}", commit_time=MARCH2)
    command = c.SyncWorkItem("time_entry", item_id, fields, "approved", "pm.grey", MARCH2,
                             provenance)  # fmt: skip
    wiring = bootstrap(Settings(store=store))
    try:
        with_retries(wiring.app, lambda uow: handle(command, uow))
    finally:
        wiring.close()


def test_an_item_whose_hours_break_the_arithmetic_does_not_stop_the_run(own_demo: str) -> None:
    plant_hours(own_demo, "TE-6666", Decimal("1E+30"))

    billed = psledger(own_demo, "bill", "--period", "2026-03")

    # the run goes on: March's retainer fee is billed
    assert "DE01-SOW-3007-2026-03" in billed.stdout
    assert "invalid_amount=1" in billed.stdout
    listed = as_json(own_demo, "items", "--exception", "invalid_amount", "--format", "json")
    assert [(i["id"], i["state"]) for i in listed] == [("TE-6666", "approved")]
    assert "hours" in listed[0]["exception"]["reason"]
    again = psledger(own_demo, "bill", "--period", "2026-03").stdout
    assert again.startswith("billing 2026-03: 0 events appended")
