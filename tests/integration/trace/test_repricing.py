"""Finance changes a tax rate: the diff names the credit note and rebill each
changed issued invoice needs and appends nothing; once approved, the next
billing run issues them, to the cent; a later correction of a rebilled item
is credited once, against the rebill."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from domain.invoice import Invoice
from psledger.audit.trace import trace
from psledger.bootstrap import Wiring
from psledger.cli import cli
from psledger.demo import firm
from psledger.demo.envelopes import DebeziumWriter

RULES = Path(__file__).resolve().parents[3] / "psledger" / "data" / "tax_and_fx.json"
JANUARY = "GB01-SOW-1042-2026-01"


def lower_uk_vat(tmp_path: Path) -> Path:
    rules = json.loads(RULES.read_text())
    rules["tax_codes"]["GB-VAT-STD"]["rate"] = "0.175"
    changed = tmp_path / "rules.json"
    changed.write_text(json.dumps(rules))
    return changed


def psledger(wiring: Wiring, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--store", wiring.settings.store, *args])
    assert result.exit_code == 0, result.output
    return result.output


def events(wiring: Wiring) -> int:
    return int(wiring.app.recorder.max_notification_id() or 0)


def diff(wiring: Wiring, rules: Path, *period: str) -> dict[str, Any]:
    args = ["projections", "diff", "--rules", str(rules), *period, "--format", "json"]
    report: dict[str, Any] = orjson.loads(psledger(wiring, *args))
    return report


def test_a_tax_change_proposes_a_credit_note_per_changed_invoice_and_appends_nothing(
    demo: Wiring, tmp_path: Path
) -> None:
    rules = lower_uk_vat(tmp_path)
    before = events(demo)

    report = diff(demo, rules, "--period", "2026-01")

    assert events(demo) == before
    proposals = {d["number"]: d["proposal"] for d in report["invoices"]}
    assert proposals["DE01-SOW-3007-2026-01"] is None  # German VAT did not change
    assert proposals["US01-SOW-2001-2026-01-PRJ-CT-1"] is None
    january = proposals[JANUARY]
    # 44846.94 invoiced, less TE-0001's 1200.00 already credited by C1: 43646.94
    # credit at the old 20%: 43646.94 x 0.20 = 8729.388 -> 8729.39
    assert january["credit_note"]["number"] == f"{JANUARY}-C2"
    assert january["credit_note"]["totals"] == ["-43646.94", "-8729.39", "-52376.33"]
    assert 1 not in january["credit_note"]["credits_lines"]
    # rebill at 17.5%: 43646.94 x 0.175 = 7638.2145 -> 7638.21
    assert january["rebill"]["number"] == f"{JANUARY}-R1"
    assert january["rebill"]["totals"] == ["43646.94", "7638.21", "51285.15"]
    assert january["rebill"]["rule_version"] == report["rule_version"]
    assert january["credit_note"]["rule_version"] != report["rule_version"]
    drafted = {inv["number"] for inv in report["would_draft"]}
    assert {f"{JANUARY}-C2", f"{JANUARY}-R1"} <= drafted

    every = diff(demo, rules)  # all periods: February's UK invoice too
    proposed = {d["number"] for d in every["invoices"] if d["proposal"]}
    assert proposed == {JANUARY, "GB01-SOW-1042-2026-02"}
    assert events(demo) == before


def test_an_approved_repricing_is_issued_by_the_next_billing_run(
    demo: Wiring, tmp_path: Path
) -> None:
    rules = lower_uk_vat(tmp_path)
    before = events(demo)
    args = ("projections", "diff", "--rules", str(rules), "--period", "2026-01", "--apply")

    traced_before = trace(demo.app, JANUARY)
    applied = psledger(demo, *args, "--by", "fin.ance")

    assert "1 repricings approved by fin.ance" in applied
    assert events(demo) == before + 1  # RepricingApproved on the January invoice
    assert "0 repricings approved" in psledger(demo, *args, "--by", "fin.ance")
    assert events(demo) == before + 1

    billed = psledger(demo, "bill", "--period", "2026-03")

    assert f"{JANUARY}-C2" in billed and f"{JANUARY}-R1" in billed
    credit = demo.ledger.load(Invoice, f"{JANUARY}-C2")
    rebill = demo.ledger.load(Invoice, f"{JANUARY}-R1")
    assert (credit.net, credit.tax, credit.gross) == (
        Decimal("-43646.94"),
        Decimal("-8729.39"),
        Decimal("-52376.33"),
    )
    assert (rebill.net, rebill.tax, rebill.gross) == (
        Decimal("43646.94"),
        Decimal("7638.21"),
        Decimal("51285.15"),
    )
    original = demo.ledger.load(Invoice, JANUARY)
    approved = diff(demo, rules, "--period", "2026-01")["rule_version"]
    assert rebill.header["rule_version"] == approved
    assert credit.header["rule_version"] == original.header["rule_version"]
    assert rebill.header["approved_by"] == "fin.ance"
    assert len(rebill.lines) == len(original.lines) - 1
    assert original.repriced_by == f"{JANUARY}-R1"
    # the trace shows the approval and the repricing on the original's own events
    events_now = trace(demo.app, JANUARY)["events"]
    assert len(events_now) == len(traced_before["events"]) + 2
    approval = next(e for e in events_now if e["event"] == "RepricingApproved")
    assert approval["actor"] == "fin.ance" and approval["data"]["rule_version"] == approved
    assert trace(demo.app, f"{JANUARY}-R1")["repricing_approved_by"] == "fin.ance"
    again = psledger(demo, "bill", "--period", "2026-03")
    assert again.startswith("billing 2026-03: 0 events appended")
    after = diff(demo, rules, "--period", "2026-01")
    entry = next(d for d in after["invoices"] if d["number"] == JANUARY)
    assert entry["proposal"] is None and entry["replaced_by"] == f"{JANUARY}-R1"


def test_apply_without_an_approver_is_refused(demo: Wiring, tmp_path: Path) -> None:
    rules = lower_uk_vat(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["--store", demo.settings.store, "projections", "diff", "--rules", str(rules), "--apply"],
    )
    assert result.exit_code == 1
    assert "--apply needs --by USER" in result.output


def correct_hours(wiring: Wiring, tmp_path: Path, item_id: str, hours: str) -> None:
    """A PSA change of one of the demo's January time entries (its hours)."""
    row = next(e for e in firm.month_time(1, 1) if e["id"] == item_id)
    at = datetime(2026, 4, 2, 9, tzinfo=UTC)
    path = tmp_path / f"{item_id}-correction.jsonl"
    with path.open("wb") as out:
        writer = DebeziumWriter(out)
        writer.lsn, writer.tx = 90_000_000, 990
        after = {**row, "hours": Decimal(hours), "updated_at": at}
        writer.transaction([("time_entries", "u", row, after)], at)
    psledger(wiring, "ingest", "debezium", str(path))


