"""Benchmark: ingest, replay, billing and audit, each beside a raw reference.

    python tools/bench.py --records N [--store URL | --throwaway-postgres] [--json]

Generates a firm (tools/benchgen.py) and a Debezium file of N records (kcat
-C -J JSONL for the reference PSA schema: master data, then January 2026's
time entries inserted as timesheets, then approved), applies the firm's CRM
and HR webhooks with `psledger ingest webhook`, and then measures, back to
back in one run on one store:

1. ingest: `psledger ingest debezium FILE` in a subprocess, as a user runs
   it: events appended per second (interpreter start included) and peak RSS
   (its VmHWM, polled);
2. the write reference: the very rows that ingest appended, written again
   into a scratch table shaped like `stored_events` with the bare driver
   (PostgreSQL: binary COPY; SQLite: executemany in one transaction);
   `ingest_ratio` = ingest events/s / reference rows/s;
3. replay: every stored event read back in pages through eventsourcing's
   `recorder.select_notifications` and turned into domain events by the
   application's mapper, against a raw keyset SELECT of the same rows in
   pages of the same size (`replay_ratio` = replay / raw); and every
   aggregate loaded once with `app.repository.get`;
   Beside each ratio, a floor: decoding the file's records alone with the
   ingest's decoder (`decode_floor_ratio`: the ingest ratio if everything
   after decoding were free), and the raw SELECT with each state parsed by
   orjson (`parse_floor_ratio`: the replay ratio if building the domain
   events were free);
4. billing: `psledger bill --period 2026-01` in a subprocess, its wall time
   (interpreter start included), peak RSS (its processes' VmHWM, polled)
   and processes; beside it a floor (`billing_floor`, `bill_floor_s`, in
   this process): the aggregates the run appended to, read as they were
   before it, and the run's events encoded again and written into an empty
   scratch store. That is the store's share of the run in one process,
   pricing, invoicing and the billing index left out;
5. reads: `psledger items` and `psledger invoices` as a user runs them (their
   own processes, after the views were caught up), median wall of three
   and the largest peak RSS;
6. audit: p50 and p99 of `audit_trace` (see there) over the issued invoices,
   after one trace timed apart (`trace_first_ms`: the process's first, which
   builds its read side), in a process whose long-lived objects are frozen
   as `psledger`'s own are (`gc.freeze` once the wiring is built). Each
   sampled invoice is traced twice: the first pass (`trace_cold_p50_ms`,
   `trace_cold_p99_ms`) reads its pages from disk where the OS has let go
   of them (this machine's page cache shrinks by itself when idle, and a
   1M store is several GB); the second (`trace_p50_ms`, `trace_p99_ms`)
   finds them in memory, as a server does for what it reads often.

Every subprocess above starts from byte-compiled modules, as an installed
psledger does (`compile_sources`, before the ingest). The store must be
empty. Without --store a SQLite file in the work directory is used;
--throwaway-postgres starts a disposable cluster the way the tests do
(tests/support/postgres.py: fsync and synchronous_commit off) and removes
it afterwards. Progress goes to stderr; the table (or, with --json, one JSON
object) to stdout. docs/benchmarks.md has the figures measured so far.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NamedTuple

import benchgen
import orjson
from benchraw import RawStore, server_cpu
from click.testing import CliRunner

from domain.invoice import Invoice
from psledger.bootstrap import Wiring, bootstrap
from psledger.cli import cli
from psledger.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
say: Callable[[str], None] = lambda message: None  # noqa: E731 - set by main()


# -- the audit trace ------------------------------------------------------------


def audit_trace(wiring: Wiring, number: str) -> bytes:
    """`psledger audit trace NUMBER --format json`, in process: the trace
    (the lineage view caught up first, then read) as the JSON the CLI prints."""
    from psledger.audit.trace import trace_json

    return trace_json(wiring.app, number, indent=True)


def items_traced(document: bytes) -> int:
    found = orjson.loads(document)
    return len({line["item_id"] for line in found["lines"] if line.get("item_id")})


# -- the steps --------------------------------------------------------------------


def run_cli(store: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--store", store, *args], catch_exceptions=True)
    if result.exit_code != 0:
        if result.exc_info is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # type: ignore[misc]
        raise SystemExit(f"bench: psledger {args[:2]} failed: {result.output[-2000:]}")
    return result.output


def events_appended(output: str) -> int | None:
    """The `N events appended` figure of `psledger ingest debezium`, if it says one."""
    found = re.findall(r"(\d+) events appended", output)
    return int(found[-1]) if found else None


def replay_notifications(wiring: Wiring, page_size: int) -> tuple[int, float]:
    """Every stored event through the notification log, decoded; (events, s)."""
    app = wiring.app
    count, start_id = 0, 1
    start = time.perf_counter()
    while True:
        page = app.recorder.select_notifications(start_id, page_size)  # type: ignore[attr-defined]
        if not page:
            break
        for notification in page:
            app.mapper.to_domain_event(notification)
        count += len(page)
        start_id = page[-1].id + 1
    return count, time.perf_counter() - start


def decode_only(wiring: Wiring, source: Path) -> float:
    """Seconds to read the Debezium file and decode every record (kcat line,
    envelope, typed columns) with the ingest's own decoder, and nothing else:
    the time no ingest of this file can go below, whatever its writes cost."""
    from cdc.decoding import make_decoder
    from cdc.kcat import parse_kcat_line

    decoder = make_decoder(wiring.mapping.column_types())
    start = time.perf_counter()
    with source.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            decoder(parse_kcat_line(line, source=source.name, line_no=number))
    return time.perf_counter() - start


class Floor(NamedTuple):
    """`billing_floor`'s seconds, each in this one process."""

    load_s: float
    encode_s: float
    write_s: float
    aggregates: int


