"""KafkaChangeSource and DeadLetterProducer against the test broker (Tansu)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from cdc.envelope import decode_json
from cdc.kafka import DeadLetterProducer, KafkaChangeSource
from cdc.records import ChangeEvent, RawRecord
from cdc.sources import FileChangeSource

pytestmark = pytest.mark.broker

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "debezium" / "psa_sample.jsonl"


def sample() -> list[RawRecord]:
    return [r for b in FileChangeSource([SAMPLE]).batches() for r in b if isinstance(r, RawRecord)]


def produce(broker: Any, topic: str, records: list[RawRecord]) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for r in records:
        producer.produce(topic, key=r.key, value=r.value, headers=list(r.headers))
    assert producer.flush(10) == 0


def source(broker: Any, topic: str, group: str) -> KafkaChangeSource:
    tuning = {
        k: v
        for k, v in broker.consumer_config(group).items()
        if k not in ("bootstrap.servers", "group.id")
    }
    return KafkaChangeSource(
        broker.bootstrap_servers,
        group,
        [topic],
        batch_size=3,
        timeout=1.0,
        idle_polls=3,
        config=tuning,
    )


def drain(src: KafkaChangeSource) -> list[RawRecord]:
    seen: list[RawRecord] = []
    try:
        for batch in src.batches():
            seen.extend(r for r in batch if isinstance(r, RawRecord))
            src.commit(batch)
    finally:
        src.close()
    return seen


def test_consumed_batches_decode_and_committed_offsets_are_not_redelivered(
    kafka_broker: Any,
) -> None:
    topic, group = f"psa.public.t_{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    records = [r for r in sample() if r.topic == "psa.public.time_entries"]
    produce(kafka_broker, topic, records)

    first = drain(source(kafka_broker, topic, group))
    assert [r.offset for r in first] == list(range(len(records)))
    assert [r.value for r in first] == [r.value for r in records]
    ops = [d.op for d in map(decode_json, first) if isinstance(d, ChangeEvent)]
    assert ops == ["c", "u"]

    assert drain(source(kafka_broker, topic, group)) == []
    produce(kafka_broker, topic, records[:1])
    again = drain(source(kafka_broker, topic, group))
    assert [r.offset for r in again] == [len(records)]


def test_the_flush_hook_runs_before_partitions_are_revoked(kafka_broker: Any) -> None:
    topic, group = f"psa.public.t_{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    produce(kafka_broker, topic, sample()[:2])
    src = source(kafka_broker, topic, group)
    flushed: list[int] = []
    src.flush_hook = lambda: flushed.append(1)
    batch = next(src.batches())
    assert batch and not flushed
    src.commit(batch)
    src.close()  # leaving the group revokes the partitions
    assert flushed == [1]


def test_dead_letters_carry_the_reason_and_origin(kafka_broker: Any) -> None:
    topic = f"psa.public.t_{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(f"{topic}.dlq")
    raw = RawRecord(topic, 0, 41, b'{"id":"x"}', b"{broken", (("h", b"v"),))
    dlq = DeadLetterProducer(kafka_broker.bootstrap_servers)
    assert dlq.send(raw, "malformed_json", "value is not JSON") == f"{topic}.dlq"
    dlq.close()

    consumer = Consumer(kafka_broker.consumer_config(f"g-{uuid.uuid4().hex[:8]}"))
    consumer.assign([TopicPartition(f"{topic}.dlq", 0, 0)])
    try:
        messages = consumer.consume(1, 10)
    finally:
        consumer.close()
    assert len(messages) == 1 and messages[0].value() == b"{broken"
    headers = dict(messages[0].headers())
    assert headers["dlq.reason"] == b"malformed_json"
    assert headers["dlq.topic"] == topic.encode()
    assert (headers["dlq.partition"], headers["dlq.offset"], headers["h"]) == (b"0", b"41", b"v")
