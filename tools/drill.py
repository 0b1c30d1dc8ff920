"""Billing a large period on PostgreSQL, measured: wall time and peak RSS.

    .venv/bin/python tools/drill.py --entries 50000 [--store postgresql://...]

Generates a firm (tools/benchgen.py) with about ENTRIES approved time entries
in January 2026 as a Debezium change-event file plus its CRM and HR
webhooks, then runs, each as its own `psledger` process:

    psledger ingest webhook ...        the contracts and workers
    psledger ingest debezium FILE      the snapshot, timesheets, approvals
    psledger bill --period 2026-01     every entry invoiced
    psledger bill --period 2026-01     again: nothing appended

and prints each step's wall time and peak resident set size (from wait4),
and checks that the first bill invoiced every entry and the second appended
nothing. Without --store it starts a throwaway PostgreSQL cluster
(tests/support/postgres.py) and removes it afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]

from benchgen import LINES_PER_ENTRY, FirmPlan, plan_firm, write_debezium, write_webhooks  # noqa: E402


def plan_for(entries: int) -> FirmPlan:
    """The smallest generated firm with at least `entries` time entries."""
    records = int(entries * LINES_PER_ENTRY)
    plan = plan_firm(records)
    while plan.entries < entries:
        records += max(50, int((entries - plan.entries) * LINES_PER_ENTRY))
        plan = plan_firm(records)
    return plan


def measured(argv: list[str], timeout: float) -> tuple[float, int, str]:
    """Run `argv`; (wall seconds, peak RSS in MiB, stdout). Fails on a non-zero exit."""
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, text=True
    )
    deadline = started + timeout
    out_parts: list[str] = []
    assert proc.stdout is not None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"timed out after {timeout:.0f} s: {' '.join(argv[3:6])}")
        time.sleep(0.05)
    wall = time.monotonic() - started
    out_parts.append(proc.stdout.read())
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = "".join(out_parts)
    if proc.returncode != 0:
        raise SystemExit(f"exit {proc.returncode}: {' '.join(argv[3:6])}\n{out[-2000:]}")
    return wall, usage.ru_maxrss // 1024, out


def drill(store: str, entries: int, workdir: Path, timeout: float) -> None:
    plan = plan_for(entries)
    webhooks = write_webhooks(plan, workdir / "webhooks")
    lines = write_debezium(plan, workdir / "firm.jsonl")
    print(
        f"firm: {plan.entries} time entries, {plan.projects} projects, "
        f"{plan.contracts} contracts; {lines} Debezium records"
    )
    psledger = [sys.executable, "-m", "psledger", "--store", store]
    steps = [
        ("ingest webhook", [*psledger, "ingest", "webhook", *map(str, webhooks)]),
        ("ingest debezium", [*psledger, "ingest", "debezium", str(workdir / "firm.jsonl")]),
        ("bill", [*psledger, "bill", "--period", "2026-01"]),
        ("bill again", [*psledger, "bill", "--period", "2026-01"]),
    ]
    print(f"{'step':<16} {'wall s':>8} {'peak RSS MiB':>13}  output")
    outputs = {}
    for name, argv in steps:
        wall, rss, out = measured(argv, timeout)
        outputs[name] = out
        first = (out.strip().splitlines() or [""])[0]
        print(f"{name:<16} {wall:>8.1f} {rss:>13}  {first[:90]}", flush=True)
    billed = re.search(r"(\d+) events appended, (\d+) invoices", outputs["bill"])
    assert billed is not None and int(billed.group(2)) == plan.projects, outputs["bill"][:500]
    assert int(billed.group(1)) >= 2 * plan.entries, outputs["bill"][:500]
    assert " 0 events appended" in outputs["bill again"], outputs["bill again"][:500]
    print(f"ok: {billed.group(2)} invoices, {billed.group(1)} events; the rerun appended none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--store", default=None, help="postgresql://... (default: a throwaway)")
    parser.add_argument("--timeout", type=float, default=3600, help="per step, seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="psledger-drill-") as tmp:
        if args.store:
            drill(args.store, args.entries, Path(tmp), args.timeout)
            return
        from support.postgres import PostgresCluster

        with PostgresCluster() as cluster:
            store = cluster.create_database(f"drill_{uuid.uuid4().hex[:12]}")
            drill(store, args.entries, Path(tmp), args.timeout)


if __name__ == "__main__":
    main()
