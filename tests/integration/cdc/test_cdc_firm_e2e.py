"""A firm's PSA captured by the real embedded Debezium engine, into the ledger.

PostgreSQL (wal_level=logical) with the reference schema -> DebeziumEngineSource
-> CdcIngestor -> SQLite ledger that knows CRM contract SOW-1042; then the same
engine output as a kcat file through `psledger ingest debezium`, twice; then a
Debezium re-snapshot (new slot, new offsets) of the same database.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from psa_firm import (
    CHANGES,
    EXPECTED_JANUARY,
    FIRM_FILE,
    Recording,
    create_psa,
    drop_slot,
    engine,
    event_count,
    execute,
    ledger,
    new_slot,
    sources_of,
    write_kcat,
)

from cdc.envelope import decode_json
from cdc.records import ChangeEvent, RawRecord
from psledger.cli import cli
from psledger.queries import find_invoices, history

pytestmark = [pytest.mark.postgres, pytest.mark.engine]


def snapshot_done(raws: list[RawRecord]) -> bool:
    for raw in raws:
        decoded = decode_json(raw)
        if isinstance(decoded, ChangeEvent) and decoded.snapshot == "last":
            return True
    return False


def ingest_cli(store: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--store", f"sqlite:///{store}", "ingest", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_firm_captured_by_debezium_becomes_ledger_events_and_an_invoice(
    pg_url: str, tmp_path: Path
) -> None:
    # given a PSA with a small firm, and a ledger that received the CRM's SOW-1042
    create_psa(pg_url)
    wiring = ledger(tmp_path / "ledger.db")
    slot = new_slot()
    changed = False

    def change_after_snapshot(raws: list[RawRecord]) -> None:
        nonlocal changed
        if not changed and snapshot_done(raws):
            changed = True
            execute(pg_url, *CHANGES)

    # when the embedded engine captures the snapshot, then updates and a delete
    source = Recording(engine(pg_url, tmp_path / "offsets.dat", slot), change_after_snapshot)
    try:
        report = wiring.pipeline.run(source, flush_incomplete=False)
    finally:
        source.close()
    captured = source.records

    # then every change applied, nothing parked or quarantined
    assert changed
    assert report.quarantined == 0 and not report.problems
    assert wiring.parking.list() == [] and wiring.quarantine.list() == []
    ops = [
        (d.op, d.table, d.key["id"] if d.key else None)
        for d in map(decode_json, captured)
        if isinstance(d, ChangeEvent) and d.op != "r"
    ]
    assert ops == [
        ("u", "time_entries", "TE-2"),
        ("u", "time_entries", "TE-1"),
        ("d", "time_entries", "TE-4"),
        ("c", "time_entries", "TE-5"),
        ("c", "expense_items", "EX-2"),
        ("u", "milestones", "MS-1"),
    ]

    # and the history carries the source row's provenance
    te2 = history(wiring.ledger, "time_entry:TE-2")
    assert [e["event"] for e in te2][:2] == ["Captured", "Approved"]
    approved = te2[1]["provenance"]
    assert approved["source_system"] == "psa" and approved["table"] == "public.time_entries"
    assert approved["key"] == '{"id":"TE-2"}' and approved["actor"] == "pm.lee"
    assert isinstance(approved["lsn"], int) and approved["lsn"] > 0
    assert approved["tx_id"] and approved["commit_time"]
    captured_te2 = te2[0]["provenance"]
    assert captured_te2["lsn"] != approved["lsn"]  # the snapshot read, then the update

    te1 = history(wiring.ledger, "time_entry:TE-1")
    revised = next(e for e in te1 if e["event"] == "Revised")
    assert Decimal(str(revised["data"]["changes"]["hours"])) == Decimal("8.00")
    assert [e["event"] for e in history(wiring.ledger, "time_entry:TE-4")][-1] == "Withdrawn"

    # the multi-table transaction is one source transaction in the ledger
    tx_ids = {
        history(wiring.ledger, entity)[0]["provenance"]["tx_id"]
        for entity in ("time_entry:TE-5", "expense_item:EX-2")
    }
    assert len(tx_ids) == 1

    # and billing January invoices the approved time and expenses
    outcome = wiring.ledger.bill("2026-01")
    assert len(outcome.invoices) == 1
    (invoice,) = find_invoices(wiring.ledger, contract="SOW-1042", period="2026-01")
    billed = {line["item_id"]: Decimal(str(line["net"])) for line in invoice.lines}
    assert billed == {k: Decimal(v) for k, v in EXPECTED_JANUARY.items()}
    assert invoice.header["currency"] == "GBP"
    wiring.close()

    if os.environ.get("PSLEDGER_WRITE_DEBEZIUM_SAMPLE"):
        write_kcat(FIRM_FILE, captured)

    # when the same engine output is ingested as a kcat file, twice
    kcat = write_kcat(tmp_path / "psa.jsonl", captured)
    file_store = tmp_path / "from-file.db"
    ledger(file_store).close()
    first = ingest_cli(file_store, "debezium", str(kcat), "--batch-size", "7")
    second = ingest_cli(file_store, "debezium", str(kcat))

    # then the file gives the same events as the engine did, and the repeat appends nothing
    assert " 0 quarantined" in first and " 0 events appended" not in first
    assert " 0 events appended" in second and " 0 applied" in second
    engine_store, from_file = ledger(tmp_path / "ledger.db"), ledger(file_store)
    assert sorted(sources_of(from_file)) == sorted(sources_of(engine_store))
    from_file.close()

    # when the PSA changes one row and Debezium re-snapshots everything
    execute(
        pg_url, "update time_entries set notes = 'data mapping (source systems)' where id = 'TE-3'"
    )
    before = event_count(engine_store)
    slot2 = new_slot()
    resnapshot = Recording(engine(pg_url, tmp_path / "offsets-2.dat", slot2))
    try:
        again = engine_store.pipeline.run(resnapshot, flush_incomplete=False)
    finally:
        resnapshot.close()

    # then only the row that differs becomes an ordinary change
    reads = [d for d in map(decode_json, resnapshot.records) if isinstance(d, ChangeEvent)]
    assert reads and all(d.op == "r" for d in reads)
    assert again.quarantined == 0
    assert event_count(engine_store) == before + 1
    last = history(engine_store.ledger, "time_entry:TE-3")[-1]
    assert last["event"] == "Revised"
    assert last["data"]["changes"] == {"notes": "data mapping (source systems)"}
    engine_store.close()
    drop_slot(pg_url, slot)
    drop_slot(pg_url, slot2)