def billing_floor(
    wiring: Wiring, rows: list[tuple[Any, ...]], contracts: int, scratch: str
) -> Floor:
    """The store's share of a billing run, with no pricing, invoicing or
    index in it: every aggregate the run appended to, read and folded as it
    was before the run with the bulk loader the run uses; the run's events
    encoded again with the application's mapper; and those events written,
    with psledger's recorder (audit chain included), into the empty store
    `scratch`. Each goes a contract's share at a time (the run commits a
    contract at a time); each share of events is decoded first, untimed, and
    must encode to the bytes stored. No run of these events takes less."""
    from eventsourcing.persistence import StoredEvent

    from psledger.store.bulk_load import EventReader

    mapper = wiring.app.mapper
    reader = EventReader.of(wiring.app)
    stored = [
        StoredEvent(_as_uuid(oid), int(version), str(topic), bytes(state))
        for oid, version, topic, state in rows
    ]
    first: dict[Any, int] = {}
    for event in stored:
        first.setdefault(event.originator_id, event.originator_version)
    ids = list(first)
    gc.collect()
    load_s = encode_s = write_s = 0.0
    share = max(1, -(-len(ids) // max(1, contracts)))
    for at in range(0, len(ids), share):
        start = time.perf_counter()
        reader.before({key: first[key] for key in ids[at : at + share]})
        load_s += time.perf_counter() - start
    share = max(1, -(-len(stored) // max(1, contracts)))
    with wiring_for(scratch) as target:
        for at in range(0, len(stored), share):
            chunk = stored[at : at + share]
            events = [mapper.to_domain_event(event) for event in chunk]
            start = time.perf_counter()
            again = [mapper.to_stored_event(event) for event in events]
            encode_s += time.perf_counter() - start
            if any(a.state != s.state for a, s in zip(again, chunk, strict=True)):
                raise SystemExit("bench: the billing run's events encode to other bytes")
            start = time.perf_counter()
            target.app.recorder.insert_events(again)
            write_s += time.perf_counter() - start
    return Floor(load_s, encode_s, write_s, len(first))


def load_every_aggregate(wiring: Wiring, ids: list[Any]) -> float:
    start = time.perf_counter()
    for originator_id in ids:
        wiring.app.repository.get(originator_id)
    return time.perf_counter() - start


class Stalled(Exception):
    """The child made no progress (no CPU in it or the server)."""


def cli_in_subprocess(
    store: str, work: Path, args: list[str], stall_s: float
) -> tuple[float, float, str]:
    """`psledger --store STORE ARGS` as its own process, the way a user runs
    it: (wall s with interpreter start, peak RSS MB, output). The peak RSS
    is the sum of each process's own peak, the command's and its helper
    processes' (`bill --jobs`): at most what they held at once.

    Raises Stalled (after killing it) when neither it nor the throwaway
    server's backends used any CPU for `stall_s` seconds: a deadlock such as psycopg's
    pipeline one (server waiting in ClientRead, client waiting to read)."""
    out_path = work / f"{args[0]}.out"
    env = psledger_env()  # the subprocess runs the same psledger as this process
    command = " ".join(args[:2])
    with out_path.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "psledger", "--store", store, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=work,
            env=env,
        )
        progress, since = -1.0, time.perf_counter()
        peaks: dict[int, int] = {}  # each process's own peak (KiB): it and its helpers
        while True:
            pid, status, _usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            tree = process_tree(proc.pid)
            for member in tree:
                peaks[member] = max(peaks.get(member, 0), high_water_kib(member))
            cpu = sum(process_cpu(member) for member in tree)
            now_progress = cpu + METER.server_cpu(backends_only=True)
            if now_progress != progress:
                progress, since = now_progress, time.perf_counter()
            elif time.perf_counter() - since > stall_s:
                proc.kill()
                _pid, status, _usage = os.wait4(proc.pid, 0)
                raise Stalled(
                    f"psledger {command} used no CPU (nor did the server) for {stall_s:.0f} s "
                    f"after {since - start:.1f} s; killed "
                    f"(peak RSS {sum(peaks.values()) / 1024:.0f} MB)"
                )
            time.sleep(min(0.2, 0.005 + (time.perf_counter() - start) / 20))
        wall = time.perf_counter() - start
        peak_kib = sum(peaks.values())
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = out_path.read_text()
    if proc.returncode != 0:
        raise SystemExit(f"bench: psledger {command} failed ({proc.returncode}): {output[-2000:]}")
    return wall, peak_kib / 1024, output


def compile_sources() -> None:
    """Byte-compile psledger's packages, as installing it does (pip compiles
    a wheel's modules), so that every child starts as a user's process does
    however this one was started: with PYTHONDONTWRITEBYTECODE=1 (this
    machine's shell) each child compiled every module it imported anew,
    0.1-0.2 s of a read's start-up."""
    import compileall

    import psledger

    root = Path(psledger.__file__).resolve().parents[1]
    for package in PACKAGES:
        compileall.compile_dir(root / package, quiet=1)


PACKAGES = ("domain", "cdc", "projections", "psledger")  # pyproject.toml's


def psledger_env() -> dict[str, str]:
    """The environment of a `python -m psledger` child that runs this process's psledger."""
    import psledger

    here = str(Path(psledger.__file__).resolve().parents[1])
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])),
    }


