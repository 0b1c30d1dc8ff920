"""Every CDC bad-input kind lands in quarantine with its reason; the operator
lists, replays and discards through `psledger quarantine`.

Bad records are real Debezium output (tests/fixtures/debezium/psa_firm.jsonl)
with one thing broken each, written as a kcat file and ingested with
`psledger ingest debezium`.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration" / "cdc"))
from psa_firm import FIRM_FILE, ledger, write_kcat
from test_cdc_transactions import firm_records

from cdc.mapping_config import DEFAULT_MAPPING
from cdc.records import RawRecord
from psledger.cli import cli
from psledger.queries import history

Envelope = dict[str, Any]


def psledger(store: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--store", f"sqlite:///{store}", *args], env=env)


def pick(records: list[RawRecord], table: str, key: str, op: str) -> RawRecord:
    for r in records:
        if r.topic == f"psa.public.{table}" and r.value and r.key:
            doc = orjson.loads(r.value)["payload"]
            if doc["op"] == op and orjson.loads(r.key)["payload"]["id"] == key:
                return r
    raise AssertionError(f"no {op} of {table} {key} in the fixture")


def edit(raw: RawRecord, change: Callable[[Envelope], None], offset: int) -> RawRecord:
    """A copy of a real record, changed, at a new position with a new LSN."""
    envelope = copy.deepcopy(orjson.loads(raw.value or b""))
    envelope["payload"]["source"]["lsn"] += 1_000_000 + offset
    envelope["payload"]["transaction"] = None  # a lone change, not part of transaction 732
    change(envelope)
    return RawRecord(raw.topic, 0, 1000 + offset, raw.key, orjson.dumps(envelope), raw.headers)


def bare(raw: RawRecord, change: Callable[[Envelope], None], offset: int) -> RawRecord:
    """The record as schemas.enable=false writes it (no schema wrapper), changed."""
    value, key = orjson.loads(raw.value or b"")["payload"], orjson.loads(raw.key or b"")
    value["source"]["lsn"] += 2_000_000 + offset
    value["transaction"] = None
    change(value)
    return RawRecord(raw.topic, 0, 1000 + offset, orjson.dumps(key["payload"]), orjson.dumps(value))


def test_each_bad_input_kind_is_quarantined_listed_replayed_and_discarded(
    tmp_path: Path,
) -> None:
    records = firm_records()
    store = tmp_path / "ledger.db"
    ledger(store).close()
    assert psledger(store, "ingest", "debezium", str(FIRM_FILE)).exit_code == 0
    billed = psledger(store, "bill", "--period", "2026-01")
    assert billed.exit_code == 0, billed.output

    te1_update = pick(records, "time_entries", "TE-1", "u")
    te5_insert = pick(records, "time_entries", "TE-5", "c")

    def after(**values: Any) -> Callable[[Envelope], None]:
        return lambda e: e["payload"]["after"].update(values)

    def toast(e: Envelope) -> None:
        e["payload"]["before"] = None
        e["payload"]["after"]["notes"] = "__debezium_unavailable_value"

    def unknown_table(e: Envelope) -> None:
        e["payload"]["source"]["table"] = "timesheet_lines"
        e["payload"]["after"]["id"] = "TE-77"

    def missing(e: Envelope) -> None:
        del e["payload"]["after"]["work_date"]

    def nan_hours(v: Envelope) -> None:
        v["after"]["hours"] = "NaN"  # decimal.handling.mode=string

    bad = [
        RawRecord(te5_insert.topic, 0, 1001, te5_insert.key, b'{"schema": {}, "payload": {"op"'),
        RawRecord(te5_insert.topic, 0, 1002, None, edit(te5_insert, lambda e: None, 2).value),
        edit(te1_update, toast, 3),
        bare(te5_insert, nan_hours, 4),
        edit(te5_insert, unknown_table, 5),
        edit(te5_insert, missing, 6),
        edit(te1_update, after(status="draft", approved_by=None, approved_at=None), 7),
        edit(te5_insert, after(status="invoiced"), 8),
    ]
    bad_file = write_kcat(tmp_path / "bad.jsonl", bad)
    with bad_file.open("ab") as out:
        out.write(b'{"topic": "psa.public.time_entries", "payload": "caf\xe9"}\n')

    ingested = psledger(store, "ingest", "debezium", str(bad_file))
    assert ingested.exit_code == 1, ingested.output  # nothing of the file applied
    assert "9 quarantined" in ingested.output

    listed = psledger(store, "quarantine", "list", "--format", "json")
    assert listed.exit_code == 0, listed.output
    rows = orjson.loads(listed.output)
    by_reason = {row["reason"]: row for row in rows}
    assert sorted(by_reason) == sorted(
        [
            "malformed_json",
            "null_key",
            "toast_placeholder",
            "decimal_nan",
            "unknown_table",
            "missing_field",
            "illegal_transition",
            "ownership_violation",
            "non_utf8",
        ]
    )
    table = psledger(store, "quarantine", "list")
    assert all(reason in table.output for reason in by_reason)
    assert "invoiced" in by_reason["illegal_transition"]["detail"]
    shown = psledger(store, "quarantine", "show", by_reason["toast_placeholder"]["id"])
    assert "__debezium_unavailable_value" in shown.output

    # replay before the cause is fixed: still fails, stays open
    unknown = by_reason["unknown_table"]["id"]
    refused = psledger(store, "quarantine", "replay", unknown)
    assert refused.exit_code != 0 and "still fails" in refused.output

    # the mapping gains the table: replay applies it, once
    mapping = tmp_path / "mapping.toml"
    default = DEFAULT_MAPPING.read_text()
    start = default.index("[tables.time_entries]")
    end = default.index("[tables.expense_items]")
    mapping.write_text(
        default + "\n" + default[start:end].replace("tables.time_entries", "tables.timesheet_lines")
    )
    env = {"PSLEDGER_MAPPING_FILE": str(mapping)}
    replayed = psledger(store, "quarantine", "replay", unknown, env=env)
    assert replayed.exit_code == 0 and "applied" in replayed.output, replayed.output
    again = psledger(store, "quarantine", "replay", unknown, env=env)
    assert again.exit_code != 0 and "is replayed; cannot act on it" in again.output
    wiring = ledger(store)
    assert history(wiring.ledger, "time_entry:TE-77")[0]["event"] == "Captured"
    wiring.close()

    # discard keeps who did it, and the record leaves the open list
    nan = by_reason["decimal_nan"]["id"]
    discarded = psledger(store, "quarantine", "discard", nan, "--by", "ops.kim")
    assert discarded.exit_code == 0, discarded.output
    still_open = {
        row["id"]
        for row in orjson.loads(psledger(store, "quarantine", "list", "--format", "json").output)
    }
    assert nan not in still_open and unknown not in still_open and len(still_open) == 7
    gone = psledger(store, "quarantine", "list", "--status", "discarded by ops.kim")
    assert nan.rsplit(":", 1)[1][:10] in gone.output  # the table shows short ids
