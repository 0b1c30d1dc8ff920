"""`psledger ingest kafka --metrics-port`: a running consumer serves its own
Prometheus /metrics, whose psledger_* series move as it applies records."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from psa_firm import FIRM_FILE, ledger
from support.broker import TansuBroker
from support.ports import free_port

from cdc.kcat import parse_kcat_line

pytestmark = [pytest.mark.broker]


def applied(text: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("psledger_records_total{") and 'outcome="applied"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_kafka_consumer_serves_metrics_that_move_while_it_ingests(
    tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    # given the firm's change events on the broker, under topics of this run
    run = uuid.uuid4().hex[:8]
    records = [
        parse_kcat_line(line, source="firm", line_no=n)
        for n, line in enumerate(FIRM_FILE.read_bytes().splitlines(), start=1)
        if line.strip()
    ]
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    topics = sorted({f"{r.topic}.{run}" for r in records})
    for topic in topics:
        kafka_broker.create_topic(topic, exist_ok=True)
    for r in records:
        producer.produce(f"{r.topic}.{run}", key=r.key, value=r.value)
    assert producer.flush(30) == 0
    store = tmp_path / "ledger.db"
    ledger(store).close()

    # when a consumer runs with --metrics-port
    port = free_port()
    consumer = subprocess.Popen(
        [sys.executable, "-m", "psledger", "--store", f"sqlite:///{store}", "ingest", "kafka",
         "--bootstrap-servers", kafka_broker.bootstrap_servers, "--group", f"m-{run}",
         "--topics", ",".join(topics), "--idle-polls", "30", "--no-dlq",
         "-X", "session.timeout.ms=2000", "-X", "heartbeat.interval.ms=500",
         "--metrics-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ},
        cwd=Path(__file__).resolve().parents[3],
    )  # fmt: skip
    seen = 0.0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and consumer.poll() is None:
            try:
                seen = applied(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text)
            except httpx.HTTPError:
                seen = 0.0
            if seen > 0:
                break
            time.sleep(0.2)
    finally:
        out, _ = consumer.communicate(timeout=120)

    # then its /metrics showed applied records while it ran, and it ended cleanly
    assert seen > 0, out.decode()
    assert consumer.returncode == 0, out.decode()
