"""Benchmark: `psledger audit trace` in process, beside raw indexed SELECTs.

    python tools/bench.py --records 100000 --work-dir /tmp/bt100k   # a billed store, kept
    python tools/bench_trace.py --store sqlite:////tmp/bt100k/ledger.db [--pad EVENTS]
        [--samples 300] [--invoice NUMBER ...] [--json]
    python tools/bench_trace.py --store sqlite:////tmp/demo.db --demo --pad 1000000
    python tools/bench_trace.py --throwaway-postgres --demo --pad 100000

Opens a billed store (tools/bench.py builds one with tools/benchgen.py and
the CLI, invoices of about 220 lines; `--work-dir` keeps it), or with
`--demo` bills the demo firm into an empty store (`psledger demo`: invoices
of 4 to 42 lines, credit notes, a re-issue), optionally pads it with unrelated time
entries of five events each (captured, approved, revised three times; 2,000
entries per transaction, through the ledger's own unit of work) until it
holds `--pad` events, catches the lineage view up (timed apart: that is the
view's cost, paid once), and then times, in one run:

1. `trace`: `psledger.audit.trace.trace(app, NUMBER)`, the code path of
   `psledger audit trace NUMBER` (its catch-up check included), and the JSON
   the CLI prints (`orjson.dumps`), over the store's invoices in a shuffled
   order, `--samples` times;
2. `raw_reads`: the trace's own read (`TRACE_READ`: the trace head, the
   invoice's events, its items' events in one statement) for the same
   invoices, through the bare driver, rows fetched and not decoded;
3. `raw_pk`: one primary-key SELECT of one stored event (the cheapest indexed
   read of the store), for as many samples.

Each is reported as p50 and p99 in ms of wall time, the first two also of
CPU time (`*_cpu_*`: the process's, which a busy machine's other users
barely move; on PostgreSQL the server's part is not in it), with
`trace_p50 / raw_reads_p50`. The traces are timed in a process settled as
`psledger`'s own is (`gc.freeze` of what is alive before them, see
psledger.cli.Context.settle); `trace_full_collections` and
`trace_full_collection_max_ms` count and weigh the collections of the
oldest generation that fell among them.
Code from before the view-based trace kept traced invoices in memory; its
cache is cleared before each sample, so every sample is a cold trace.
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchraw import RawStore

from domain.provenance import Provenance
from domain.time_entry import TimeEntry
from psledger.app import LedgerApplication, UnitOfWork
from psledger.audit import trace as trace_module
from psledger.bootstrap import bootstrap
from psledger.demo.run import run_demo
from psledger.settings import Settings

say: Callable[[str], None] = lambda message: None  # noqa: E731 - set by main()


def pad(app: LedgerApplication, events: int) -> int:
    """Unrelated time entries (five events each) until the store holds
    `events` events; the number of events added."""
    have = int(app.recorder.max_notification_id() or 0)
    entries = max(0, (events - have) // 5)
    fields = {
        "project_id": "PRJ-PAD",
        "worker_id": "W-PAD",
        "role": "consultant",
        "work_date": date(2026, 1, 5),
        "hours": Decimal("1"),
        "billable": True,
    }
    for start in range(0, entries, 2000):
        uow = UnitOfWork(app)
        for i in range(start + have, min(entries, start + 2000) + have):
            source = Provenance(
                "psa", f"pad:{i}", table="public.time_entries", key=f"PAD-{i}", lsn=i + 1
            )
            entry = TimeEntry.capture(f"PAD-{i}", fields, source)
            entry.approve("pm", datetime(2026, 1, 6, tzinfo=UTC), source)
            for hours in ("2", "3", "4"):
                entry.revise({**entry.fields, "hours": Decimal(hours)}, source)
            uow.add(entry, parent_id="PRJ-PAD")
        uow.commit()
        say(f"padded {min(entries, start + 2000)} of {entries} time entries")
    return int(app.recorder.max_notification_id() or 0) - have


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = min(len(ordered) - 1, -(-len(ordered) * 99 // 100) - 1)
    return ordered[len(ordered) // 2], ordered[p99]


@contextmanager
def full_collections() -> Iterator[list[float]]:
    """The ms of each collection of the oldest generation meanwhile."""
    found: list[float] = []
    started: list[float] = []

    def watch(phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            found.append((time.perf_counter() - started[0]) * 1000)

    gc.callbacks.append(watch)
    try:
        yield found
    finally:
        gc.callbacks.remove(watch)


def timed(call: Callable[[Any], Any], args: list[Any]) -> tuple[float, float, float, float]:
    """Wall p50 and p99, then CPU p50 and p99 (this process's CPU time, which
    other users of a busy machine barely move), in ms."""
    wall, cpu = [], []
    for arg in args:
        start, start_cpu = time.perf_counter(), time.process_time()
        call(arg)
        cpu.append((time.process_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return (*percentiles(wall), *percentiles(cpu))


def measure(
    store: str, padding: int, samples: int, seed: int, demo: bool, only: list[str]
) -> dict[str, Any]:
    wiring = bootstrap(Settings(store=store))
    app = wiring.app
    result: dict[str, Any] = {"store": store.split(":", 1)[0], "python": platform.python_version()}
    try:
        if demo:
            if app.recorder.max_notification_id():
                raise SystemExit("bench_trace: --demo needs an empty store")
            say("billing the demo firm")
            run_demo(wiring, Path(tempfile.mkdtemp(prefix="bench-trace-")) / "files")
        if padding:
            start = time.perf_counter()
            result["padded_events"] = pad(app, padding)
            result["pad_s"] = time.perf_counter() - start
        result["events"] = int(app.recorder.max_notification_id() or 0)
        numbers = sorted(only or wiring.ledger.entity_ids("invoice"))
        if not numbers:
            raise SystemExit("bench_trace: the store has no invoices; bill it first")
        say(f"{result['events']} events, {len(numbers)} invoices; catching the lineage view up")
        start = time.perf_counter()
        first = trace_module.trace(app, numbers[0])
        result["catch_up_s"] = time.perf_counter() - start
        rng = random.Random(seed)
        order = [rng.choice(numbers) for _ in range(samples)]
        sizes = [trace_module.trace(app, n) for n in sorted(set(order))]
        result.update(
            invoices=len(numbers),
            samples=samples,
            lines_avg=sum(len(f["lines"]) for f in sizes) / len(sizes),
            line_events_avg=sum(len(ln["events"]) for f in sizes for ln in f["lines"]) / len(sizes),
            first_trace_lines=len(first["lines"]),
        )
        cache = getattr(trace_module, "_TRACERS", None)

        def traced(number: str) -> None:
            if cache is not None:
                cache.clear()  # the code before the view kept traces in memory
            trace_json = getattr(trace_module, "trace_json", None)
            if trace_json is not None:  # the CLI JSON path, entries spliced in as stored
                trace_json(app, number, indent=True)
            else:
                orjson.dumps(trace_module.trace(app, number), option=orjson.OPT_INDENT_2)

        del first, sizes  # not kept alive for the collector to scan while timing
        gc.collect()  # then settled as `psledger` settles its process (bench.py)
        gc.freeze()
        say(f"timing {samples} traces")
        with full_collections() as pauses:
            (
                result["trace_p50_ms"],
                result["trace_p99_ms"],
                result["trace_cpu_p50_ms"],
                result["trace_cpu_p99_ms"],
            ) = timed(traced, order)
        result.update(
            trace_full_collections=len(pauses),
            trace_full_collection_max_ms=max(pauses, default=0.0),
        )
        result.update(raw_references(store, app, order, rng))
    finally:
        wiring.close()
    if "raw_reads_p50_ms" in result:
        result["trace_to_raw_reads_p50"] = result["trace_p50_ms"] / result["raw_reads_p50_ms"]
    return result


def raw_references(
    store: str, app: LedgerApplication, order: list[str], rng: random.Random
) -> dict[str, float]:
    """The trace's reads and a primary-key SELECT through the bare driver."""
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    raw = RawStore(store, table)
    found: dict[str, float] = {}
    last = int(app.recorder.max_notification_id() or 0)
    with raw.connect() as conn:
        cur = conn.cursor()
        picks = []
        for _ in order:  # the keys of random stored events (untimed)
            cur.execute(
                f"SELECT originator_id, originator_version FROM {table} "
                f"WHERE {raw.nid} = {raw.mark}",
                [rng.randint(1, last)],
            )
            picks.extend(tuple(row) for row in cur.fetchall())
        try:
            from projections.read.recorders import TRACE_READ
        except ImportError:  # the code before the view-based trace has no such read
            pass
        else:
            read = TRACE_READ.format(p=raw.mark)

            def read_rows(number: str) -> None:
                cur.execute(read, [number, number, number])
                cur.fetchall()

            (
                found["raw_reads_p50_ms"],
                found["raw_reads_p99_ms"],
                found["raw_reads_cpu_p50_ms"],
                found["raw_reads_cpu_p99_ms"],
            ) = timed(read_rows, order)
        pk = (
            f"SELECT state FROM {table} WHERE originator_id = {raw.mark} "
            f"AND originator_version = {raw.mark}"
        )

        def read_pk(key: tuple[Any, Any]) -> None:
            cur.execute(pk, list(key))
            cur.fetchall()

        found["raw_pk_p50_ms"], found["raw_pk_p99_ms"], _, _ = timed(read_pk, picks)
    return found


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A disposable cluster the way the tests start one; removed afterwards."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.postgres import PostgresCluster

    cluster = PostgresCluster()
    say("starting a throwaway PostgreSQL cluster")
    cluster.start()
    try:
        yield cluster.create_database("bench_trace")
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> None:
    global say
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--store", help="a billed store (tools/bench.py builds one)")
    where.add_argument(
        "--throwaway-postgres",
        action="store_true",
        help="a disposable PostgreSQL cluster (tests/support/postgres.py); with --demo",
    )
    parser.add_argument("--pad", type=int, default=0, help="pad the store to this many events")
    parser.add_argument("--demo", action="store_true", help="bill the demo firm first")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument(
        "--invoice", action="append", default=[], help="trace only this one (repeatable)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    if not args.quiet:
        say = lambda message: print(  # noqa: E731
            f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True
        )
    if args.throwaway_postgres:
        with throwaway_postgres() as url:
            result = measure(url, args.pad, args.samples, args.seed, args.demo, args.invoice)
    else:
        result = measure(args.store, args.pad, args.samples, args.seed, args.demo, args.invoice)
    if args.json:
        print(orjson.dumps(result).decode())
        return
    for key, value in result.items():
        print(f"{key:>24}: {value:.3f}" if isinstance(value, float) else f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