def read_command_s(
    store: str, work: Path, command: str, stall_s: float, runs: int = 3
) -> tuple[float, float, int]:
    """`psledger COMMAND` (the views already caught up) as a user runs it, its
    own process, output to a file: (the median wall s of `runs`, the largest
    peak RSS MB, lines printed)."""
    walls: list[float] = []
    peaks: list[float] = []
    for _ in range(runs):
        wall, peak_mb, output = cli_in_subprocess(store, work, [command], stall_s)
        walls.append(wall)
        peaks.append(peak_mb)
    return statistics.median(walls), max(peaks), output.count("\n")


def high_water_kib(pid: int) -> int:
    """The process's peak RSS so far (VmHWM, KiB), 0 if gone. Not wait4's
    ru_maxrss: Linux carries into it the RSS the child had before exec,
    which is this bench's own (the child starts as a copy of it)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (a billing run's helper processes,
    multiprocessing's resource tracker), by the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    found = [pid]
    for member in found:
        found.extend(children.get(member, []))
    return found


def process_cpu(pid: int) -> float:
    """CPU seconds of a running process (its threads included), 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(samples: list[float], pct: int) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


# -- the run ----------------------------------------------------------------------


# each ratio: a rate over its reference, measured in the same run
RATIOS = {
    "ingest_ratio": ("ingest_events_per_s", "copy_binary_rows_per_s"),
    "decode_floor_ratio": ("decode_only_events_per_s", "copy_binary_rows_per_s"),
    "replay_ratio": ("replay_events_per_s", "raw_select_rows_per_s"),
    "parse_floor_ratio": ("raw_parse_rows_per_s", "raw_select_rows_per_s"),
}


