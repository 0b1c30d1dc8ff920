"""Benchmark: the audit journal's cost on ingest, and its verification rate.

    python tools/bench_journal.py --records N [--postgres] [--rounds R]
        [--repeats K] [--only ingest|verify] [--json]

Generates a firm and a Debezium file of N records (tools/benchgen.py), then,
in one run on this machine:

1. ingest cost: R rounds; each round ingests the file into two fresh stores
   (SQLite files, or databases on one throwaway PostgreSQL cluster with
   --postgres), one with the journal write switched off (the environment
   switch PSLEDGER_BENCH_NO_JOURNAL, which only this script sets) and one
   with it, alternating which goes first. Each ingest runs `psledger ingest
   debezium FILE` in a fresh interpreter and reports its wall seconds, its
   process CPU seconds and the seconds spent inside `journal.record` (the
   chain's own work); on PostgreSQL the server's CPU seconds meanwhile are
   added to the CPU figure. Per round the ratio with / without, for wall
   time and CPU time; reported as the median and the spread (min..max) over
   the rounds. CPU time is the steadier figure on a shared machine; the
   time inside `journal.record` over the ingest's wall time is the direct one.
2. verification: `verify` (psledger.audit.journal) over the journaled store,
   against a raw keyset SELECT of the same rows in pages of the same size
   with the bare driver (tools/benchraw.py, the reference tools/bench.py
   sets replays against), alternating, K times each; the ratio of the best
   rates, and the median of the K paired ratios. On PostgreSQL also a raw
   SELECT in the binary format (a stricter reference, shown beside it).

Progress goes to stderr; a table (or one JSON object) to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import benchgen  # noqa: E402
from benchraw import RawStore, server_cpu  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from psledger.audit.journal import MIN_PER_JOB, PAGE, default_jobs, verify  # noqa: E402
from psledger.bootstrap import bootstrap  # noqa: E402
from psledger.cli import cli  # noqa: E402
from psledger.cli_audit import journal_reopener  # noqa: E402
from psledger.settings import Settings  # noqa: E402
from psledger.store import journal  # noqa: E402
from psledger.store.journal import NO_JOURNAL_ENV, JournalStore  # noqa: E402


def cpu_with_children() -> float:
    """CPU seconds of this process and of its children reaped so far (the
    processes `verify` forks)."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


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


class Server:
    """CPU seconds used so far by a throwaway PostgreSQL server: the
    postmaster, its reaped children and its live ones (none for SQLite)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def cpu(self) -> float:
        return server_cpu(self.pid)


def ingest(
    store: str, webhooks: list[Path], debezium: Path, chained: bool, server: Server
) -> dict[str, Any]:
    """Ingest the file into a fresh store in a fresh interpreter (so that one
    run's memory and caches do not favour the next), timed there."""
    run_cli(store, "ingest", "webhook", *map(str, webhooks))
    before = max_position(store)
    env = {k: v for k, v in os.environ.items() if k != NO_JOURNAL_ENV}
    if not chained:
        env[NO_JOURNAL_ENV] = "1"
    server_before = server.cpu()
    done = subprocess.run(
        [sys.executable, __file__, "--timed-ingest", store, str(debezium)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    server_s = server.cpu() - server_before
    if done.returncode != 0:
        raise SystemExit(f"bench_journal: ingest failed: {done.stderr[-2000:]}")
    got: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    got["server_cpu_s"] = round(server_s, 3)
    got["total_cpu_s"] = got["cpu_s"] + server_s
    got["events"] = max_position(store) - before
    return got


def timed_ingest(store: str, debezium: str) -> None:
    """In the child: the ingest's wall and CPU seconds, and the seconds spent
    inside `journal.record` (the recorders call it through the module)."""
    inside = [0.0, 0]
    record = journal.record

    def timed_record(*args: Any) -> None:
        started = time.perf_counter()
        try:
            record(*args)
        finally:
            inside[0] += time.perf_counter() - started
            inside[1] += 1

    journal.record = timed_record  # type: ignore[assignment]
    wall, cpu = time.perf_counter(), time.process_time()
    run_cli(store, "ingest", "debezium", debezium)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"seconds": wall, "cpu_s": cpu, "chain_s": inside[0], "calls": inside[1]}))


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def ingest_cost(
    rounds: int, fresh: Callable[[], str], server: Server, webhooks: list[Path], debezium: Path
) -> tuple[dict[str, Any], str]:
    runs: list[dict[str, Any]] = []
    chained_store = ""
    for n in range(rounds):
        order = (False, True) if n % 2 == 0 else (True, False)
        pair: dict[bool, dict[str, Any]] = {}
        for chained in order:
            store = fresh()
            say(f"round {n + 1}/{rounds}: ingest {'with' if chained else 'without'} the journal")
            pair[chained] = ingest(store, webhooks, debezium, chained, server)
            if chained:
                chained_store = store
        without, with_ = pair[False], pair[True]
        runs.append(
            {
                "without": without,
                "with": with_,
                "wall_ratio": with_["seconds"] / without["seconds"],
                "cpu_ratio": with_["total_cpu_s"] / without["total_cpu_s"],
                "chain_share": with_["chain_s"] / with_["seconds"],
            }
        )
    summary = {
        "rounds": runs,
        "events": runs[0]["with"]["events"],
        "wall_ratio": spread([r["wall_ratio"] for r in runs]),
        "cpu_ratio": spread([r["cpu_ratio"] for r in runs]),
        "chain_share": spread([r["chain_share"] for r in runs]),
    }
    return summary, chained_store


