"""`psledger publish`: the ERP outbox on a Kafka topic, with real parts.

The Tansu broker, the billed demo on SQLite and on the throwaway PostgreSQL,
the in-memory (mock://) schema registry, the schema kept in avro/.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from outbox_support import (
    ROOT,
    SCHEMA_FILE,
    copy_store,
    decode_wire,
    erp_invoices,
    essentials,
    new_topic,
    outbox,
    psledger,
    read_topic,
    run_demo,
    schema,
)
from support.broker import TansuBroker
from support.ports import free_port

from psledger.bootstrap import bootstrap
from psledger.outbox import AvroEncoder, KafkaPublisher, Outbox, OutboxRelay
from psledger.settings import Settings

REGISTRY = {"PSLEDGER_SCHEMA_REGISTRY_URL": "mock://"}

pytestmark = pytest.mark.broker


def test_avro_publish_puts_one_message_per_row_and_rebuilds_every_invoice(
    demo_db: Path, tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    # given the billed demo: its issued invoices, re-issue and credit note in the outbox
    store = copy_store(demo_db, tmp_path / "ledger.db")
    rows = outbox(store)
    assert len(rows) == 9 and all(sent_at is None for *_, sent_at in rows)
    topic = new_topic(kafka_broker)

    # when the outbox is published as Avro until it is empty
    args = ("publish", "--bootstrap-servers", kafka_broker.bootstrap_servers, "--topic", topic)
    result = psledger(store, *args, "--until-empty", "--batch-size", "4", env=REGISTRY)

    # then it says what it did, and every row is marked sent
    assert result.exit_code == 0, result.output
    assert f"published 9 invoices to {topic} (avro, schema id " in result.output
    assert "in 3 batches; 0 left unsent" in result.output
    assert all(sent_at is not None for *_, sent_at in outbox(store))

    # and the topic holds exactly one message per row, keyed by number, in outbox order
    messages = read_topic(kafka_broker, topic, at_least=9)
    assert [key for key, _ in messages] == [number for number, *_ in rows]

    # and each is Confluent wire-format Avro that avro/erp_invoice.avsc decodes
    # into exactly the stored payload
    parsed = schema()
    stored = {number: orjson.loads(payload) for number, payload, *_ in rows}
    decoded = {}
    for key, value in messages:
        schema_id, record = decode_wire(value, parsed)
        assert schema_id >= 1
        assert record == stored[key]
        decoded[key] = record

    # and a consumer rebuilds every invoice as `psledger invoices --format erp` shows it
    erp = erp_invoices(store)
    assert set(decoded) == set(erp)
    assert {n: essentials(d) for n, d in decoded.items()} == {
        n: essentials(d) for n, d in erp.items()
    }
    credit_note = decoded["GB01-SOW-1042-2026-01-C1"]
    assert credit_note["document_type"] == "credit_note" and credit_note["net"] == "-1200.00"

    # and publishing again sends nothing more
    again = psledger(store, *args, "--until-empty", env=REGISTRY)
    assert again.exit_code == 0, again.output
    assert "published 0 invoices" in again.output
    assert len(read_topic(kafka_broker, topic, at_least=9, settle=1.0)) == 9


def test_on_postgresql_the_messages_decode_with_the_registry_deserializer(
    pg_url: str, tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    # given the billed demo on PostgreSQL, and a registry this test can read
    run_demo(pg_url, tmp_path / "out")
    rows = outbox(pg_url)
    assert len(rows) == 9
    topic = new_topic(kafka_broker, partitions=3)
    registry = SchemaRegistryClient.new_client({"url": "mock://"})

    # when the relay publishes the outbox through that registry
    wiring = bootstrap(Settings(store=pg_url))
    publisher = KafkaPublisher(kafka_broker.bootstrap_servers)
    try:
        relay = OutboxRelay(
            Outbox(wiring.app), AvroEncoder(registry, topic), publisher, topic, batch_size=2
        )
        report = relay.run(until_empty=True)
    finally:
        publisher.close()
        wiring.close()

    # then the schema in avro/ is registered under the topic's value subject
    assert (report.published, report.batches, report.left_unsent) == (9, 5, 0)
    registered = registry.get_latest_version(f"{topic}-value")
    assert orjson.loads(registered.schema.schema_str) == orjson.loads(SCHEMA_FILE.read_bytes())

    # and the registry's AvroDeserializer reads every message back as the stored payload
    deserialize = AvroDeserializer(registry)
    context = SerializationContext(topic, MessageField.VALUE)
    messages = read_topic(kafka_broker, topic, at_least=9)
    stored = {number: orjson.loads(payload) for number, payload, *_ in rows}
    assert sorted(key for key, _ in messages) == sorted(stored)
    for key, value in messages:
        assert deserialize(value, context) == stored[key]
    assert all(sent_at is not None for *_, sent_at in outbox(pg_url))
    erp = erp_invoices(pg_url)
    assert {n: essentials(d) for n, d in stored.items()} == {
        n: essentials(d) for n, d in erp.items()
    }


def test_json_publish_sends_the_stored_payload_as_it_is(
    demo_db: Path, tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    store = copy_store(demo_db, tmp_path / "ledger.db")
    topic = new_topic(kafka_broker)

    result = psledger(
        store, "publish", "--bootstrap-servers", kafka_broker.bootstrap_servers,
        "--topic", topic, "--format", "json", "--until-empty",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "published 9 invoices" in result.output and "(json)" in result.output
    stored = {number: payload for number, payload, *_ in outbox(store)}
    assert dict(read_topic(kafka_broker, topic, at_least=9)) == stored


def test_a_payload_the_schema_cannot_carry_stays_unsent_and_the_rest_go(
    demo_db: Path, tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    # given an outbox row whose payload has a field the schema lacks
    store = copy_store(demo_db, tmp_path / "ledger.db")
    number, payload, *_ = outbox(store)[0]
    odd = orjson.dumps({**orjson.loads(payload), "surprise": "not in the schema"})
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        db.execute("UPDATE psledger_outbox SET payload = ? WHERE number = ?", (odd, number))
    assert outbox(store)[0][1] == odd
    topic = new_topic(kafka_broker)

    # when the outbox is published
    result = psledger(
        store, "publish", "--bootstrap-servers", kafka_broker.bootstrap_servers,
        "--topic", topic, "--until-empty", env=REGISTRY,
    )  # fmt: skip

    # then the others are on the topic and marked, that one is named and left unsent
    assert result.exit_code == 1
    assert "published 8 invoices" in result.output and "1 left unsent" in result.output
    assert f"first {number}: outbox row {number}: payload does not fit" in result.stderr
    assert sorted(k for k, _ in read_topic(kafka_broker, topic, at_least=8)) == sorted(
        n for n, *_ in outbox(store)[1:]
    )
    assert [n for n, *_, sent_at in outbox(store) if sent_at is None] == [number]


def _cli(store: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A separate process: librdkafka writes to fd 2 itself, so only a real
    process shows everything a user would see on stderr."""
    return subprocess.run(
        [sys.executable, "-m", "psledger", "--store", store, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_an_unreachable_broker_is_one_line_and_nothing_is_marked(
    demo_db: Path, tmp_path: Path
) -> None:
    store = copy_store(demo_db, tmp_path / "ledger.db")
    dead = f"127.0.0.1:{free_port('127.0.0.1')}"
    env = {**os.environ, **REGISTRY}
    env.pop("PSLEDGER_DEBUG", None)

    result = _cli(store, "publish", "--bootstrap-servers", dead, "--until-empty", "--timeout", "2",
                  env=env)  # fmt: skip

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"psledger: error: cannot reach Kafka at {dead}: "
        "Failed to get metadata: Local: Broker transport failure"
    ]
    assert all(sent_at is None for *_, sent_at in outbox(store))


def test_an_unreachable_registry_is_one_line_without_its_password(
    demo_db: Path, tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    store = copy_store(demo_db, tmp_path / "ledger.db")
    port = free_port("127.0.0.1")
    env = {**os.environ, "PSLEDGER_SCHEMA_REGISTRY_URL": f"http://ops:s3cret@127.0.0.1:{port}"}
    env.pop("PSLEDGER_DEBUG", None)

    result = _cli(store, "publish", "--bootstrap-servers", kafka_broker.bootstrap_servers,
                  "--until-empty", env=env)  # fmt: skip

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"psledger: error: schema registry http://ops:***@127.0.0.1:{port}: "
        "cannot register psledger.erp.invoices-value: "
    )
    assert "s3cret" not in result.stderr + result.stdout
    assert all(sent_at is None for *_, sent_at in outbox(store))