def document_lines(wiring: Wiring, item_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every document's lines of one item, by document number."""
    found: dict[str, list[dict[str, Any]]] = {}
    for number in wiring.ledger.entity_ids("invoice"):
        invoice = wiring.ledger.load(Invoice, number)
        lines = [ln for ln in invoice.lines if ln.get("item_id") == item_id]
        if lines:
            found[number] = lines
    return found


def test_a_correction_of_a_rebilled_item_is_credited_once_against_the_rebill(
    demo: Wiring, tmp_path: Path
) -> None:
    # given January repriced at 17.5% VAT, approved and issued (C2 credits, R1 rebills)
    rules = lower_uk_vat(tmp_path)
    args = ("projections", "diff", "--rules", str(rules), "--period", "2026-01", "--apply")
    psledger(demo, *args, "--by", "fin.ance")
    psledger(demo, "bill", "--period", "2026-03")
    rebill = demo.ledger.load(Invoice, f"{JANUARY}-R1")
    (rebilled,) = [ln for ln in rebill.lines if ln["item_id"] == "TE-0002"]
    # TE-0002: 7.50 h x 110.00 = 825.00, on January's line 2 and on R1
    assert Decimal(rebilled["net"]) == Decimal("825.00")

    # when the PSA corrects TE-0002 to 5.00 h and April is billed
    correct_hours(demo, tmp_path, "TE-0002", "5.00")
    billed = psledger(demo, "bill", "--period", "2026-04")

    # then the credit note is the rebill's, for R1's line, at R1's 17.5%:
    # net -825.00, tax 825.00 x 0.175 = 144.375 -> -144.38, gross -969.38
    assert f"{JANUARY}-R1-C1" in billed and f"{JANUARY}-C3" not in billed
    note = demo.ledger.load(Invoice, f"{JANUARY}-R1-C1")
    assert note.header["original_number"] == f"{JANUARY}-R1"
    assert [(ln["item_id"], ln["credits_line"]) for ln in note.lines] == [
        ("TE-0002", rebilled["line_no"])
    ]
    assert (note.net, note.tax, note.gross) == (
        Decimal("-825.00"),
        Decimal("-144.38"),
        Decimal("-969.38"),
    )
    # and every billed line of TE-0002 is credited exactly once; what stays
    # billed is April's 5.00 h x 110.00 = 550.00
    lines = document_lines(demo, "TE-0002")
    credits = Counter(
        (demo.ledger.load(Invoice, n).header["original_number"], ln["credits_line"])
        for n, found in lines.items()
        for ln in found
        if ln.get("credits_line") is not None
    )
    assert credits == {(JANUARY, 2): 1, (f"{JANUARY}-R1", rebilled["line_no"]): 1}
    assert sum(Decimal(ln["net"]) for found in lines.values() for ln in found) == Decimal("550.00")
