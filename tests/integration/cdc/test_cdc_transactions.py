"""Transaction-complete apply, on real Debezium output (tests/fixtures/debezium/psa_firm.jsonl).

The last PSA transaction of the fixture inserts TE-5 and EX-2 and updates MS-1
in one PostgreSQL transaction (txId 732): three table topics and its BEGIN/END
on psa.transaction.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from psa_firm import FIRM_FILE, ListSource, Recording, ledger

from cdc.envelope import decode_json
from cdc.kcat import parse_kcat_line, to_kcat_line
from cdc.records import ChangeEvent, RawRecord, TransactionMarker
from psledger.bootstrap import Wiring
from psledger.queries import history


def firm_records() -> list[RawRecord]:
    return [
        parse_kcat_line(line, source="fixture", line_no=n)
        for n, line in enumerate(FIRM_FILE.read_bytes().splitlines(), start=1)
    ]


def split_last_transaction(
    records: list[RawRecord],
) -> tuple[list[RawRecord], list[RawRecord], RawRecord]:
    """(everything before it, its three changes, its END marker)."""
    decoded = [decode_json(r) for r in records]
    end = max(i for i, d in enumerate(decoded) if isinstance(d, TransactionMarker))
    marker = decoded[end]
    assert isinstance(marker, TransactionMarker) and marker.status == "END"
    tx = marker.tx_id.split(":")[0]
    changes = [
        r
        for r, d in zip(records, decoded, strict=True)
        if isinstance(d, ChangeEvent) and d.tx_id == tx
    ]
    assert len(changes) == 3
    begin = next(
        r
        for r, d in zip(records, decoded, strict=True)
        if isinstance(d, TransactionMarker) and d.status == "BEGIN" and d.tx_id.startswith(f"{tx}:")
    )
    rest = [r for r in records if r not in changes and r is not records[end] and r is not begin]
    return rest, changes, records[end]


def known(wiring: Wiring, kind: str) -> set[str]:
    return set(wiring.ledger.entity_ids(kind))


def test_a_transaction_is_applied_whole_once_its_end_and_counts_are_in(tmp_path: Path) -> None:
    wiring = ledger(tmp_path / "ledger.db")
    before, changes, end = split_last_transaction(firm_records())
    # the transaction topic is read first, then its changes one batch at a time
    ordered = [*before, end, *changes]
    seen_after: list[tuple[bool, bool]] = []
    staged_after: list[int] = []

    def look(_: list[RawRecord]) -> None:
        seen_after.append(
            ("TE-5" in known(wiring, "time_entry"), "EX-2" in known(wiring, "expense_item"))
        )
        staged_after.append(len(wiring.app.fetch("SELECT tx_id FROM psledger_staged")))

    source = ListSource(ordered, batch_size=1)
    report = wiring.pipeline.run(Recording(source, look), flush_incomplete=False)

    assert report.quarantined == 0 and report.parked == report.released
    assert wiring.parking.list() == []
    n = len(before)
    # END and the first two changes in: nothing of the transaction is applied
    assert seen_after[n : n + 3] == [(False, False)] * 3
    # the third change completes the counts: all of it at once
    assert seen_after[n + 3] == (True, True)
    # held records are staged durably in the store, so every batch is committed
    assert staged_after[n : n + 4] == [1, 2, 3, 0]
    committed = [list(batch) for batch in source.committed]
    assert committed[n : n + 4] == [[end], [changes[0]], [changes[1]], [changes[2]]]
    # and one source transaction id on all its events
    tx_ids = {
        entry["provenance"]["tx_id"]
        for entity in ("time_entry:TE-5", "expense_item:EX-2")
        for entry in history(wiring.ledger, entity)
    }
    assert len(tx_ids) == 1


def test_a_transaction_with_one_bad_change_is_quarantined_whole(tmp_path: Path) -> None:
    wiring = ledger(tmp_path / "ledger.db")
    before, changes, end = split_last_transaction(firm_records())
    # the expense of the transaction claims a status only the ledger may set
    bad = changes[1]
    assert bad.value is not None
    envelope = orjson.loads(bad.value)
    assert envelope["payload"]["after"]["id"] == "EX-2"
    envelope["payload"]["after"]["status"] = "invoiced"
    tampered = RawRecord(
        bad.topic, bad.partition, bad.offset, bad.key, orjson.dumps(envelope), bad.headers
    )
    stream = [*before, changes[0], tampered, changes[2], end]

    report = wiring.pipeline.run(ListSource(stream, batch_size=4), flush_incomplete=False)

    assert report.quarantined == 1
    assert "TE-5" not in known(wiring, "time_entry")  # a good change of it: not applied
    assert "EX-2" not in known(wiring, "expense_item")
    (row,) = wiring.quarantine.list()
    assert row.reason == "ownership_violation" and "invoiced" in row.detail
    stored = [parse_kcat_line(line, source="q", line_no=1) for line in row.raw.splitlines()]
    assert [r.value for r in stored] == [changes[0].value, tampered.value, changes[2].value]
    assert to_kcat_line(stored[1]) == to_kcat_line(tampered)
