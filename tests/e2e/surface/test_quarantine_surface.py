"""Quarantine as an operator uses it: status filters, short ids, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from surface_support import GARBAGE, one_error_line, run


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store with four quarantined records (a file of garbage lines)."""
    db = tmp_path / "ledger.db"
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(GARBAGE)
    run(db, "ingest", "debezium", str(garbage))
    return db


def listed(store: Path, *args: str) -> list[dict[str, str]]:
    result = run(store, "quarantine", "list", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, str]] = json.loads(result.output)
    return rows


def test_status_discarded_matches_whoever_discarded_and_keeps_who(store: Path) -> None:
    first, second, *_ = listed(store)
    assert run(store, "quarantine", "discard", first["id"], "--by", "ops.kim").exit_code == 0
    assert run(store, "quarantine", "discard", second["id"], "--by", "ops.lee").exit_code == 0
    discarded = listed(store, "--status", "discarded")
    assert {(r["id"], r["status"]) for r in discarded} == {
        (first["id"], "discarded by ops.kim"),
        (second["id"], "discarded by ops.lee"),
    }
    table = run(store, "quarantine", "list", "--status", "discarded").output
    assert "discarded by ops.kim" in table and "discarded by ops.lee" in table
    assert [r["id"] for r in listed(store, "--status", "discarded by ops.lee")] == [second["id"]]
    assert len(listed(store)) == 2


def test_the_table_shows_short_ids_and_a_unique_prefix_names_a_record(store: Path) -> None:
    rows = listed(store)
    table = run(store, "quarantine", "list").output
    for row in rows:
        assert row["short_id"] in table and row["id"] not in table
    row = rows[0]
    shown = run(store, "quarantine", "show", row["short_id"][:6])
    assert shown.exit_code == 0 and json.loads(shown.output)["id"] == row["id"]
    discarded = run(store, "quarantine", "discard", row["short_id"], "--by", "ops.kim")
    assert discarded.output.strip() == f"{row['short_id']}: discarded by ops.kim"


def test_an_ambiguous_prefix_is_refused_naming_the_candidates(store: Path) -> None:
    result = run(store, "quarantine", "show", "file:")
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert "'file:' is ambiguous" in line
    assert all(row["short_id"] in line for row in listed(store))


def test_an_unknown_id_is_one_line(store: Path) -> None:
    result = run(store, "quarantine", "replay", "ffffffffff")
    assert "no quarantined record 'ffffffffff'" in one_error_line(result.output)


def test_a_replay_that_still_fails_is_a_psledger_error_line(store: Path) -> None:
    row = listed(store)[0]
    result = run(store, "quarantine", "replay", row["id"])
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert f"quarantined record {row['short_id']} still fails" in line
    assert "Error:" not in result.output.replace("psledger: error:", "")


def test_a_failed_replay_names_the_records_own_line(store: Path) -> None:
    second = next(row for row in listed(store) if row["offset"] == 2)
    result = run(store, "quarantine", "replay", second["short_id"])
    assert "garbage.jsonl:2:" in one_error_line(result.output)
