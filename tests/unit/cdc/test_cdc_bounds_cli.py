"""End to end through the CLI on a SQLite store: values that would break billing
arithmetic are quarantined at the door with their reason, and the next
`psledger bill` succeeds.

The bad records are real Debezium output (tests/fixtures/debezium/psa_firm.jsonl,
the insert of time entry TE-5) with one value broken each.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner, Result

from cdc.kcat import parse_kcat_line, to_kcat_line
from cdc.records import RawRecord
from cdc.values import decimal_to_bytes
from psledger.cli import cli

ROOT = Path(__file__).resolve().parents[3]
FIRM_FILE = ROOT / "tests" / "fixtures" / "debezium" / "psa_firm.jsonl"
WEBHOOKS = ROOT / "psledger" / "data" / "webhooks"

Envelope = dict[str, Any]


def psledger(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", f"sqlite:///{store}", *args])


def te5_insert() -> RawRecord:
    for n, line in enumerate(FIRM_FILE.read_bytes().splitlines(), start=1):
        raw = parse_kcat_line(line, source="fixture", line_no=n)
        if raw.topic == "psa.public.time_entries" and raw.value and raw.key:
            payload = orjson.loads(raw.value)["payload"]
            if payload["op"] == "c" and payload["after"]["id"] == "TE-5":
                return raw
    raise AssertionError("no insert of TE-5 in the fixture")


def variant(
    raw: RawRecord, item_id: str, n: int, change: Callable[[Envelope], None], *, bare: bool = False
) -> RawRecord:
    """TE-5's insert as a lone change of a new item (new key, LSN and offset),
    changed; ``bare`` drops the schema (schemas.enable=false)."""
    doc = copy.deepcopy(orjson.loads(raw.value or b""))
    key = orjson.loads(raw.key or b"")
    key["payload"]["id"] = item_id
    envelope = doc["payload"]
    envelope["after"]["id"] = item_id
    envelope["source"]["lsn"] += 1_000_000 + n
    envelope["transaction"] = None
    change(doc)
    value, key_doc = (envelope, key["payload"]) if bare else (doc, key)
    return RawRecord(raw.topic, 0, 5000 + n, orjson.dumps(key_doc), orjson.dumps(value))


def set_after(**values: Any) -> Callable[[Envelope], None]:
    return lambda doc: doc["payload"]["after"].update(values)


def hours_bytes(value: str) -> str:
    """Connect Decimal bytes (base64) at the column's scale, 2."""
    return base64.b64encode(decimal_to_bytes(Decimal(value), 2)).decode()


def scale_5(doc: Envelope) -> None:
    """The schema says scale 5 over hours bytes written at scale 2 (8.00)."""
    doc["payload"]["after"]["hours"] = hours_bytes("8.00")
    for part in doc["schema"]["fields"]:
        for column in part.get("fields") or ():
            if column.get("field") == "hours":
                column["parameters"]["scale"] = "5"


def write(path: Path, records: list[RawRecord]) -> Path:
    path.write_bytes(b"".join(to_kcat_line(r) for r in records))
    return path


def quarantined(store: Path) -> list[dict[str, Any]]:
    listed = psledger(store, "quarantine", "list", "--format", "json")
    assert listed.exit_code == 0, listed.output
    rows: list[dict[str, Any]] = orjson.loads(listed.output)
    return rows


def item_id(row: dict[str, Any]) -> str:
    """The id in a quarantined record's Kafka key (with or without its schema)."""
    key = orjson.loads(row["record_key"])
    return str(key.get("payload", key)["id"])


def test_out_of_bounds_debezium_values_are_quarantined_and_billing_still_runs(
    tmp_path: Path,
) -> None:
    store = tmp_path / "ledger.db"
    sow = psledger(store, "ingest", "webhook", str(WEBHOOKS / "crm.sow.approved.json"))
    assert sow.exit_code == 0, sow.output
    firm = psledger(store, "ingest", "debezium", str(FIRM_FILE))
    assert firm.exit_code == 0, firm.output

    te5 = te5_insert()
    bad = write(
        tmp_path / "bad.jsonl",
        [
            variant(te5, "TE-90", 1, set_after(hours="1E+30"), bare=True),
            variant(te5, "TE-91", 2, scale_5),
            variant(te5, "TE-92", 3, set_after(hours="1.505"), bare=True),
            variant(te5, "TE-93", 4, set_after(notes="call\x00me")),
            variant(te5, "TE-94", 5, set_after(hours=hours_bytes("-8.00"))),
        ],
    )
    ingested = psledger(store, "ingest", "debezium", str(bad))
    assert ingested.exit_code == 1, ingested.output  # nothing of the file applied
    assert "5 quarantined" in ingested.output

    by_item = {item_id(row): row for row in quarantined(store)}
    reasons = {item: row["reason"] for item, row in by_item.items()}
    assert reasons == {
        "TE-90": "value_out_of_range",
        "TE-91": "bad_scale",
        "TE-92": "bad_scale",
        "TE-93": "nul_byte",
        "TE-94": "value_out_of_range",
    }
    assert "'hours'" in by_item["TE-90"]["detail"] and "1E+30" in by_item["TE-90"]["detail"]
    assert "scale 5" in by_item["TE-91"]["detail"]
    assert "1.505" in by_item["TE-92"]["detail"]
    assert "'notes'" in by_item["TE-93"]["detail"]

    billed = psledger(store, "bill", "--period", "2026-01")
    assert billed.exit_code == 0, billed.output
    invoices = orjson.loads(psledger(store, "invoices", "--format", "json").output)
    assert invoices and all(Decimal(inv["net"]) < 10**6 for inv in invoices)
    for item in ("TE-90", "TE-91", "TE-92", "TE-93", "TE-94"):
        assert psledger(store, "history", f"time_entry:{item}").exit_code != 0


def test_an_out_of_range_webhook_is_refused_quarantined_and_billing_still_runs(
    tmp_path: Path,
) -> None:
    store = tmp_path / "ledger.db"
    assert psledger(store, "ingest", "debezium", str(FIRM_FILE)).exit_code == 0
    doc = orjson.loads((WEBHOOKS / "crm.sow.approved.json").read_bytes())
    doc["data"]["expense_markup_pct"] = "1E+50"
    bad = tmp_path / "sow-markup.json"
    bad.write_bytes(orjson.dumps(doc))

    refused = psledger(store, "ingest", "webhook", str(bad))
    assert refused.exit_code not in (0, 70), refused.output  # an input error, not a crash
    assert "data.expense_markup_pct" in refused.output and "1E+50" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    [row] = [r for r in quarantined(store) if r["source"].startswith("webhook")]
    assert row["reason"] == "value_out_of_range" and "1E+50" in row["detail"]
    assert psledger(store, "history", "contract:SOW-1042").exit_code != 0

    billed = psledger(store, "bill", "--period", "2026-01")
    assert billed.exit_code == 0, billed.output
