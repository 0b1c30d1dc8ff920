"""Shared pytest fixtures: the throwaway PostgreSQL cluster and the test broker.

pg_cluster    session: one PostgreSQL 15 cluster with wal_level=logical
              (or the server named by $PSLEDGER_TEST_PG_URL); see
              tests/support/postgres.py.
pg_url        function: URL of a fresh, empty database on that cluster.
kafka_broker  session: one in-memory Tansu (Kafka-protocol) broker; see
              tests/support/broker.py for its limitations.

A fixture that cannot start fails the tests that use it; nothing is skipped.

tests/ is on sys.path while pytest runs (rootdir conftest, "prepend" import
mode), so test modules import the helpers as ``from support.broker import
consumer_config`` (not ``tests.support``, which needs the repo root on
sys.path).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from support.broker import TansuBroker
from support.postgres import PostgresCluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.from_env()
    try:
        cluster.start()
    except Exception as exc:
        pytest.fail(f"cannot start the test PostgreSQL cluster: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex}"
    url = pg_cluster.create_database(name)
    yield url
    if pg_cluster.is_external:
        pg_cluster.drop_database(name)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[TansuBroker]:
    broker = TansuBroker()
    try:
        broker.start()
    except Exception as exc:
        pytest.fail(f"cannot start the test Kafka broker (Tansu): {exc}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()
