"""The ingest report counts records, and every record ends somewhere:
records = applied + duplicate + superseded + skipped + parked + quarantined + staged."""

from __future__ import annotations

import re
from pathlib import Path

from surface_support import GARBAGE, ROOT, run

FIRM = ROOT / "tests" / "fixtures" / "debezium" / "psa_firm.jsonl"
WEBHOOKS = ROOT / "psledger" / "data" / "webhooks"
ENDS = ("applied", "duplicate", "superseded", "skipped", "parked", "quarantined", "staged")


def counts(line: str) -> dict[str, int]:
    """The record counts of a report line."""
    found = {"records": int(re.search(r"(\d+) records:", line).group(1))}  # type: ignore[union-attr]
    for end in ENDS:
        match = re.search(rf"(\d+) {end}\b", line)
        assert match, f"no {end} in {line!r}"
        found[end] = int(match.group(1))
    return found


def adds_up(line: str) -> dict[str, int]:
    found = counts(line)
    assert found["records"] == sum(found[end] for end in ENDS), line
    return found


def test_every_record_of_a_file_is_counted_once(tmp_path: Path) -> None:
    store = tmp_path / "ledger.db"
    sow = sorted(WEBHOOKS.glob("crm.sow.approved*.json"))
    assert run(store, "ingest", "webhook", *map(str, sow)).exit_code == 0
    first = run(store, "ingest", "debezium", str(FIRM))
    assert first.exit_code == 0, first.output
    found = adds_up(first.output.splitlines()[0])
    assert found["records"] == len(FIRM.read_bytes().splitlines())
    assert found["applied"] > 0 and found["skipped"] > 0  # transaction markers apply nothing

    again = run(store, "ingest", "debezium", str(FIRM))
    assert again.exit_code == 0, again.output
    repeated = adds_up(again.output.splitlines()[0])
    assert repeated["applied"] == 0
    assert repeated["duplicate"] + repeated["parked"] == found["applied"] + found["parked"]


def test_a_file_of_only_garbage_fails_naming_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(GARBAGE)
    result = run(tmp_path / "ledger.db", "ingest", "debezium", str(garbage))
    assert result.exit_code == 1
    found = adds_up(result.output.splitlines()[0])
    assert found["quarantined"] == 4
    assert f"psledger: error: nothing in {garbage} could be applied" in result.output


def test_a_file_with_some_garbage_still_applies_the_rest(tmp_path: Path) -> None:
    store = tmp_path / "ledger.db"
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(FIRM.read_bytes() + GARBAGE)
    result = run(store, "ingest", "debezium", str(mixed))
    assert result.exit_code == 0, result.output
    found = adds_up(result.output.splitlines()[0])
    assert found["quarantined"] == 4 and found["records"] == 28 + 4


def test_the_demo_accounts_for_every_record_and_a_second_run_says_it_did_nothing(
    tmp_path: Path,
) -> None:
    store = tmp_path / "ledger.db"
    first = run(store, "demo", "--out", str(tmp_path / "files"))
    assert first.exit_code == 0, first.output
    ingests = [line for line in first.output.splitlines() if "(Debezium file):" in line]
    assert len(ingests) == 2
    assert all(adds_up(line)["applied"] > 0 for line in ingests)
    assert "approved by fcontroller@firm.example" in first.output

    second = run(store, "demo", "--out", str(tmp_path / "files2"))
    assert second.exit_code == 0, second.output
    steps = [line for line in second.output.splitlines() if line.startswith("  - ")]
    ingested = [adds_up(line) for line in steps if "(Debezium file):" in line]
    assert all(found["applied"] == 0 for found in ingested)
    assert not any("approved by" in step or "issued" in step for step in steps), steps
    assert "billing 2026-02: already billed, nothing appended" in second.output
    assert "SOW-1042 amendment: already approved, nothing appended" in second.output
    assert "events appended: 0" in second.output


def test_transactions_split_over_batches_are_counted_where_they_end(tmp_path: Path) -> None:
    whole, split = tmp_path / "whole.db", tmp_path / "split.db"
    sow = sorted(WEBHOOKS.glob("crm.sow.approved*.json"))
    found = []
    for store, size in ((whole, "500"), (split, "1")):
        assert run(store, "ingest", "webhook", *map(str, sow)).exit_code == 0
        result = run(store, "ingest", "debezium", "--batch-size", size, str(FIRM))
        assert result.exit_code == 0, result.output
        found.append(adds_up(result.output.splitlines()[0]))
    assert found[1]["staged"] == 0  # every staged piece was settled by the end of the file
    # where a change waits differs with the batching (parked at once, or applied
    # after what it waits for within one batch); every record ends once either way
    first, second = ({**f, "applied": f["applied"] + f["parked"], "parked": 0} for f in found)
    assert first == second
