"""Finance sees what a rule change would do before anything is re-issued."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RULES = Path(__file__).resolve().parents[3] / "psledger" / "data" / "tax_and_fx.json"


def run(store: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "psledger", "--store", store, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_vat_and_fx_change_shows_the_difference_and_appends_nothing(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/ledger.db"
    run(store, "demo", "--out", str(tmp_path / "files"))
    rules = json.loads(RULES.read_text())
    rules["tax_codes"]["GB-VAT-STD"]["rate"] = "0.175"
    rules["fx_rates"].append(
        {"from": "EUR", "to": "GBP", "rate": "0.9000", "effective_from": "2026-01-15"}
    )
    changed = tmp_path / "rules.json"
    changed.write_text(json.dumps(rules))
    before = run(store, "invoices", "--format", "json")

    report = json.loads(
        run(store, "rebuild", "--period", "2026-01", "--rules", str(changed), "--format", "json")
    )

    uk = next(d for d in report["invoices"] if d["number"] == "GB01-SOW-1042-2026-01")
    # the EUR lodging EX-0002 (389.00 EUR, 21 Jan): 389.00 x 0.86 = 334.54 -> x 0.90 = 350.10
    ex = next(ln for ln in uk["lines"] if ln["item_id"] == "EX-0002")
    assert (ex["old_net"], ex["new_net"]) == ("334.54", "350.10")
    # net 44846.94 + 15.56 = 44862.50; tax 44862.50 x 0.175 = 7850.9375 -> 7850.94
    assert uk["new"] == ["44862.50", "7850.94", "52713.44"]
    assert uk["changed"] is True
    de = next(d for d in report["invoices"] if d["number"] == "DE01-SOW-3007-2026-01")
    assert de["changed"] is False
    assert run(store, "invoices", "--format", "json") == before
