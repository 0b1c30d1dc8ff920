"""Benchmark: the audit journal's cost on ingest, and its verification rate.

    python tools/bench_journal.py --records N [--postgres] [--rounds R] [--json]

Generates a firm and a Debezium file of N records (tools/benchgen.py), then,
in one run on this machine:

1. ingest cost: two fresh stores (SQLite files, or two databases on one
   throwaway PostgreSQL cluster with --postgres) get the firm's webhooks,
   then `psledger ingest debezium FILE` through the CLI (click's CliRunner,
   in a fresh interpreter each), one with the journal write switched off (the environment
   switch PSLEDGER_BENCH_NO_JOURNAL, which only this script sets) and one
   with it; events appended per second for each, and the chain's cost
   (1 - with / without). With --rounds R each is measured R times on fresh
   stores, alternating which goes first, and the best rate is kept;
2. verification: `verify` (psledger.audit.journal) over the journaled store,
   events per second, against a raw keyset SELECT of the same rows in pages
   of the same size (the bare reading, no hashing) in the same run; best of
   three each, alternating.

Progress goes to stderr; a table (or one JSON object) to stdout.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import benchgen  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from psledger.audit.journal import PAGE, verify  # noqa: E402
from psledger.bootstrap import bootstrap  # noqa: E402
from psledger.cli import cli  # noqa: E402
from psledger.settings import Settings  # noqa: E402
from psledger.store.journal import NO_JOURNAL_ENV, JournalStore  # noqa: E402


def say(message: str) -> None:
    print(f"bench_journal: {message}", file=sys.stderr, flush=True)


def run_cli(store: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--store", store, *args])
    if result.exit_code != 0:
        raise SystemExit(f"bench_journal: psledger {' '.join(args[:2])} failed: {result.output}")
    return result.output


def max_position(store: str) -> int:
    wiring = bootstrap(Settings(store=store))
    try:
        return JournalStore(wiring.app.recorder).max_position()
    finally:
        wiring.close()


def ingest(store: str, webhooks: list[Path], debezium: Path, journal: bool) -> dict[str, Any]:
    """Ingest the file into a fresh store in a fresh interpreter (so that one
    run's memory and caches do not favour the next), timed there."""
    run_cli(store, "ingest", "webhook", *map(str, webhooks))
    before = max_position(store)
    env = {k: v for k, v in os.environ.items() if k != NO_JOURNAL_ENV}
    if not journal:
        env[NO_JOURNAL_ENV] = "1"
    done = subprocess.run(
        [sys.executable, __file__, "--timed-ingest", store, str(debezium)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench_journal: ingest failed: {done.stderr[-2000:]}")
    seconds = float(done.stdout.strip().splitlines()[-1])
    events = max_position(store) - before
    return {"events": events, "seconds": seconds, "events_per_s": events / seconds}


def timed_ingest(store: str, debezium: str) -> None:
    started = time.perf_counter()
    run_cli(store, "ingest", "debezium", debezium)
    print(time.perf_counter() - started)


def verification(store: str, repeats: int = 3) -> dict[str, Any]:
    """Best of `repeats` for each, alternating: verify, and the raw SELECT."""
    wiring = bootstrap(Settings(store=store))
    try:
        journal = JournalStore(wiring.app.recorder)
        verify_s = raw_s = float("inf")
        verified = rows = 0
        for _ in range(repeats):
            started = time.perf_counter()
            rows, after = 0, 0
            while True:
                page = journal.raw_page(after, PAGE)
                rows += len(page)
                if len(page) < PAGE:
                    break
                last = page[-1]
                after = int(last[0] if not isinstance(last, dict) else next(iter(last.values())))
            raw_s = min(raw_s, time.perf_counter() - started)
            started = time.perf_counter()
            result = verify(journal, page=PAGE)
            verify_s = min(verify_s, time.perf_counter() - started)
            if not result.ok:
                raise SystemExit(f"bench_journal: the journal does not verify: {result.broken}")
            verified = result.verified
    finally:
        wiring.close()
    return {
        "events": verified,
        "verify_s": verify_s,
        "verify_per_s": verified / verify_s,
        "raw_rows": rows,
        "raw_s": raw_s,
        "raw_per_s": rows / raw_s,
        "verify_ratio": (verified / verify_s) / (rows / raw_s),
    }


@contextmanager
def stores(postgres: bool, work: Path) -> Iterator[Any]:
    """A factory of fresh, empty store URLs."""
    if not postgres:
        counter = iter(range(1_000_000))
        yield lambda: f"sqlite:///{work / f'store-{next(counter)}.db'}"
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from support.postgres import PostgresCluster

    cluster = PostgresCluster()
    say("starting a throwaway PostgreSQL cluster")
    cluster.start()
    counter = iter(range(1_000_000))
    try:
        yield lambda: cluster.create_database(f"bench_journal_{next(counter)}")
    finally:
        cluster.stop()


def measure(records: int, postgres: bool, rounds: int, work: Path) -> dict[str, Any]:
    plan = benchgen.plan_firm(records)
    webhooks = benchgen.write_webhooks(plan, work / "webhooks")
    debezium = work / "psa.jsonl"
    lines = benchgen.write_debezium(plan, debezium)
    say(f"{lines} Debezium records, {len(webhooks)} webhooks")
    best: dict[bool, dict[str, Any]] = {}
    journaled_store = ""
    with stores(postgres, work) as fresh:
        for n in range(rounds):
            order = (False, True) if n % 2 == 0 else (True, False)
            for journal in order:
                store = fresh()
                say(f"round {n + 1}: ingest {'with' if journal else 'without'} the journal")
                got = ingest(store, webhooks, debezium, journal)
                if journal not in best or got["events_per_s"] > best[journal]["events_per_s"]:
                    best[journal] = got
                if journal:
                    journaled_store = store
        say("verify against a raw SELECT of the same rows")
        checked = verification(journaled_store)
    without, with_ = best[False]["events_per_s"], best[True]["events_per_s"]
    return {
        "store": "postgresql" if postgres else "sqlite",
        "records": lines,
        "rounds": rounds,
        "ingest_without_journal": best[False],
        "ingest_with_journal": best[True],
        "journal_cost": 1 - with_ / without,
        "verification": checked,
    }


def render(r: dict[str, Any]) -> str:
    v = r["verification"]
    rows = [
        ("store", r["store"]),
        ("Debezium records", r["records"]),
        ("ingest without journal (events/s)", f"{r['ingest_without_journal']['events_per_s']:.0f}"),
        ("ingest with journal (events/s)", f"{r['ingest_with_journal']['events_per_s']:.0f}"),
        ("journal cost on ingest", f"{r['journal_cost']:.1%}"),
        ("events verified", v["events"]),
        ("verify (events/s)", f"{v['verify_per_s']:.0f}"),
        ("raw SELECT (rows/s)", f"{v['raw_per_s']:.0f}"),
        ("verify / raw", f"{v['verify_ratio']:.2f}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {val}" for k, val in rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--timed-ingest", nargs=2, metavar=("STORE", "FILE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.timed_ingest:
        timed_ingest(*args.timed_ingest)
        return
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        result = measure(args.records, args.postgres, max(1, args.rounds), Path(tmp))
    if args.json:
        import json

        print(json.dumps(result, indent=2))
    else:
        print(render(result))


if __name__ == "__main__":
    main()