def raw_binary(store: str) -> tuple[int, float]:
    """PostgreSQL only: the raw keyset SELECT with results in the binary format."""
    raw = RawStore(store, "psledger_events")
    sql = (
        "SELECT notification_id, originator_id, originator_version, topic, state "
        f"FROM psledger_events WHERE notification_id > %s ORDER BY notification_id LIMIT {PAGE}"
    )
    with raw.connect() as conn, conn.cursor(binary=True) as cur:
        count, last = 0, 0
        started = time.perf_counter()
        while page := cur.execute(sql, (last,)).fetchall():
            count += len(page)
            last = page[-1][0]
        return count, time.perf_counter() - started


def verification(store: str, repeats: int, jobs: int, min_per_job: int) -> dict[str, Any]:
    """Verify and the raw SELECT (and on PostgreSQL the binary raw SELECT),
    alternating, `repeats` times each: best rates, and paired ratios."""
    postgres = store.startswith("postgres")
    raw = RawStore(store, "psledger_events" if postgres else "stored_events")
    wiring = bootstrap(Settings(store=store))
    reopen = journal_reopener(wiring.settings)
    try:
        store_journal = JournalStore(wiring.app.recorder)
        times: dict[str, list[float]] = {"verify": [], "raw": [], "raw_binary": []}
        cpu: dict[str, list[float]] = {"verify": [], "raw": []}
        verified = rows = 0
        for _ in range(repeats):
            started, cpu0 = time.perf_counter(), cpu_with_children()
            rows, _s = raw.select_pages(PAGE)
            times["raw"].append(time.perf_counter() - started)
            cpu["raw"].append(cpu_with_children() - cpu0)
            started, cpu0 = time.perf_counter(), cpu_with_children()
            result = verify(
                store_journal, page=PAGE, jobs=jobs, reopen=reopen, min_per_job=min_per_job
            )
            times["verify"].append(time.perf_counter() - started)
            cpu["verify"].append(cpu_with_children() - cpu0)
            if not result.ok:
                raise SystemExit(f"bench_journal: the journal does not verify: {result.broken}")
            verified = result.verified
            if postgres:
                times["raw_binary"].append(raw_binary(store)[1])
    finally:
        wiring.close()
    if verified != rows:
        raise SystemExit(f"bench_journal: verified {verified} events, raw SELECT read {rows}")
    paired = [r / v for r, v in zip(times["raw"], times["verify"], strict=True)]
    out: dict[str, Any] = {
        "events": verified,
        "jobs": jobs,
        "verify_per_s": verified / min(times["verify"]),
        "raw_per_s": rows / min(times["raw"]),
        "verify_ratio": min(times["raw"]) / min(times["verify"]),
        "verify_ratio_paired": spread(paired),
        "verify_ratio_cpu": min(cpu["raw"]) / min(cpu["verify"]),
    }
    if postgres:
        out["raw_binary_per_s"] = rows / min(times["raw_binary"])
        out["verify_ratio_binary"] = min(times["raw_binary"]) / min(times["verify"])
    return out