def measure(
    store: str, records: int, work: Path, page_size: int, samples: int, stall_s: float
) -> dict[str, Any]:
    with wiring_for(store) as wiring:  # creates the tables; names the events table
        table = wiring.app.recorder.events_table_name  # type: ignore[attr-defined]
        if wiring.app.recorder.max_notification_id():
            raise SystemExit(f"bench: the store {store} is not empty; give an empty one")
    raw = RawStore(store, table)
    result: dict[str, Any] = {"store": raw.kind, "records_asked": records}

    say(f"generating a firm with {records} Debezium records in {work}")
    plan = benchgen.plan_firm(records)
    hooks = benchgen.write_webhooks(plan, work / "webhooks")
    source = work / "psa.jsonl"
    result["records"] = benchgen.write_debezium(plan, source)
    result.update(
        time_entries=plan.entries,
        projects=plan.projects,
        contracts=plan.contracts,
        webhooks=len(hooks),
    )

    say(f"psledger ingest webhook: {len(hooks)} CRM and HR bodies")
    for start in range(0, len(hooks), 500):
        run_cli(store, "ingest", "webhook", *map(str, hooks[start : start + 500]))
    before_id, before_count = raw.max_id(), raw.count_events()

    compile_sources()
    say("psledger ingest debezium (subprocess)")
    with METER.phase("ingest", result):
        try:
            ingest_s, ingest_rss_mb, output = cli_in_subprocess(
                store, work, ["ingest", "debezium", str(source)], stall_s
            )
        except Stalled as exc:
            raise SystemExit(f"bench: {exc}") from None
    events = raw.count_events() - before_count
    reported = events_appended(output)
    if reported is not None and reported != events:
        raise SystemExit(f"bench: ingest reported {reported} events, the store has {events}")
    result.update(events=events, ingest_s=ingest_s, ingest_events_per_s=events / ingest_s)
    result["ingest_peak_rss_mb"] = ingest_rss_mb
    result["ingest_records_per_s"] = result["records"] / ingest_s

    say(f"write reference: {events} rows into a scratch table")
    rows = raw.rows_after(before_id)
    result["event_state_bytes_avg"] = sum(len(r[3]) for r in rows) / max(1, len(rows))
    with METER.phase("copy", result):
        copy_s = raw.copy_reference(rows)
    del rows
    result.update(
        reference_method="copy_binary" if raw.kind == "postgresql" else "executemany",
        copy_s=copy_s,
        copy_binary_rows_per_s=events / copy_s,
    )
    with wiring_for(store) as wiring, METER.phase("decode_only", result):
        decode_s = decode_only(wiring, source)
    result.update(decode_only_s=decode_s, decode_only_events_per_s=events / decode_s)

    say("replay: notification log pages vs raw SELECT; repository.get of every aggregate")
    with wiring_for(store) as wiring, METER.phase("replay", result):
        stored, replay_s = replay_notifications(wiring, page_size)
    ids = [_as_uuid(i) for i in raw.originator_ids()]
    with METER.phase("raw_select", result):
        raw_count, raw_s = raw.select_pages(page_size)
    if raw_count != stored:
        raise SystemExit(f"bench: replay read {stored} events, raw SELECT {raw_count}")
    with METER.phase("raw_parse", result):
        _, parse_s = raw.select_pages(page_size, parse=True)
    if raw.kind == "postgresql":  # beside the reference: the same pages in the binary format
        with METER.phase("raw_select_binary", result):
            _, binary_s = raw.select_pages(page_size, binary=True)
        result["raw_select_binary_rows_per_s"] = raw_count / binary_s
    with wiring_for(store) as wiring, METER.phase("repository_get", result):
        get_s = load_every_aggregate(wiring, ids)
    result.update(
        stored_events=stored,
        page_size=page_size,
        replay_s=replay_s,
        replay_events_per_s=stored / replay_s,
        raw_select_s=raw_s,
        raw_select_rows_per_s=raw_count / raw_s,
        aggregates=len(ids),
        repository_get_s=get_s,
        repository_get_events_per_s=stored / get_s,
        repository_get_aggregates_per_s=len(ids) / get_s,
    )
    result.update(raw_parse_s=parse_s, raw_parse_rows_per_s=raw_count / parse_s)

    for ratio, (rate, reference) in RATIOS.items():
        result[ratio] = result[rate] / result[reference]

    say("psledger bill --period 2026-01 (subprocess)")
    bill_before, bill_before_id = raw.count_events(), raw.max_id()
    with METER.phase("bill", result):
        try:
            bill_s, rss_mb, output = cli_in_subprocess(
                store, work, ["bill", "--period", "2026-01"], stall_s
            )
            processes = re.search(r" in (\d+) processes", output)
            result.update(
                bill_s=bill_s,
                bill_peak_rss_mb=rss_mb,
                bill_processes=int(processes.group(1)) if processes else 1,
            )
        except Stalled as exc:
            say(f"billing stalled: {exc}")
            result.update(bill_s=None, bill_peak_rss_mb=None, bill_error=str(exc))
    result["bill_events"] = raw.count_events() - bill_before

    say("billing floor: the run's aggregates read, its events encoded and written again")
    rows = raw.rows_after(bill_before_id)
    with (
        raw.scratch_store(work) as scratch,
        wiring_for(store) as wiring,
        METER.phase("bill_floor", result),
    ):
        floor = billing_floor(wiring, rows, plan.contracts, scratch)
    del rows
    result.update(
        bill_aggregates=floor.aggregates,
        bill_floor_load_s=floor.load_s,
        bill_floor_encode_s=floor.encode_s,
        bill_floor_write_s=floor.write_s,
        bill_floor_s=floor.load_s + floor.encode_s + floor.write_s,
    )

    with wiring_for(store) as wiring:
        numbers = wiring.ledger.entity_ids("invoice")
        items = 0
        for number in numbers:
            invoice = wiring.ledger.load(Invoice, number)
            items += len({line["item_id"] for line in invoice.lines if line.get("item_id")})
        result.update(invoices=len(numbers), bill_items=items)
        say("catching up the read side's views (the trace reads the lineage view)")
        with METER.phase("catch_up", result):
            start = time.perf_counter()
            wiring.read_side.catch_up()
            result["catch_up_s"] = time.perf_counter() - start
        for command in ("items", "invoices"):
            say(f"psledger {command} (subprocess, median of 3)")
            with METER.phase(command, result):
                wall, peak_mb, lines = read_command_s(store, work, command, stall_s)
            result.update(
                {f"{command}_s": wall, f"{command}_peak_rss_mb": peak_mb, f"{command}_lines": lines}
            )
        say(f"audit trace: {samples} samples over {len(numbers)} invoices")
        order = random.Random(42).sample(numbers, len(numbers)) if numbers else []
        timings: list[float] = []
        cold: list[float] = []
        traced = 0
        # as `psledger` settles its process once the wiring is built
        # (psledger.cli.Context.freezes_heap); collected first, so that no
        # garbage of the bench's earlier steps is kept
        gc.collect()
        gc.freeze()
        if numbers:  # the process's first trace builds its read side: timed apart
            start = time.perf_counter()
            audit_trace(wiring, order[-1])
            result["trace_first_ms"] = (time.perf_counter() - start) * 1000
        sampled = [order[n % len(order)] for n in range(samples if numbers else 0)]
        with METER.phase("trace_cold", result):
            for number in sampled:  # the first read of each: from disk, if the OS let go of it
                start = time.perf_counter()
                audit_trace(wiring, number)
                cold.append((time.perf_counter() - start) * 1000)
        with METER.phase("trace", result):
            for number in sampled:
                start = time.perf_counter()
                document = audit_trace(wiring, number)
                timings.append((time.perf_counter() - start) * 1000)
                traced += items_traced(document)
    gc.unfreeze()
    result.update(
        trace_samples=len(timings),
        trace_items_avg=traced / len(timings) if timings else None,
        trace_p50_ms=percentile(timings, 50) if timings else None,
        trace_p99_ms=percentile(timings, 99) if timings else None,
        trace_cold_p50_ms=percentile(cold, 50) if cold else None,
        trace_cold_p99_ms=percentile(cold, 99) if cold else None,
    )
    return result


