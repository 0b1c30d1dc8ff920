"""Kill-and-restart and replay drills: real Debezium envelopes through the test broker.

The embedded engine captures a firm (a snapshot of a few hundred time entries,
then streamed transactions); its records are produced to their topics, with
two bad records among them. `psledger ingest kafka` runs as a subprocess with a
small batch size, is SIGKILLed once its first batch is durable, and restarted.
Every source change must end with exactly the events a clean, single pass over
the same records gives: none lost, none doubled. A new consumer group reading
everything again appends nothing.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer
from psa_firm import (
    ListSource,
    create_psa,
    drop_slot,
    engine,
    event_count,
    execute,
    ledger,
    new_slot,
    sources_of,
)
from support.broker import TansuBroker

from cdc.envelope import decode_json
from cdc.records import ChangeEvent, RawRecord

pytestmark = [pytest.mark.postgres, pytest.mark.engine, pytest.mark.broker]

PSLEDGER = [sys.executable, "-m", "psledger"]
EXTRA_ENTRIES = 300
BULK = f"""
insert into time_entries (id, project_id, worker_id, role, work_date, hours, notes, status)
select 'TE-B' || n, 'PRJ-NW-1', 'W-10' || (n % 3), 'consultant',
       date '2026-01-05' + (n % 20), 1 + (n % 7), 'bulk ' || n, 'submitted'
