"""The declarative PSA mapping: validated at start-up, and what it makes of change events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cdc.mapping import SourceMapping
from cdc.mapping_config import DEFAULT_MAPPING, MappingError
from cdc.records import UNAVAILABLE, ChangeEvent, RawRecord
from domain import commands as c
from domain.errors import InputError, OwnershipViolation

MAPPING = SourceMapping.load()
COMMIT = datetime(2026, 1, 8, 17, tzinfo=UTC)


def change(
    table: str, op: str, after: dict[str, Any] | None, before: dict[str, Any] | None = None
) -> ChangeEvent:
    row = after or before or {}
    return ChangeEvent(
        topic=f"psa.public.{table}",
        schema="public",
        table=table,
        op=op,  # type: ignore[arg-type]
        key={"id": row.get("id")},
        before=before,
        after=after,
        lsn=26000108,
        tx_id="701",
        commit_time=COMMIT,
        snapshot=None,
        connector="postgresql",
        database="psa",
        transaction=None,
        raw=RawRecord(f"psa.public.{table}", 0, 41, b"{}", b"{}"),
    )


def time_row(**changes: Any) -> dict[str, Any]:
    return {
        "id": "TE-1",
        "project_id": "P-1",
        "worker_id": "W-1",
        "role": "consultant",
        "work_date": date(2026, 1, 5),
        "hours": Decimal("7.50"),
        "billable": True,
        "notes": None,
        "status": "approved",
        "approved_by": "pm.grey",
        "approved_at": COMMIT,
        "updated_at": COMMIT,
        **changes,
    }


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(text)
    return path


def test_the_default_mapping_covers_every_reference_table() -> None:
    assert set(MAPPING.config.tables) == {
        "rate_cards",
        "rate_card_lines",
        "projects",
        "assignments",
        "time_entries",
        "expense_items",
        "milestones",
    }
    assert MAPPING.column_types()["time_entries"]["hours"].scale == 2


def test_an_approved_time_entry_row_becomes_a_typed_sync_with_its_provenance() -> None:
    [command] = MAPPING.commands(change("time_entries", "c", time_row()))
    assert isinstance(command, c.SyncWorkItem)
    assert (command.kind, command.item_id, command.status) == ("time_entry", "TE-1", "approved")
    assert command.fields["hours"] == Decimal("7.50")
    assert (command.approved_by, command.approved_at) == ("pm.grey", COMMIT)
    prov = command.provenance
    assert (prov.source_system, prov.table, prov.lsn, prov.tx_id) == (
        "psa",
        "public.time_entries",
        26000108,
        "701",
    )
    assert prov.key == '{"id":"TE-1"}' and prov.commit_time == COMMIT


def test_a_delete_withdraws_the_item_and_a_submitted_row_is_planned() -> None:
    [withdraw] = MAPPING.commands(change("time_entries", "d", None, before=time_row()))
    assert isinstance(withdraw, c.WithdrawWorkItem) and withdraw.item_id == "TE-1"
    [planned] = MAPPING.commands(change("time_entries", "u", time_row(status="submitted")))
    assert isinstance(planned, c.SyncWorkItem) and planned.status == "planned"
    assert planned.approved_by is None


def test_a_toast_placeholder_takes_the_before_image_or_is_refused() -> None:
    [merged] = MAPPING.commands(
        change("time_entries", "u", time_row(notes=UNAVAILABLE), before=time_row(notes="kept"))
    )
    assert isinstance(merged, c.SyncWorkItem) and merged.fields["notes"] == "kept"
    with pytest.raises(MappingError) as refused:
        MAPPING.commands(change("time_entries", "u", time_row(notes=UNAVAILABLE)))
    assert refused.value.reason == "toast_placeholder"


def test_the_psa_cannot_mark_an_item_invoiced() -> None:
    with pytest.raises(OwnershipViolation, match="cannot mark a time entry invoiced"):
        MAPPING.commands(change("time_entries", "u", time_row(status="invoiced")))


@pytest.mark.parametrize(
    "event, reason",
    [
        (change("timesheets", "c", {"id": "X"}), "unknown_table"),
        (change("time_entries", "t", None), "truncate"),
        (
            change("time_entries", "c", {k: v for k, v in time_row().items() if k != "hours"}),
            "missing_field",
        ),
        (change("time_entries", "c", time_row(hours=Decimal("-1"))), "bad_value"),
        (change("time_entries", "c", time_row(status="on_vacation")), "unmapped_status"),
    ],
)
def test_what_cannot_be_mapped_is_refused_with_its_reason(event: ChangeEvent, reason: str) -> None:
    with pytest.raises(MappingError) as refused:
        MAPPING.commands(event)
    assert refused.value.reason == reason
    assert "psa.public." in str(refused.value)  # names the record


def test_a_rate_line_row_becomes_a_rate_line_with_exact_money() -> None:
    row = {
        "id": "RCL-1",
        "rate_card_id": "RC-1",
        "role": "consultant",
        "hourly_rate": Decimal("110.00"),
        "effective_from": date(2026, 1, 1),
        "effective_to": None,
        "updated_at": COMMIT,
    }
    [command] = MAPPING.commands(change("rate_card_lines", "r", row))
    assert isinstance(command, c.SyncRateLine)
    assert (command.line.hourly_rate, command.line.effective_to) == (Decimal("110.00"), None)


@pytest.mark.parametrize(
    "text, problem",
    [
        (
            '[tables.t]\nentity = "time_entry"\nfields = { id = "id" }\n',
            "entity time_entry needs fields project_id",
        ),
        ('[tables.t]\nentity = "invoice"\nfields = { id = "id" }\n', "tables.t.entity"),
        (
            '[tables.t]\nentity = "rate_card"\nfields = { id = "id", name = "n", currency = "c" }\n'
            'types = { n = "money" }\n',
            "unknown type 'money'",
        ),
        (
            '[tables.t]\nentity = "milestone"\nfields = { id = "id", project_id = "p", name = "n",'
            ' amount = "a", currency = "c", due_date = "d", status = "s" }\n'
            'status = { done = "invoiced" }\n',
            "status intents must be",
        ),
        ("[tables.t\n", "is not valid TOML"),
    ],
)
def test_a_bad_mapping_file_is_refused_at_start_up_naming_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(InputError) as refused:
        SourceMapping.load(write(tmp_path, text))
    assert problem in str(refused.value)
    assert str(tmp_path / "mapping.toml") in str(refused.value)


def test_the_shipped_file_is_the_default() -> None:
    assert SourceMapping.load(DEFAULT_MAPPING).config == MAPPING.config