@contextmanager
def stores(postgres: bool, work: Path) -> Iterator[tuple[Callable[[], str], Server]]:
    """A factory of fresh, empty store URLs, and the server's CPU meter."""
    counter = iter(range(1_000_000))
    if not postgres:
        yield (lambda: f"sqlite:///{work / f'store-{next(counter)}.db'}"), Server(None)
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from support.postgres import PostgresCluster

    cluster = PostgresCluster()
    say("starting a throwaway PostgreSQL cluster")
    cluster.start()
    try:
        assert cluster.base_dir is not None
        pid = int((cluster.base_dir / "data" / "postmaster.pid").read_text().split()[0])
        yield (lambda: cluster.create_database(f"bench_journal_{next(counter)}")), Server(pid)
    finally:
        cluster.stop()


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    plan = benchgen.plan_firm(args.records)
    webhooks = benchgen.write_webhooks(plan, work / "webhooks")
    debezium = work / "psa.jsonl"
    lines = benchgen.write_debezium(plan, debezium)
    say(f"{lines} Debezium records, {len(webhooks)} webhooks")
    result: dict[str, Any] = {
        "store": "postgresql" if args.postgres else "sqlite",
        "records": lines,
    }
    with stores(args.postgres, work) as (fresh, server):
        if args.only in (None, "ingest"):
            result["ingest"], store = ingest_cost(args.rounds, fresh, server, webhooks, debezium)
        else:
            store = fresh()
            say("ingest with the journal")
            ingest(store, webhooks, debezium, True, server)
        if args.only in (None, "verify"):
            say("verify against a raw SELECT of the same rows")
            result["verification"] = verification(store, args.repeats, args.jobs, args.min_per_job)
    return result


def render(r: dict[str, Any]) -> str:
    def ratio(s: dict[str, float]) -> str:
        return f"{s['median']:.3f} ({s['min']:.3f}..{s['max']:.3f})"

    rows: list[tuple[str, Any]] = [("store", r["store"]), ("Debezium records", r["records"])]
    if "ingest" in r:
        i = r["ingest"]
        rows += [
            ("events ingested", i["events"]),
            ("rounds (with/without, alternating)", len(i["rounds"])),
            ("wall with / without: median (min..max)", ratio(i["wall_ratio"])),
            ("CPU with / without: median (min..max)", ratio(i["cpu_ratio"])),
            ("time in journal.record / wall", ratio(i["chain_share"])),
        ]
        for n, run in enumerate(i["rounds"], 1):
            w, wo = run["with"], run["without"]
            rows.append(
                (
                    f"  round {n}: wall s, CPU s (with | without)",
                    f"{w['seconds']:.2f} {w['total_cpu_s']:.2f} | "
                    f"{wo['seconds']:.2f} {wo['total_cpu_s']:.2f}",
                )
            )
    if "verification" in r:
        v = r["verification"]
        rows += [
            ("events verified", v["events"]),
            ("verify processes (--jobs)", v["jobs"]),
            ("verify (events/s, best)", f"{v['verify_per_s']:.0f}"),
            ("raw SELECT (rows/s, best)", f"{v['raw_per_s']:.0f}"),
            ("verify / raw (best rates)", f"{v['verify_ratio']:.3f}"),
            ("verify / raw, paired: median (min..max)", ratio(v["verify_ratio_paired"])),
            ("verify / raw (CPU, best)", f"{v['verify_ratio_cpu']:.3f}"),
        ]
        if "raw_binary_per_s" in v:
            rows += [
                ("raw SELECT, binary format (rows/s)", f"{v['raw_binary_per_s']:.0f}"),
                ("verify / raw binary (best rates)", f"{v['verify_ratio_binary']:.3f}"),
            ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {val}" for k, val in rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster")
    parser.add_argument("--rounds", type=int, default=5, help="ingest pairs, alternating")
    parser.add_argument("--repeats", type=int, default=7, help="verify / raw SELECT pairs")
    parser.add_argument("--only", choices=("ingest", "verify"), default=None)
    parser.add_argument(
        "--jobs", type=int, default=default_jobs(), help="verify's processes (as audit verify)"
    )
    parser.add_argument("--min-per-job", type=int, default=MIN_PER_JOB)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--timed-ingest", nargs=2, metavar=("STORE", "FILE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.timed_ingest:
        timed_ingest(*args.timed_ingest)
        return
    args.rounds, args.repeats = max(1, args.rounds), max(1, args.repeats)
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        result = measure(args, Path(tmp))
    print(json.dumps(result, indent=2) if args.json else render(result))


if __name__ == "__main__":
    main()
