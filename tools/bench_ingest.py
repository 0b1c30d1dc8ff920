"""Benchmark: CDC file ingestion, batched vs one transaction per record.

    .venv/bin/python tools/bench_ingest.py [--records 3000] [--store-dir DIR]

Writes a Debezium file of N approved time entries (plus master data) for the
reference PSA, ingests it into a fresh SQLite ledger twice - once with
batches of 500 records (one transaction each) and once with batches of one
record (the per-event baseline) - and reports records per second and the
ratio between them, both measured in the same run. A second pass of the
batched file measures the dedup path (a replay appends nothing).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cdc.sources import FileChangeSource
from psledger.bootstrap import bootstrap
from psledger.demo import firm
from psledger.demo.envelopes import DebeziumWriter
from psledger.demo.run import reference_webhook
from psledger.settings import Settings


def write_input(path: Path, records: int) -> None:
    with path.open("wb") as out:
        writer = DebeziumWriter(out)
        at = datetime(2026, 1, 2, tzinfo=UTC)
        writer.snapshot("rate_cards", firm.rate_cards(), at)
        writer.snapshot("rate_card_lines", firm.rate_card_lines(), at)
        writer.snapshot("projects", firm.projects(), at)
        day = date(2026, 1, 5)
        batch = []
        for n in range(records):
            entry = firm.time_entry(
                f"TE-{n:06d}",
                "PRJ-NW-1",
                "W-1001",
                "senior-consultant",
                day + timedelta(days=n % 20),
                "1.50",
                "pm.grey",
            )
            batch.append(("time_entries", "c", None, entry))
            if len(batch) == 10:
                writer.transaction(batch, at)
                batch = []
        if batch:
            writer.transaction(batch, at)


def ingest(path: Path, db: Path, batch_size: int, *, again: bool = False) -> tuple[float, int]:
    wiring = bootstrap(Settings(store=f"sqlite:///{db}"))
    try:
        if not again:
            for name in ("crm.sow.approved.json",):
                wiring.ledger.apply_webhook(reference_webhook(name))
        start = time.perf_counter()
        report = wiring.pipeline.run(FileChangeSource([path], batch_size=batch_size))
        return time.perf_counter() - start, report.records
    finally:
        wiring.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--store-dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.store_dir or Path(tempfile.mkdtemp(prefix="psledger-bench-"))
    source = work / "time_entries.jsonl"
    write_input(source, args.records)

    batched_s, n = ingest(source, work / "batched.db", 500)
    replay_s, _ = ingest(source, work / "batched.db", 500, again=True)
    single_s, _ = ingest(source, work / "single.db", 1)
    print(f"input: {n} Debezium records ({args.records} time entries) in {source}")
    print(f"baseline, 1 record per transaction: {n / single_s:9.0f} records/s ({single_s:.2f} s)")
    print(f"batched, 500 per transaction:       {n / batched_s:9.0f} records/s ({batched_s:.2f} s)")
    print(f"replay of the same file (dedup):    {n / replay_s:9.0f} records/s ({replay_s:.2f} s)")
    print(f"ratio batched / baseline: {single_s / batched_s:.1f}x")


if __name__ == "__main__":
    main()