def _as_uuid(value: Any) -> Any:
    from uuid import UUID

    return value if isinstance(value, UUID) else UUID(str(value))


class CpuMeter:
    """CPU used on the whole machine during the run, and by the run itself
    (this process, its children and the throwaway PostgreSQL server), in
    cores busy on average: the difference is what other users took."""

    server_pid: int | None = None

    def __init__(self) -> None:
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / ticks  # less idle and iowait
        own = sum(os.times()[:4])
        return time.perf_counter(), busy, own, self.server_cpu()

    def server_cpu(self, *, backends_only: bool = False) -> float:
        """CPU seconds of the throwaway server so far: the postmaster, its
        reaped and its live processes; or only its live client backends."""
        return server_cpu(self.server_pid, "bench" if backends_only else None)

    def watch_server(self, pid: int) -> None:
        self.server_pid = pid
        self.start = self._sample()

    @contextmanager
    def phase(self, name: str, result: dict[str, Any]) -> Iterator[None]:
        """Record `<name>_cpu_s` (CPU seconds of the run in this step) and
        `<name>_others_cores` (cores other users kept busy meanwhile)."""
        before = self._sample()
        yield
        after = self._sample()
        wall = max(after[0] - before[0], 1e-9)
        ours = after[2] - before[2] + after[3] - before[3]
        result[f"{name}_cpu_s"] = round(ours, 3)
        result[f"{name}_others_cores"] = round(max(0.0, (after[1] - before[1] - ours) / wall), 2)

    def result(self) -> dict[str, float]:
        end = self._sample()
        wall = end[0] - self.start[0]
        machine = (end[1] - self.start[1]) / wall
        ours = (end[2] - self.start[2] + end[3] - self.start[3]) / wall
        return {
            "cpu_busy_cores_machine": round(machine, 2),
            "cpu_busy_cores_bench": round(ours, 2),
            "cpu_busy_cores_others": round(max(0.0, machine - ours), 2),
        }


