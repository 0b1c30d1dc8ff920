"""tools/bench.py as someone reruns it: a tiny size on SQLite, JSON out."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "bench.py"
KEYS = (
    "records",
    "events",
    "ingest_events_per_s",
    "copy_binary_rows_per_s",
    "ingest_ratio",
    "ingest_peak_rss_mb",
    "replay_events_per_s",
    "raw_select_rows_per_s",
    "replay_ratio",
    "bill_items",
    "bill_s",
    "bill_peak_rss_mb",
    "bill_processes",
    "bill_aggregates",
    "bill_floor_load_s",
    "bill_floor_encode_s",
    "bill_floor_write_s",
    "bill_floor_s",
    "trace_p50_ms",
    "trace_p99_ms",
    "trace_first_ms",
    "trace_cold_p50_ms",
    "trace_cold_p99_ms",
    "decode_only_events_per_s",
    "decode_floor_ratio",
    "raw_parse_rows_per_s",
    "parse_floor_ratio",
    "items_s",
    "items_peak_rss_mb",
    "invoices_peak_rss_mb",
    "invoices_s",
)


def test_bench_measures_every_step_and_its_figures_agree(tmp_path: Path) -> None:
    work = tmp_path / "work"
    options = ["--records", "400", "--json", "--quiet", "--trace-samples", "5"]
    options += ["--work-dir", str(work)]
    done = subprocess.run(
        [sys.executable, str(TOOL), *options, "--store", f"sqlite:///{tmp_path}/bench.db"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)

    for key in KEYS:
        assert isinstance(figures[key], int | float) and figures[key] > 0, key
    assert figures["trace_items_avg"] > 0
    # the file holds the records asked for, less at most a cut timesheet
    assert figures["records_asked"] - 12 < figures["records"] <= figures["records_asked"]
    # each time entry is captured, then approved: at least two events each
    assert figures["events"] >= 2 * figures["time_entries"]
    assert figures["stored_events"] > figures["events"]  # the webhooks' events too
    # every time entry is approved in January, so billing invoices each one
    assert figures["bill_items"] == figures["time_entries"]
    assert figures["invoices"] == figures["projects"]
    # a run this small stays in one process; the floor reads every item it
    # invoiced, and its invoices and contracts too, and is a part of its work
    # (the scratch store it wrote into is gone)
    assert figures["bill_processes"] == 1
    assert figures["bill_aggregates"] > figures["bill_items"]
    parts = ("bill_floor_load_s", "bill_floor_encode_s", "bill_floor_write_s")
    assert math.isclose(figures["bill_floor_s"], sum(figures[part] for part in parts))
    assert figures["bill_floor_s"] < figures["bill_s"]
    assert not [path for path in work.iterdir() if path.name.startswith("bench_scratch")]
    assert (work / "psa.jsonl").exists()  # the work directory given is kept
    # the reads printed a line per item and per invoice (and their headers)
    assert figures["items_lines"] > figures["time_entries"]
    assert figures["invoices"] < figures["invoices_lines"] < figures["time_entries"]
    assert figures["trace_p99_ms"] >= figures["trace_p50_ms"]
    assert figures["trace_cold_p99_ms"] >= figures["trace_cold_p50_ms"]
    assert figures["reference_method"] == "executemany"
    # decoding the records is a part of the ingest's work, so it outruns it
    assert figures["decode_only_events_per_s"] > figures["ingest_events_per_s"]
    for ratio, rate, reference in (
        ("ingest_ratio", "ingest_events_per_s", "copy_binary_rows_per_s"),
        ("replay_ratio", "replay_events_per_s", "raw_select_rows_per_s"),
        ("decode_floor_ratio", "decode_only_events_per_s", "copy_binary_rows_per_s"),
        ("parse_floor_ratio", "raw_parse_rows_per_s", "raw_select_rows_per_s"),
    ):
        assert math.isclose(figures[ratio], figures[rate] / figures[reference]), ratio
