"""The mapping declares each column's NUMERIC(p,s) and CHECK bounds; start-up
refuses a mapping that leaves a money or hours field undeclared, and the
commands never carry a value outside the declared type."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cdc.mapping import SourceMapping
from cdc.mapping_config import DEFAULT_MAPPING, MappingError
from cdc.records import ChangeEvent, RawRecord
from cdc.values import Limits
from domain import commands as c
from domain.errors import InputError

MAPPING = SourceMapping.load()
COMMIT = datetime(2026, 1, 8, 17, tzinfo=UTC)
TIME_ENTRY = (
    '[tables.t]\nentity = "time_entry"\n'
    'fields = { id = "id", project_id = "p", worker_id = "w", role = "r", work_date = "d",'
    ' hours = "h", billable = "b", status = "s" }\n'
)


def load(tmp_path: Path, text: str) -> SourceMapping:
    path = tmp_path / "mapping.toml"
    path.write_text(text)
    return SourceMapping.load(path)


def test_the_shipped_mapping_declares_the_reference_schemas_numeric_types_and_checks() -> None:
    types = MAPPING.column_types()
    assert types["time_entries"]["hours"].limits == Limits(6, 2, gt=Decimal(0), le=Decimal(24))
    assert types["expense_items"]["amount"].limits == Limits(12, 2, gt=Decimal(0))
    assert types["milestones"]["amount"].limits == Limits(14, 2, gt=Decimal(0))
    assert types["rate_card_lines"]["hourly_rate"].limits == Limits(12, 2, ge=Decimal(0))
    assert types["assignments"]["planned_hours"].limits == Limits(8, 2, ge=Decimal(0))


def test_the_older_decimal_scale_form_reads_as_twelve_integer_digits(tmp_path: Path) -> None:
    mapping = load(tmp_path, TIME_ENTRY + 'types = { h = "decimal:2" }\n')
    assert mapping.column_types()["t"]["h"].limits == Limits(14, 2)


@pytest.mark.parametrize(
    "extra, problem",
    [
        ("", "field hours (column h) needs a declared type decimal(p,s)"),
        ('types = { h = "text" }\n', "field hours (column h) needs a declared type decimal(p,s)"),
        ('types = { h = "decimal(2,4)" }\n', "needs 0 < precision"),
        ('types = { h = "decimal(6, 2" }\n', "unknown type 'decimal(6, 2'"),
        (
            'types = { h = "decimal(6,2)" }\nbounds = { s = { gt = "0" } }\n',
            "bounds for column s need a declared decimal or int type",
        ),
        (
            'types = { h = "decimal(6,2)" }\nbounds = { h = { gt = "24", le = "0" } }\n',
            "lower bound 24 is above upper bound 0",
        ),
        ('types = { h = "decimal(6,2)" }\nbounds = { h = { gt = "NaN" } }\n', "bounds.h"),
        ('types = { h = "decimal(6,2)" }\nbounds = { h = { above = 1 } }\n', "bounds.h.above"),
    ],
)
def test_a_mapping_without_sound_declared_types_is_refused_at_start_up(
    tmp_path: Path, extra: str, problem: str
) -> None:
    with pytest.raises(InputError) as refused:
        load(tmp_path, TIME_ENTRY + extra)
    assert problem in str(refused.value)


def test_decimal_precision_and_bounds_may_be_spaced_and_numbers(tmp_path: Path) -> None:
    mapping = load(
        tmp_path,
        TIME_ENTRY + 'types = { h = "decimal( 5 , 1 )" }\nbounds = { h = { ge = 0, lt = 100 } }\n',
    )
    assert mapping.column_types()["t"]["h"].limits == Limits(5, 1, ge=Decimal(0), lt=Decimal(100))


def change(table: str, after: dict[str, Any]) -> ChangeEvent:
    return ChangeEvent(
        topic=f"psa.public.{table}",
        schema="public",
        table=table,
        op="c",
        key={"id": after["id"]},
        before=None,
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


def time_row(hours: Any) -> dict[str, Any]:
    return {
        "id": "TE-1",
        "project_id": "P-1",
        "worker_id": "W-1",
        "role": "consultant",
        "work_date": date(2026, 1, 5),
        "hours": hours,
        "billable": True,
        "status": "approved",
        "approved_by": "pm.grey",
        "approved_at": COMMIT,
    }


@pytest.mark.parametrize(
    "hours, reason",
    [
        (Decimal("1E+30"), "value_out_of_range"),
        ("1E+30", "value_out_of_range"),
        (Decimal("24.5"), "value_out_of_range"),
        (Decimal("1.505"), "bad_scale"),
        ("1.505", "bad_scale"),
    ],
)
def test_the_mapping_itself_refuses_work_item_values_outside_the_declared_type(
    hours: Any, reason: str
) -> None:
    with pytest.raises(MappingError) as refused:
        MAPPING.commands(change("time_entries", time_row(hours)))
    assert refused.value.reason == reason
    assert "psa.public.time_entries[0@41]" in str(refused.value) and "'hours'" in str(refused.value)


def test_rate_lines_and_assignments_are_held_to_their_declared_types() -> None:
    line = {"id": "RCL-1", "rate_card_id": "RC-1", "role": "consultant"}
    line |= {"hourly_rate": Decimal("1E+12"), "effective_from": date(2026, 1, 1)}
    with pytest.raises(MappingError) as refused:
        MAPPING.commands(change("rate_card_lines", line))
    assert refused.value.reason == "value_out_of_range"
    assignment = {"id": "ASG-1", "project_id": "P-1", "worker_id": "W-1", "role": "consultant"}
    assignment |= {"start_date": date(2026, 1, 1), "end_date": date(2026, 3, 31)}
    assignment |= {"planned_hours": "240.001", "status": "planned"}
    with pytest.raises(MappingError) as refused:
        MAPPING.commands(change("assignments", assignment))
    assert refused.value.reason == "bad_scale"


def test_values_inside_the_declared_type_map_as_before() -> None:
    [command] = MAPPING.commands(change("time_entries", time_row(Decimal("24.00"))))
    assert isinstance(command, c.SyncWorkItem) and command.fields["hours"] == Decimal("24.00")


def test_the_shipped_file_still_loads_as_the_default() -> None:
    assert SourceMapping.load(DEFAULT_MAPPING).config == MAPPING.config