METER = CpuMeter()  # restarted by main()


@contextmanager
def wiring_for(store: str) -> Iterator[Wiring]:
    wiring = bootstrap(Settings(store=store))
    try:
        yield wiring
    finally:
        wiring.close()


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    sys.path.insert(0, str(ROOT / "tests"))
    from support.postgres import PostgresCluster

    cluster = PostgresCluster()
    say("starting a throwaway PostgreSQL cluster")
    cluster.start()
    try:
        assert cluster.base_dir is not None
        pid = (cluster.base_dir / "data" / "postmaster.pid").read_text().split()[0]
        METER.watch_server(int(pid))
        yield cluster.create_database("bench")
    finally:
        cluster.stop()


def machine() -> dict[str, Any]:
    def first(path: str, prefix: str) -> str:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(prefix):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    mem_kb = first("/proc/meminfo", "MemTotal").split()[0]
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(int(mem_kb) / 1024 / 1024, 1) if mem_kb.isdigit() else None,
        "cpu": first("/proc/cpuinfo", "model name"),
        "python": platform.python_version(),
        "load_before": os.getloadavg(),
    }


def commit() -> str:
    import psledger

    where = Path(psledger.__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(where),
                "status",
                "--porcelain",
                "--",
                "domain",
                "cdc",
                "projections",
                "psledger",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head + ("+dirty" if dirty else "")) if head else "unknown"


