"""Kafka drills: `psledger ingest kafka` killed at the worst moments, restarted.

The firm's real Debezium output (captured once by the embedded engine, two
bad records among it) is produced to fresh topics for every attempt; the
consumers write into a fresh PostgreSQL store. After the kills and a restart
that drains the topics, the store must hold exactly what one clean pass
holds: no source change lost, none doubled, the same invoices.

1. SIGKILL before a batch's store commit (`PSLEDGER_FAULT=store_commit:k`);
2. SIGKILL after it, before its offsets are committed (`store_committed:k`);
3. three consumers in a group, one of the first two killed while the group
   rebalances for the third.

`PSLEDGER_DRILL_REPEAT=N` loops each drill N times, with another k or victim
each time.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from drill_support import (
    Clean,
    assert_converged,
    attempts,
    clean_pass,
    finish,
    position_rows,
    psledger,
    store_ledger,
    wait_for,
)
from psa_firm import ListSource
from support.broker import TansuBroker
from support.postgres import PostgresCluster
from test_cdc_kafka_drill import bad_records, capture
from test_cdc_scale_out import produce

from cdc.records import RawRecord

pytestmark = [pytest.mark.postgres, pytest.mark.engine, pytest.mark.broker]

# Tansu 0.6 describes a group between generations as UNKNOWN (Kafka: PREPARING_/COMPLETING_)
REBALANCING = ("PREPARING_REBALANCING", "COMPLETING_REBALANCING", "UNKNOWN")
CONSUMER = ("-X", "session.timeout.ms=2000", "-X", "heartbeat.interval.ms=500")


@pytest.fixture(scope="module")
def firm(
    pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[list[RawRecord], Clean]]:
    """The firm's Debezium records (with two bad ones) and their clean pass."""
    tmp = tmp_path_factory.mktemp("kafka-firm")
    psa = pg_cluster.create_database(f"psa_{uuid.uuid4().hex[:12]}")
    records = capture(psa, tmp)
    stream = [*records[:5], *bad_records(records), *records[5:]]
    clean = clean_pass(f"sqlite:///{tmp}/clean.db", ListSource(stream))
    assert clean.quarantine == ["malformed_json", "ownership_violation"]
    assert clean.invoices
    yield stream, clean


def on_topics(stream: list[RawRecord], broker: TansuBroker, partitions: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    renamed = [
        RawRecord(f"{r.topic}.{run}", 0, r.offset, r.key, r.value, r.headers) for r in stream
    ]
    return produce(broker, renamed, partitions)


def ingest_kafka(
    url: str, broker: TansuBroker, group: str, topics: list[str], idle: int, **kw: Any
) -> Any:
    return psledger(
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
        "10",
        "--idle-polls",
        str(idle),
        *CONSUMER,
        "-X",
        "partition.assignment.strategy=roundrobin",
        **kw,
    )


def fresh_store(pg_cluster: PostgresCluster) -> str:
    url = pg_cluster.create_database(f"drill_{uuid.uuid4().hex[:12]}")
    store_ledger(url).close()
    return url


@pytest.mark.parametrize("point", ["store_commit", "store_committed"])
def test_sigkill_at_a_fault_point_then_restart_loses_and_doubles_nothing(
    point: str,
    firm: tuple[list[RawRecord], Clean],
    pg_cluster: PostgresCluster,
    kafka_broker: TansuBroker,
) -> None:
    stream, clean = firm
    for attempt in attempts():
        k = 1 + (attempt * 7) % 30  # 1, 8, 15, 22, 29, 6, ...: early, mid-way and late
        context = f"{point}:{k} (attempt {attempt})"
        # given the firm on fresh topics (two partitions each) and a fresh store
        topics = on_topics(stream, kafka_broker, partitions=2)
        url = fresh_store(pg_cluster)
        group = f"drill-{uuid.uuid4().hex[:8]}"

        # when the consumer is SIGKILLed the k-th time it reaches the point
        first = ingest_kafka(url, kafka_broker, group, topics, 30, fault=f"{point}:{k}")
        code, out, err = finish(first)
        assert code == -signal.SIGKILL, f"{context}: not killed\n{out}\n{err}"

        # and restarted until the topics are drained
        code, out, err = finish(ingest_kafka(url, kafka_broker, group, topics, 5))
        assert code == 0, f"{context}\n{out}\n{err}"

        # then the store holds exactly what one clean pass holds
        assert_converged(url, clean, context).close()
        print(f"drill ok: {context}", flush=True)


def rebalancing(admin: AdminClient, group: str) -> bool:
    """The group (known to be STABLE before) is between generations: a member
    joined or left."""
    try:
        found = admin.describe_consumer_groups([group])[group].result(timeout=2)
    except Exception:  # not described yet: not rebalancing either
        return False
    return str(found.state).rsplit(".", 1)[-1] in REBALANCING


def test_one_of_three_consumers_killed_during_a_rebalance_loses_and_doubles_nothing(
    firm: tuple[list[RawRecord], Clean], pg_cluster: PostgresCluster, kafka_broker: TansuBroker
) -> None:
    stream, clean = firm
    admin = kafka_broker.admin()
    for attempt in attempts():
        context = f"attempt {attempt}"
        # given the firm on fresh topics of three partitions, and two consumers at work
        topics = on_topics(stream, kafka_broker, partitions=3)
        url = fresh_store(pg_cluster)
        group = f"rebal-{uuid.uuid4().hex[:8]}"
        procs = [ingest_kafka(url, kafka_broker, group, topics, 12) for _ in range(2)]
        wait_for(lambda url=url: position_rows(url) >= 1, 120, "a first durable batch")

        # when a third joins, and one of the first two is killed while the group rebalances
        procs.append(ingest_kafka(url, kafka_broker, group, topics, 12))
        saw = True
        try:  # (the rebalance starts once the third has started and asked to join)
            wait_for(lambda g=group: rebalancing(admin, g), 20, "the rebalance", step=0.05)
        except AssertionError:
            saw = False  # the broker does not show it: kill on a timer instead
            time.sleep(1.0 + 0.1 * (attempt % 10))
        victim = procs[attempt % 2]
        victim.send_signal(signal.SIGKILL)
        results = [finish(p) for p in procs]

        # then the survivors finish (3: they left a transaction staged for another)
        assert victim.returncode == -signal.SIGKILL, context
        for proc, (code, out, err) in zip(procs, results, strict=True):
            if proc is not victim:
                assert code in (0, 3), f"{context}\n{out}\n{err}"
        # and the store holds exactly what one clean pass holds
        assert_converged(url, clean, f"{context} (rebalance seen: {saw})").close()
        print(f"drill ok: {context} (rebalance seen: {saw})", flush=True)
