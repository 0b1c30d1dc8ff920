"""A publish killed mid-way and started again: no gap, no lost invoice.

At least once: a row is marked sent only after the broker acknowledged it,
so what a killed relay had on the topic but not yet marked (its batch in
flight, at most --batch-size rows) is sent again. Nothing else repeats.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import orjson
import pytest
from outbox_support import (
    copy_store,
    decode_wire,
    duplicates,
    erp_invoices,
    essentials,
    new_topic,
    outbox,
    publish_process,
    read_topic,
    schema,
)
from support.broker import TansuBroker

pytestmark = pytest.mark.broker


def test_killed_between_the_ack_and_the_mark_it_resends_only_that_batch(
    demo_db: Path, tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    # given the demo's nine outbox rows and a relay sending two at a time
    store = copy_store(demo_db, tmp_path / "ledger.db")
    rows = outbox(store)
    numbers = [number for number, *_ in rows]
    topic = new_topic(kafka_broker)

    # when it is SIGKILLed after the broker acknowledged its third batch,
    # before that batch is marked sent
    args = ("--until-empty", "--batch-size", "2")
    killed = publish_process(store, kafka_broker, topic, *args, fault="outbox_acked:3")
    _, err = killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL, err

    # then six rows are on the topic and only the first four are marked
    assert [k for k, _ in read_topic(kafka_broker, topic, at_least=6)] == numbers[:6]
    assert [n for n, *_, sent_at in outbox(store) if sent_at is not None] == numbers[:4]

    # when it is started again
    resumed = publish_process(store, kafka_broker, topic, *args)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "published 5 invoices" in out and "0 left unsent" in out

    # then every invoice is on the topic; only the batch in flight came twice,
    # with the same bytes
    messages = read_topic(kafka_broker, topic, at_least=11)
    assert [k for k, _ in messages] == numbers[:6] + numbers[4:]
    assert duplicates(messages) == {numbers[4]: 2, numbers[5]: 2}
    for number in numbers[4:6]:
        assert len({v for k, v in messages if k == number}) == 1
    assert all(sent_at is not None for *_, sent_at in outbox(store))

    # and a consumer that keeps one message per number rebuilds every invoice
    parsed = schema()
    rebuilt = {key: decode_wire(value, parsed)[1] for key, value in messages}
    erp = erp_invoices(store)
    assert {n: essentials(d) for n, d in rebuilt.items()} == {
        n: essentials(d) for n, d in erp.items()
    }


def _grow_outbox(db: Path, copies: int) -> list[str]:
    """More outbox rows (copies of the demo's payloads under new numbers), so
    that a relay sending one row per batch is still busy when it is killed."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT number, payload, created_at FROM psledger_outbox ORDER BY created_at, number"
        ).fetchall()
        new = []
        for i in range(copies):
            number, payload, created_at = rows[i % len(rows)]
            copy = f"{number}-X{i:04d}"
            doc = {**orjson.loads(payload), "number": copy}
            new.append((copy, orjson.dumps(doc), f"{created_at[:-6]}{i:04d}+00:00"))
        conn.executemany("INSERT INTO psledger_outbox VALUES (?, ?, ?, NULL)", new)
    return [number for number, *_ in rows] + [n for n, *_ in new]


def test_killed_at_any_moment_while_polling_it_leaves_no_gap(
    demo_db: Path, tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    # given an outbox of hundreds of rows and a polling relay sending one per batch
    store = copy_store(demo_db, tmp_path / "ledger.db")
    numbers = _grow_outbox(tmp_path / "ledger.db", 400)
    topic = new_topic(kafka_broker, partitions=2)
    relay = publish_process(store, kafka_broker, topic, "--batch-size", "1")

    # when it is SIGKILLed from outside once some messages are on the topic
    try:
        seen = read_topic(kafka_broker, topic, at_least=20, settle=0.0)
    finally:
        relay.send_signal(signal.SIGKILL)
        relay.wait(timeout=30)
    assert relay.returncode == -signal.SIGKILL
    assert len(seen) >= 20
    marked = [n for n, *_, sent_at in outbox(store) if sent_at is not None]
    assert 0 < len(marked) < len(numbers), "the kill was meant to land mid-way"

    # and started again until the outbox is empty
    resumed = publish_process(store, kafka_broker, topic, "--until-empty", "--batch-size", "50")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "0 left unsent" in out

    # then every number is on the topic; at most the one row in flight at the
    # kill came twice
    messages = read_topic(kafka_broker, topic, at_least=len(numbers))
    assert sorted({k for k, _ in messages}) == sorted(numbers)
    assert len(messages) - len(numbers) == sum(n - 1 for n in duplicates(messages).values())
    assert len(duplicates(messages)) <= 1, duplicates(messages)
    assert set(duplicates(messages)) <= set(numbers) - set(marked)
    assert all(sent_at is not None for *_, sent_at in outbox(store))


def test_a_polling_relay_stops_cleanly_on_sigterm_and_picks_up_new_rows(
    demo_db: Path, tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    # given a relay polling an outbox it has emptied
    store = copy_store(demo_db, tmp_path / "ledger.db")
    topic = new_topic(kafka_broker)
    relay = publish_process(store, kafka_broker, topic, "--poll-interval", "0.2")
    try:
        assert len(read_topic(kafka_broker, topic, at_least=9, settle=0.5)) == 9

        # when a new row arrives, it is sent without a restart
        numbers = _grow_outbox(tmp_path / "ledger.db", 1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and outbox(store)[-1][3] is None:
            time.sleep(0.2)
        assert [k for k, _ in read_topic(kafka_broker, topic, at_least=10)] == numbers
    finally:
        # and SIGTERM ends it with its counts and a zero exit
        relay.send_signal(signal.SIGTERM)
        out, err = relay.communicate(timeout=60)
    assert relay.returncode == 0, err
    assert "published 10 invoices" in out and "0 left unsent" in out


def test_a_broker_lost_mid_run_stops_with_one_line_and_the_row_stays_unsent(
    demo_db: Path, tmp_path: Path
) -> None:
    # given a polling relay that has sent the outbox to a broker of its own
    store = copy_store(demo_db, tmp_path / "ledger.db")
    broker = TansuBroker().start()
    try:
        topic = new_topic(broker)
        relay = publish_process(store, broker, topic, "--poll-interval", "0.2", "--timeout", "3")
        assert len(read_topic(broker, topic, at_least=9, settle=0.5)) == 9
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(r[3] is None for r in outbox(store)):
            time.sleep(0.2)

        # when the broker goes away and a new invoice arrives
        broker.stop()
        numbers = _grow_outbox(tmp_path / "ledger.db", 1)
        _, err = relay.communicate(timeout=120)
    finally:
        broker.stop()

    # then the relay stops with one line, and the new row waits for the next run
    assert relay.returncode == 1
    (line,) = err.splitlines()
    assert line.startswith(f"psledger: error: Kafka did not take 1 of 1 messages for {topic}: ")
    assert [n for n, *_, sent_at in outbox(store) if sent_at is None] == [numbers[-1]]