ROWS = [
    ("ingest (subprocess)", "ingest_events_per_s", "events/s"),
    ("  ingest peak RSS", "ingest_peak_rss_mb", "MB"),
    ("  reference: raw write of the same rows", "copy_binary_rows_per_s", "rows/s"),
    ("  ratio ingest / reference", "ingest_ratio", ""),
    ("  floor: decoding the records alone", "decode_only_events_per_s", "events/s"),
    ("  ratio decoding alone / reference", "decode_floor_ratio", ""),
    ("replay (notification log, decoded)", "replay_events_per_s", "events/s"),
    ("  reference: raw SELECT, same pages", "raw_select_rows_per_s", "rows/s"),
    ("  ratio replay / reference", "replay_ratio", ""),
    ("  raw SELECT in the binary format (PG)", "raw_select_binary_rows_per_s", "rows/s"),
    ("  floor: raw SELECT + orjson.loads(state)", "raw_parse_rows_per_s", "rows/s"),
    ("  ratio parse alone / reference", "parse_floor_ratio", ""),
    ("repository.get of every aggregate", "repository_get_aggregates_per_s", "aggregates/s"),
    ("billing run (subprocess), wall", "bill_s", "s"),
    ("billing run, peak RSS", "bill_peak_rss_mb", "MB"),
    ("  processes", "bill_processes", ""),
    ("  floor: its loads, encodes and writes", "bill_floor_s", "s (one process)"),
    ("psledger items (subprocess), wall", "items_s", "s"),
    ("  items peak RSS", "items_peak_rss_mb", "MB"),
    ("psledger invoices (subprocess), wall", "invoices_s", "s"),
    ("audit trace p50", "trace_p50_ms", "ms"),
    ("audit trace p99", "trace_p99_ms", "ms"),
    ("  first pass (pages perhaps on disk): p50", "trace_cold_p50_ms", "ms"),
    ("  first pass: p99", "trace_cold_p99_ms", "ms"),
]


def render(result: dict[str, Any]) -> str:
    head = (
        f"{result['store']}: {result['records']} Debezium records -> {result['events']} events "
        f"({result['time_entries']} time entries, {result['projects']} projects); "
        f"billing: {result['bill_items']} items on {result['invoices']} invoices; "
        f"reference write: {result['reference_method']}"
    )
    lines = [head]
    for label, key, unit in ROWS:
        value = result.get(key)
        if value is None:
            shown = "-"
        elif isinstance(value, int):
            shown = f"{value:,}"
        else:
            shown = f"{value:,.4f}" if value < 10 else f"{value:,.0f}"
        lines.append(f"{label:<42} {shown:>14} {unit}")
    return "\n".join(lines)


