"""Reconciliation against the PSA: a real PSA database on the throwaway
PostgreSQL cluster, captured by the embedded Debezium engine, ingested into a
PostgreSQL ledger (a second database) through the CLI.

Given a ledger fed every change the PSA made, `reconcile` reports no drift,
against the live database and against the captured file alike; after a row
is changed directly in the PSA with no CDC, it reports exactly that entity
and field and exits non-zero; a row the ledger parked names its reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from integration.cdc.psa_firm import (
    CHANGES,
    SOW_APPROVED,
    Recording,
    create_psa,
    drop_slot,
    engine,
    execute,
    new_slot,
    write_kcat,
)
from psycopg.rows import dict_row
from support.postgres import PostgresCluster

from cdc.envelope import decode_json
from cdc.records import ChangeEvent, RawRecord
from psledger.cli import cli
from psledger.demo.envelopes import DebeziumWriter

pytestmark = [pytest.mark.postgres, pytest.mark.engine]


def psledger(store: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", store, *args])


def reconcile(store: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = psledger(store, "reconcile", "--format", "json", *args)
    assert result.exit_code in (0, 3), result.output
    return result.exit_code, json.loads(result.stdout)


def snapshot_done(raws: list[RawRecord]) -> bool:
    return any(isinstance(d, ChangeEvent) and d.snapshot == "last" for d in map(decode_json, raws))


@pytest.fixture
def psa_url(pg_cluster: PostgresCluster, pg_url: str) -> Iterator[str]:
    """The PSA: a second database on the cluster (pg_url is the ledger's)."""
    name = f"psa_{uuid.uuid4().hex}"
    yield pg_cluster.create_database(name)
    if pg_cluster.is_external:
        pg_cluster.drop_database(name)


@pytest.fixture
def captured(psa_url: str, pg_url: str, tmp_path: Path) -> Path:
    """The firm's PSA captured by the engine (snapshot, then streamed
    changes), the slot dropped afterwards, and the file ingested into the
    ledger that knows contract SOW-1042."""
    create_psa(psa_url)
    slot, changed = new_slot(), False

    def change_after_snapshot(raws: list[RawRecord]) -> None:
        nonlocal changed
        if not changed and snapshot_done(raws):
            changed = True
            execute(psa_url, *CHANGES)

    source = Recording(engine(psa_url, tmp_path / "offsets.dat", slot), change_after_snapshot)
    try:
        for batch in source.batches():
            source.commit(batch)
    finally:
        source.close()
        drop_slot(psa_url, slot)  # from here on, changes in the PSA reach no one
    assert changed
    path = write_kcat(tmp_path / "psa.jsonl", source.records)
    assert psledger(pg_url, "ingest", "webhook", str(SOW_APPROVED)).exit_code == 0
    ingested = psledger(pg_url, "ingest", "debezium", str(path))
    assert ingested.exit_code == 0, ingested.output
    return path


def test_a_ledger_fed_every_change_has_no_drift_and_a_change_without_cdc_is_named(
    psa_url: str, pg_url: str, captured: Path
) -> None:
    # given a ledger that ingested every change the PSA made
    # when it is reconciled against the live PSA, then nothing differs
    code, report = reconcile(pg_url, "--source", psa_url)
    assert (code, report["drift"], report["differences"]) == (0, 0, [])
    assert report["rows"] == report["matched"] > 10
    assert report["snapshot_lsn"] != "unknown" and report["ledger_lsn"] != "unknown"
    # and against the captured Debezium file, then nothing differs either
    code, from_file = reconcile(pg_url, "--snapshot", str(captured))
    assert (code, from_file["drift"]) == (0, 0)
    assert from_file["rows"] == report["rows"]

    # when a row is changed directly in the PSA, with no CDC
    execute(psa_url, "update time_entries set hours = 9.25 where id = 'TE-3'")

    # then exactly that entity and field drift, and reconcile exits non-zero
    code, report = reconcile(pg_url, "--source", psa_url)
    assert code == 3
    assert [
        (d["kind"], d["entity"], d["id"], d["field"], d["source"], d["ledger"])
        for d in report["differences"]
    ] == [("drift", "time_entry", "TE-3", "hours", "9.25", "6.00")]
    # and the table says the same to a person
    table = psledger(pg_url, "reconcile", "--source", psa_url)
    assert table.exit_code == 3
    assert "1 differences" in table.output
    assert any(
        line.split()[:6] == ["drift", "time_entry", "TE-3", "hours", "9.25", "6.00"]
        for line in table.output.splitlines()
    )
    # and --tables narrows the comparison to the tables named
    code, narrowed = reconcile(pg_url, "--source", psa_url, "--tables", "projects,milestones")
    assert (code, narrowed["drift"], narrowed["tables"]) == (0, 0, ["projects", "milestones"])


def test_rows_missing_on_either_side_and_what_the_ledger_parked(
    psa_url: str, pg_url: str, captured: Path, tmp_path: Path
) -> None:
    # given rows deleted and added directly in the PSA, with no CDC
    execute(
        psa_url,
        "delete from expense_items where id = 'EX-1'",
        "insert into projects (id, contract_id, name, legal_entity, project_manager)"
        " values ('PRJ-NEW', 'SOW-1042', 'Unseen', 'GB01', 'pm.lee')",
    )
    # and a project under a contract the ledger does not know, which it parked
    execute(
        psa_url,
        "insert into projects (id, contract_id, name, legal_entity, project_manager)"
        " values ('PRJ-ORPHAN', 'SOW-404', 'Waiting', 'GB01', 'pm.lee')",
    )
    # and a rate line the ledger refuses (it ends before it starts), which it quarantined
    execute(
        psa_url,
        "insert into rate_card_lines (id, rate_card_id, role, hourly_rate, effective_from,"
        " effective_to) values ('RCL-BAD', 'RC-GB-2026', 'partner', 300.00, '2026-02-01',"
        " '2026-01-01')",
    )
    orphan = row(psa_url, "projects", "PRJ-ORPHAN")
    bad = row(psa_url, "rate_card_lines", "RCL-BAD")
    path = tmp_path / "captured-later.jsonl"
    with path.open("wb") as out:
        writer = DebeziumWriter(out)
        writer.transaction([("projects", "c", None, orphan)], orphan["updated_at"])
        writer.transaction([("rate_card_lines", "c", None, bad)], bad["updated_at"])
    ingested = psledger(pg_url, "ingest", "debezium", str(path))
    assert ingested.exit_code == 0, ingested.output

    # when reconciled
    code, report = reconcile(pg_url, "--source", psa_url)

    # then each is reported, the parked one with the reason it waits
    assert code == 3
    found = {(d["kind"], d["entity"], d["id"]): d for d in report["differences"]}
    assert set(found) == {
        ("missing_in_source", "expense_item", "EX-1"),
        ("missing_in_ledger", "project", "PRJ-NEW"),
        ("missing_in_ledger", "project", "PRJ-ORPHAN"),
        ("missing_in_ledger", "rate_line", "RCL-BAD"),
    }
    assert found[("missing_in_ledger", "project", "PRJ-NEW")]["likely_reason"] == []
    (reason,) = found[("missing_in_ledger", "project", "PRJ-ORPHAN")]["likely_reason"]
    assert reason.startswith("parked ") and "contract SOW-404" in reason
    (reason,) = found[("missing_in_ledger", "rate_line", "RCL-BAD")]["likely_reason"]
    assert reason.startswith("quarantined ") and "effective_to before effective_from" in reason


def row(url: str, table: str, row_id: str) -> dict[str, Any]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        found = conn.execute(f"select * from {table} where id = %s", [row_id]).fetchone()
    assert found is not None
    return dict(found)
