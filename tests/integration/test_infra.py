"""The test infrastructure itself: the PostgreSQL cluster and the Tansu broker."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from support.broker import TansuBroker
from support.ports import free_port
from support.postgres import PostgresCluster


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# -- PostgreSQL ---------------------------------------------------------------


@pytest.mark.postgres
def test_cluster_has_logical_decoding(pg_cluster: PostgresCluster) -> None:
    with psycopg.connect(pg_cluster.admin_url) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                (["wal_level", "max_replication_slots", "max_wal_senders"],),
            ).fetchall()
        )
        assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
    assert int(settings["max_replication_slots"]) >= 10
    assert int(settings["max_wal_senders"]) >= 10


@pytest.mark.postgres
def test_cluster_attributes(pg_cluster: PostgresCluster) -> None:
    assert pg_cluster.port > 0
    assert pg_cluster.user
    assert f":{pg_cluster.port}/" in pg_cluster.admin_url
    if not pg_cluster.is_external:
        assert pg_cluster.host == "127.0.0.1"
        assert pg_cluster.user == "postgres"


@pytest.mark.postgres
def test_pg_url_is_a_fresh_database(pg_url: str, pg_cluster: PostgresCluster) -> None:
    with psycopg.connect(pg_url) as conn:
        dbname, is_super = conn.execute(
            "SELECT current_database(), rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() or (None, None)
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert dbname is not None and dbname.startswith("t_")
    assert pg_url == pg_cluster.url_for(dbname)
    assert is_super, "tests connect as a superuser (needed for replication slots)"
    assert tables == (0,)


@pytest.mark.postgres
def test_pg_urls_are_distinct_databases(pg_cluster: PostgresCluster) -> None:
    names = [f"t_{uuid.uuid4().hex}" for _ in range(2)]
    first, second = (pg_cluster.create_database(n) for n in names)
    try:
        assert first != second
        with psycopg.connect(first) as conn:
            conn.execute("CREATE TABLE only_here (id int)")
        with psycopg.connect(second) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (names[1],)
            assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
    finally:
        for name in names:
            pg_cluster.drop_database(name)


@pytest.mark.postgres
def test_logical_replication_slot_works(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        conn.execute("SELECT pg_create_logical_replication_slot('infra_slot', 'test_decoding')")
        conn.execute("INSERT INTO t VALUES (1, 'x')")
        # synchronous_commit=off: decoding sees the commit once the WAL writer
        # flushes it (wal_writer_delay, 200 ms by default), so poll.
        changes: list[str] = []
        deadline = time.monotonic() + 10
        while not any("INSERT" in c for c in changes) and time.monotonic() < deadline:
            time.sleep(0.05)
            changes += [
                row[0]
                for row in conn.execute(
                    "SELECT data FROM pg_logical_slot_get_changes('infra_slot', NULL, NULL)"
                )
            ]
        conn.execute("SELECT pg_drop_replication_slot('infra_slot')")
    assert any("INSERT" in c and "'x'" in c for c in changes), changes


@pytest.mark.postgres
def test_create_database_rejects_unsafe_names(pg_cluster: PostgresCluster) -> None:
    with pytest.raises(ValueError):
        pg_cluster.create_database('x"; DROP DATABASE postgres; --')


# -- broker -------------------------------------------------------------------


def _consume(consumer: Consumer, count: int, timeout: float = 30.0) -> list[Message]:
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is None:
            continue
        assert message.error() is None, message.error()
        messages.append(message)
    return messages


@pytest.mark.broker
def test_broker_serves_metadata(kafka_broker: TansuBroker) -> None:
    host, port = kafka_broker.bootstrap_servers.split(":")
    assert host == "127.0.0.1" and int(port) == kafka_broker.port
    metadata = kafka_broker.admin().list_topics(timeout=10)
    assert [b.port for b in metadata.brokers.values()] == [kafka_broker.port]


@pytest.mark.broker
def test_broker_round_trip_with_committed_offsets(kafka_broker: TansuBroker) -> None:
    topic, group = f"infra-{uuid.uuid4().hex}", f"g-{uuid.uuid4().hex}"
    kafka_broker.create_topic(topic, partitions=1)
    assert topic in kafka_broker.admin().list_topics(timeout=10).topics

    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    delivered: list[str] = []

    def on_delivery(err: object, msg: Message) -> None:
        assert err is None, err
        delivered.append(f"{msg.partition()}:{msg.offset()}")

    for i in range(3):
        producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(),
                         on_delivery=on_delivery)
    assert producer.flush(10) == 0
    assert delivered == ["0:0", "0:1", "0:2"]

    first = Consumer(kafka_broker.consumer_config(group))
    first.subscribe([topic])
    try:
        got = _consume(first, 2)
        assert [(m.key(), m.value(), m.offset()) for m in got] == [
            (b"k0", b"v0", 0), (b"k1", b"v1", 1)
        ]
        first.commit(message=got[-1], asynchronous=False)
        committed = first.committed([TopicPartition(topic, 0)], timeout=10)
        assert committed[0].offset == 2
    finally:
        first.close()

    second = Consumer(kafka_broker.consumer_config(group))
    second.subscribe([topic])
    try:
        got = _consume(second, 1)
        assert [(m.value(), m.offset()) for m in got] == [(b"v2", 2)]
        assert second.poll(1.0) is None
    finally:
        second.close()


@pytest.mark.broker
def test_create_topic_exist_ok(kafka_broker: TansuBroker) -> None:
    from confluent_kafka import KafkaException

    topic = f"infra-{uuid.uuid4().hex}"
    kafka_broker.create_topic(topic, partitions=3)
    kafka_broker.create_topic(topic, partitions=3, exist_ok=True)
    with pytest.raises(KafkaException):
        kafka_broker.create_topic(topic)
    assert len(kafka_broker.admin().list_topics(timeout=10).topics[topic].partitions) == 3