MARKDOWN = [
    ("records", "records", "{:,}"),
    ("commit", "commit", "{}"),
    ("date", "date", "{}"),
    ("others' CPU", "cpu_busy_cores_others", "{:.2f}"),
    ("events", "events", "{:,}"),
    ("ingest ev/s", "ingest_events_per_s", "{:,.0f}"),
    ("reference rows/s", "copy_binary_rows_per_s", "{:,.0f}"),
    ("ingest ratio", "ingest_ratio", "{:.4f}"),
    ("replay ev/s", "replay_events_per_s", "{:,.0f}"),
    ("raw SELECT rows/s", "raw_select_rows_per_s", "{:,.0f}"),
    ("replay ratio", "replay_ratio", "{:.3f}"),
    ("repository.get agg/s", "repository_get_aggregates_per_s", "{:,.0f}"),
    ("bill items", "bill_items", "{:,}"),
    ("bill s", "bill_s", "{:.1f}"),
    ("bill peak RSS MB", "bill_peak_rss_mb", "{:,.0f}"),
    ("trace p50 ms", "trace_p50_ms", "{:,.0f}"),
    ("trace p99 ms", "trace_p99_ms", "{:,.0f}"),
]


def markdown_row(result: dict[str, Any]) -> str:
    """One row of the tables in docs/benchmarks.md."""
    cells = []
    for _title, key, fmt in MARKDOWN:
        value = result.get(key)
        if key == "commit" and isinstance(value, str):
            value = value[:7] + ("+dirty" if value.endswith("+dirty") else "")
        elif key == "date" and isinstance(value, str):
            value = value[:10]
        cells.append("-" if value is None else fmt.format(value))
    return "| " + " | ".join(cells) + " |"


def markdown_header() -> str:
    titles = [title for title, _key, _fmt in MARKDOWN]
    return "| " + " | ".join(titles) + " |\n|" + "---|" * len(titles)


def main(argv: list[str] | None = None) -> None:
    global say
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--store", help="an empty store (default: SQLite in the work directory)")
    where.add_argument(
        "--throwaway-postgres",
        action="store_true",
        help="start a disposable PostgreSQL cluster (tests/support/postgres.py) and use it",
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--markdown",
        nargs="*",
        metavar="JSON_FILE",
        default=None,
        help="print a row for docs/benchmarks.md; with files (saved --json output), "
        "print their rows and run nothing",
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="kept; default: a temp dir")
    parser.add_argument("--page-size", type=int, default=1000, help="replay page size")
    parser.add_argument("--trace-samples", type=int, default=100)
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=300,
        help="kill the billing run when it (and the throwaway server) used no CPU this long",
    )
    parser.add_argument(
        "--commit", default=None, help="the commit measured (default: git rev-parse HEAD)"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown_header())
        for name in args.markdown:
            print(markdown_row(orjson.loads(Path(name).read_bytes())))
        return
    if args.records < 1:
        parser.error("--records must be positive")
    if not args.quiet:
        say = lambda message: print(  # noqa: E731
            f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True
        )

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="psledger-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    info = {
        **machine(),
        "commit": args.commit or commit(),
        "date": dt.datetime.now(dt.UTC).isoformat()[:19],
    }
    try:
        if args.throwaway_postgres:
            with throwaway_postgres() as url:
                result = measure(
                    url, args.records, work, args.page_size, args.trace_samples, args.stall_seconds
                )
        else:
            store = args.store or f"sqlite:///{work / 'ledger.db'}"
            result = measure(
                store, args.records, work, args.page_size, args.trace_samples, args.stall_seconds
            )
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    result.update(info, load_after=os.getloadavg(), **METER.result())
    if args.json:
        print(orjson.dumps(result).decode())
    elif args.markdown is not None:
        print(markdown_header())
        print(markdown_row(result))
    else:
        print(render(result))


if __name__ == "__main__":
    main()
