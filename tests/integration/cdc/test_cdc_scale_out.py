"""Scale-out: three `psledger ingest kafka` processes in one consumer group on
one PostgreSQL store, topics of three partitions, one consumer SIGKILLed
mid-way. Real Debezium output (the embedded engine over the firm) is spread
over the partitions by key, so a source transaction's records land with
different consumers; it must still be applied whole, exactly once, and
billing must give exactly the invoices one consumer gives. A new group
reading everything again appends nothing.

`PSLEDGER_DRILL_REPEAT=N` runs the kill-and-take-over part N times.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from psa_firm import SOW_APPROVED, ListSource, event_count, sources_of
from support.broker import TansuBroker
from support.postgres import PostgresCluster
from test_cdc_kafka_drill import capture

from cdc.records import RawRecord
from psledger.bootstrap import Wiring, bootstrap
from psledger.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.engine, pytest.mark.broker]

PSLEDGER = [sys.executable, "-m", "psledger"]
REPEAT = int(os.environ.get("PSLEDGER_DRILL_REPEAT", "1"))
PERIOD = "2026-01"


def store_ledger(url: str) -> Wiring:
    wiring = bootstrap(Settings(store=url))
    wiring.ledger.apply_webhook(SOW_APPROVED.read_bytes())
    return wiring


def produce(broker: TansuBroker, records: list[RawRecord], partitions: int) -> list[str]:
    """Every record to its topic (created with `partitions`), spread by key."""
    topics = sorted({r.topic for r in records})
    for topic in topics:
        broker.create_topic(topic, partitions, exist_ok=True)
        broker.create_topic(f"{topic}.dlq", exist_ok=True)
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 5})
    for r in records:
        producer.produce(r.topic, key=r.key, value=r.value, headers=list(r.headers) or None)
    assert producer.flush(30) == 0
    return topics


def consumer(url: str, broker: TansuBroker, group: str, topics: list[str], idle: int) -> Any:
    return subprocess.Popen(
        [
            *PSLEDGER,
            "--store",
            url,
            "ingest",
            "kafka",
            "--bootstrap-servers",
            broker.bootstrap_servers,
            "--group",
            group,
            "--topics",
            ",".join(topics),
            "--batch-size",
            "7",
            "--idle-polls",
            str(idle),
            "-X",
            "session.timeout.ms=2000",
            "-X",
            "heartbeat.interval.ms=500",
            "-X",
            "partition.assignment.strategy=roundrobin",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[3],
        env={**os.environ, "PSLEDGER_DEBUG": "1"},
    )


def positions(url: str) -> int:
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("select count(*) from psledger_positions").fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return 0


def dedup_keys(wiring: Wiring) -> set[str]:
    return {str(row[0]) for row in wiring.app.fetch("select key from psledger_dedup")}


def states(wiring: Wiring) -> dict[str, tuple[Any, ...]]:
    """Every work item's state and billable figures."""
    return {
        f"{item.KIND}:{item.business_id}": (item.state, item.withdrawn, str(item.fields))
        for item in wiring.ledger.work_items()
    }


def invoices(wiring: Wiring) -> dict[str, tuple[Any, ...]]:
    """Each invoice's figures and lines, by number (what the ERP would get)."""
    found: dict[str, tuple[Any, ...]] = {}
    for inv in wiring.ledger.invoices():
        lines = sorted(
            (str(line.get("item_id")), str(line.get("quantity")), str(line.get("amount")))
            for line in inv.lines
        )
        found[inv.business_id] = (inv.kind, inv.state, inv.net, inv.tax, inv.gross, lines)
    return found


def test_three_consumers_one_killed_give_the_invoices_of_one(
    pg_url: str, pg_cluster: PostgresCluster, tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    # given real Debezium output of the firm
    records = capture(pg_url, tmp_path)
    assert any(r.topic.endswith(".transaction") for r in records)

    # and what one pass over the same records gives, billed
    reference = store_ledger(f"sqlite:///{tmp_path}/reference.db")
    reference.pipeline.run(ListSource(records), flush_incomplete=True)
    reference.ledger.bill(PERIOD)
    expected_keys = dedup_keys(reference)
    expected_states = states(reference)
    expected_invoices = invoices(reference)
    assert expected_invoices and all(v[4] > Decimal(0) for v in expected_invoices.values())
    reference.close()

    for attempt in range(REPEAT):
        # when three consumers share the topics (3 partitions each), one killed mid-way
        run = uuid.uuid4().hex[:8]
        stream = [
            RawRecord(f"{r.topic}.{run}", 0, r.offset, r.key, r.value, r.headers)
            for r in records
        ]
        topics = produce(kafka_broker, stream, partitions=3)
        url = pg_cluster.create_database(f"scale_{run}")
        store_ledger(url).close()
        group = f"scale-{run}"
        procs = [consumer(url, kafka_broker, group, topics, idle=12) for _ in range(3)]
        deadline = time.monotonic() + 120
        while positions(url) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        victim = procs[attempt % 3]
        victim.send_signal(signal.SIGKILL)
        outputs = [p.communicate(timeout=300)[0].decode() for p in procs]
        assert victim.returncode == -signal.SIGKILL
        for proc, out in zip(procs, outputs, strict=True):
            if proc is not victim:
                # 0, or 3 when it left transactions staged for a consumer still running
                assert proc.returncode in (0, 3), out

        # then every change was applied exactly once, every transaction whole
        drill = bootstrap(Settings(store=url))
        try:
            assert drill.app.fetch("select tx_id from psledger_staged") == [], outputs
            assert drill.parking.list() == []
            assert drill.quarantine.list() == []
            # every source change settled exactly once (applied, or superseded by a
            # newer change of its row that another consumer applied first), none doubled
            assert dedup_keys(drill) == expected_keys, f"attempt {attempt}"
            assert max(Counter(sources_of(drill)).values()) == 1

            # and billing gives exactly the invoices of one consumer
            drill.ledger.bill(PERIOD)
            assert states(drill) == expected_states
            assert invoices(drill) == expected_invoices

            # when a new group reads everything again, nothing is appended
            before = event_count(drill)
            again = consumer(url, kafka_broker, f"again-{run}", topics, idle=5)
            out, _ = again.communicate(timeout=300)
            assert again.returncode == 0, out.decode()
            assert event_count(drill) == before
        finally:
            drill.close()