from generate_series(1, {EXTRA_ENTRIES}) as n;
"""
STREAMED = (
    *(
        f"update time_entries set status = 'approved', approved_by = 'pm.lee',"
        f" approved_at = '2026-01-20 12:00:00+00' where id like 'TE-B%' and"
        f" substr(id, 5)::int % 10 = {k}"
        for k in range(10)
    ),
    *(
        f"insert into time_entries (id, project_id, worker_id, role, work_date, hours, status)"
        f" select 'TE-S{k}-' || n, 'PRJ-NW-1', 'W-101', 'consultant', '2026-01-21', 2, 'draft'"
        f" from generate_series(1, 10) as n"
        for k in range(5)
    ),
)


def capture(pg_url: str, tmp_path: Path) -> list[RawRecord]:
    create_psa(pg_url)
    execute(pg_url, BULK)
    slot = new_slot()
    source = engine(pg_url, tmp_path / "offsets.dat", slot)
    records: list[RawRecord] = []
    changed = False
    try:
        for batch in source.batches():
            raws = [r for r in batch if isinstance(r, RawRecord)]
            records.extend(raws)
            source.commit(batch)
            done = any(
                isinstance(d, ChangeEvent) and d.snapshot == "last" for d in map(decode_json, raws)
            )
            if done and not changed:
                changed = True
                execute(pg_url, *STREAMED)
    finally:
        source.close()
        drop_slot(pg_url, slot)
    assert changed
    return records


def bad_records(records: list[RawRecord]) -> list[RawRecord]:
    """A record that is not JSON, and a real one tampered into an ownership violation."""
    entry = next(r for r in records if r.topic == "psa.public.time_entries" and r.value)
    envelope = orjson.loads(entry.value or b"")
    envelope["payload"]["after"]["status"] = "invoiced"
    envelope["payload"]["after"]["id"] = "TE-X1"
    key = orjson.loads(entry.key or b"")
    key["payload"]["id"] = "TE-X1"
    return [
        RawRecord(entry.topic, 0, 0, b'{"payload": {"id": "TE-X0"}}', b'{"before": null, "aft'),
        RawRecord(entry.topic, 0, 0, orjson.dumps(key), orjson.dumps(envelope)),
    ]


def produce(broker: TansuBroker, records: list[RawRecord]) -> list[str]:
    topics = sorted({r.topic for r in records})
    for topic in topics:
        broker.create_topic(topic, exist_ok=True)
        broker.create_topic(f"{topic}.dlq", exist_ok=True)
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 5})
    for r in records:
        producer.produce(r.topic, key=r.key, value=r.value, headers=list(r.headers) or None)
    assert producer.flush(30) == 0
    return topics


def ingest(store: Path, broker: TansuBroker, group: str, topics: list[str], *extra: str) -> Any:
    return subprocess.Popen(
        [
            *PSLEDGER,
            "--store",
            f"sqlite:///{store}",
            "ingest",
            "kafka",
            "--bootstrap-servers",
            broker.bootstrap_servers,
            "--group",
            group,
            "--topics",
            ",".join(topics),
            "-X",
            "session.timeout.ms=2000",
            "-X",
            "heartbeat.interval.ms=500",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[3],
        env={**os.environ, "PSLEDGER_DEBUG": "1"},
    )


def positions(store: Path) -> int:
    try:
        with sqlite3.connect(store, timeout=5) as conn:
            return int(conn.execute("select count(*) from psledger_positions").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def dlq(broker: TansuBroker, topic: str) -> list[dict[str, bytes]]:
    consumer = Consumer(broker.consumer_config(f"dlq-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([f"{topic}.dlq"])
    found: list[dict[str, bytes]] = []
    empty = 0
    try:
        while empty < 3:
            messages = consumer.consume(100, 1.0)
            if not messages:
                empty += 1
                continue
            found.extend(dict(m.headers() or ()) for m in messages if m.error() is None)
    finally:
        consumer.close()
    return found


def test_sigkill_mid_ingest_then_restart_loses_and_doubles_nothing(
    pg_url: str, tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    # given real Debezium output of a firm, with two bad records, on the broker
    records = capture(pg_url, tmp_path)
    assert len(records) > EXTRA_ENTRIES + 100
    stream = [*records[:5], *bad_records(records), *records[5:]]
    run = uuid.uuid4().hex[:8]
    stream = [
        RawRecord(f"{r.topic}.{run}", r.partition, r.offset, r.key, r.value, r.headers)
        for r in stream
    ]
    topics = produce(kafka_broker, stream)

    # and what one clean pass over the same records gives
    reference = ledger(tmp_path / "reference.db")
    expected = reference.pipeline.run(ListSource(stream), flush_incomplete=True)
    assert expected.quarantined == 2
    expected_sources = Counter(sources_of(reference))
    expected_dedup = len(reference.app.fetch("select key from psledger_dedup"))
    assert len(expected_sources) > EXTRA_ENTRIES

    # when the consumer is SIGKILLed once its first batch is durable
    store = tmp_path / "drill.db"
    ledger(store).close()
    group = f"drill-{run}"
    first = ingest(store, kafka_broker, group, topics, "--batch-size", "10", "--idle-polls", "30")
    deadline = time.monotonic() + 90
    while positions(store) == 0 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    assert first.returncode == -signal.SIGKILL, first.stdout.read().decode()  # type: ignore[union-attr]
    drill = ledger(store)
    partial = event_count(drill)
    drill.close()

    # and restarted until the topics are drained
    second = ingest(store, kafka_broker, group, topics, "--batch-size", "10", "--idle-polls", "5")
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out.decode()

    # then every source change has exactly the events of the clean pass
    drill = ledger(store)
    assert 0 < partial < event_count(drill)
    assert Counter(sources_of(drill)) == expected_sources
    assert len(drill.app.fetch("select key from psledger_dedup")) == expected_dedup
    assert drill.parking.list() == []
    assert sorted(q.reason for q in drill.quarantine.list()) == [
        "malformed_json",
        "ownership_violation",
    ]

    # and the bad records went to the dead-letter topic, with why and where
    letters = dlq(kafka_broker, f"psa.public.time_entries.{run}")
    reasons = {h["dlq.reason"].decode() for h in letters}
    assert reasons == {"malformed_json", "ownership_violation"}
    assert all(h["dlq.topic"].decode() == f"psa.public.time_entries.{run}" for h in letters)
    assert all(h["dlq.offset"].decode().isdigit() for h in letters)

    # when a new consumer group reads every topic from the start
    before = event_count(drill)
    again = ingest(store, kafka_broker, f"replay-{run}", topics, "--idle-polls", "5")
    out, _ = again.communicate(timeout=300)

    # then nothing new is appended
    assert again.returncode == 0, out.decode()
    assert " 0 events appended" in out.decode()
    assert event_count(drill) == before
    drill.close()
