"""Avro in the Confluent wire format, with the in-memory (mock://) schema registry.

The real engine output of the firm (tests/fixtures/debezium/psa_firm.jsonl) is
re-encoded as the AvroConverter would write it, with the schemas kept in
avro/*.avsc registered under their topic subjects, and ingested end to end.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from avro_envelopes import avro_datum, encode, load_schemas
from click.testing import CliRunner
from confluent_kafka.schema_registry import Schema
from psa_firm import EXPECTED_JANUARY, FIRM_FILE, ListSource, ledger, sources_of
from test_cdc_transactions import firm_records

from cdc.avro import wire_header
from cdc.records import RawRecord
from cdc.sources import FileChangeSource
from psledger.bootstrap import Wiring
from psledger.cli import cli
from psledger.queries import find_invoices


def register(wiring: Wiring) -> dict[str, tuple[int, Any]]:
    registry: Any = wiring.inbound.decode.registry  # type: ignore[attr-defined]
    ids = {}
    for subject, schema in load_schemas().items():
        schema_id = registry.register_schema(subject, Schema(orjson.dumps(schema).decode(), "AVRO"))
        ids[subject] = (schema_id, schema)
    return ids


def to_avro(raw: RawRecord, ids: dict[str, tuple[int, Any]]) -> RawRecord:
    def part(name: str, data: bytes | None) -> bytes | None:
        if data is None:
            return None
        schema_id, schema = ids[f"{raw.topic}-{name}"]
        return encode(schema_id, schema, avro_datum(schema, orjson.loads(data)["payload"]))

    return RawRecord(
        raw.topic, raw.partition, raw.offset, part("key", raw.key), part("value", raw.value)
    )


def test_avro_envelopes_are_ingested_like_their_json_twins(tmp_path: Path) -> None:
    # given the firm's change events as Avro, their schemas in the registry
    wiring = ledger(tmp_path / "avro.db", schema_registry_url="mock://psledger-avro")
    ids = register(wiring)
    assert "psa.public.time_entries-value" in ids
    avro = [to_avro(r, ids) for r in firm_records()]
    assert all(r.value is None or r.value[:1] == b"\x00" for r in avro)

    # when they are ingested
    report = wiring.pipeline.run(ListSource(avro, batch_size=10), flush_incomplete=False)

    # then the ledger has the events the JSON records give, and January bills
    assert report.quarantined == 0 and not report.problems
    twin = ledger(tmp_path / "json.db")
    twin.pipeline.run(FileChangeSource([FIRM_FILE]))
    assert sorted(sources_of(wiring)) == sorted(sources_of(twin))
    assert len(sources_of(wiring)) > 15
    wiring.ledger.bill("2026-01")
    (invoice,) = find_invoices(wiring.ledger, contract="SOW-1042", period="2026-01")
    assert {line["item_id"]: Decimal(str(line["net"])) for line in invoice.lines} == {
        k: Decimal(v) for k, v in EXPECTED_JANUARY.items()
    }

    # and replaying the Avro records appends nothing
    again = wiring.pipeline.run(ListSource(avro), flush_incomplete=False)
    assert again.events == 0 and again.duplicates > 0


def test_bad_avro_is_quarantined_with_its_reason(tmp_path: Path) -> None:
    store = tmp_path / "ledger.db"
    wiring = ledger(store, schema_registry_url="mock://psledger-avro-bad")
    ids = register(wiring)
    entry = next(r for r in firm_records() if r.topic == "psa.public.time_entries")
    good = to_avro(entry, ids)
    assert good.key is not None and good.value is not None
    unknown_id = wire_header(9999) + good.value[5:]
    bad = [
        RawRecord(good.topic, 0, 100, good.key, b"\x01" + good.value[1:]),  # bad magic byte
        RawRecord(good.topic, 0, 101, good.key, unknown_id),  # unknown schema id
        RawRecord(good.topic, 0, 102, good.key, good.value[: len(good.value) // 2]),  # truncated
    ]

    report = wiring.pipeline.run(ListSource(bad), flush_incomplete=False)

    assert report.quarantined == 3
    wiring.close()
    listed = CliRunner().invoke(cli, ["--store", f"sqlite:///{store}", "quarantine", "list"])
    assert listed.exit_code == 0, listed.output
    for reason in ("bad_magic_byte", "unknown_schema_id", "truncated_avro"):
        assert reason in listed.output
