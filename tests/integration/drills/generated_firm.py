"""A generated firm (tools/benchgen.py) as a Debezium file and its webhooks.

`make_firm(records, directory)` writes `firm.jsonl` (kcat -C -J lines: a
snapshot, then January 2026's timesheets inserted and approved, one PSA
transaction each) and the CRM SOW and HR worker webhooks it needs first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchgen import FirmPlan, plan_firm, write_debezium, write_webhooks


@dataclass(frozen=True)
class Firm:
    plan: FirmPlan
    file: Path
    webhooks: list[Path]
    records: int


def make_firm(records: int, directory: Path) -> Firm:
    plan = plan_firm(records)
    webhooks = write_webhooks(plan, directory / "webhooks")
    lines = write_debezium(plan, directory / "firm.jsonl")
    return Firm(plan, directory / "firm.jsonl", webhooks, lines)
