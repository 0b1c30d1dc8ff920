"""Helpers for the outbox relay tests: a billed demo store, the CLI, the topic.

The demo (two months of the sample firm, billed) is built once per session
on SQLite and copied per test; PostgreSQL tests build their own.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import fastavro
import orjson
from click.testing import CliRunner, Result
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from support.broker import TansuBroker

from psledger.bootstrap import bootstrap
from psledger.cli import cli
from psledger.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_FILE = ROOT / "avro" / "erp_invoice.avsc"
WIRE_MAGIC = 0


def psledger(store: str, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in this process, as a user would type it."""
    return CliRunner().invoke(cli, ["--store", store, *args], env=env, catch_exceptions=False)


def run_demo(store: str, out: Path) -> None:
    result = psledger(store, "demo", "--out", str(out))
    assert result.exit_code == 0, result.output


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"  # path is absolute: sqlite:////abs/path.db


def copy_store(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return sqlite_url(target)


def outbox(store: str) -> list[tuple[str, bytes, str, str | None]]:
    """(number, payload, created_at, sent_at) in the relay's order."""
    wiring = bootstrap(Settings(store=store))
    try:
        rows = wiring.app.fetch(
            "SELECT number, payload, created_at, sent_at FROM psledger_outbox "
            "ORDER BY created_at, number"
        )
        return [(r[0], bytes(r[1]), r[2], r[3]) for r in rows]
    finally:
        wiring.close()


def erp_invoices(store: str) -> dict[str, dict[str, Any]]:
    """`psledger invoices --format erp`, by number."""
    result = psledger(store, "invoices", "--format", "erp")
    assert result.exit_code == 0, result.output
    return {doc["number"]: doc for doc in orjson.loads(result.output)}


def new_topic(broker: TansuBroker, partitions: int = 1) -> str:
    topic = f"psledger.erp.invoices.{uuid.uuid4().hex[:10]}"
    broker.create_topic(topic, partitions)
    return topic


def read_topic(
    broker: TansuBroker, topic: str, *, at_least: int = 0, settle: float = 2.0, limit: float = 30.0
) -> list[tuple[str, bytes]]:
    """Every message on the topic, in order per partition: read until at
    least `at_least` arrived and then nothing more for `settle` seconds
    (`settle=0`: return as soon as `at_least` arrived)."""
    consumer = Consumer(broker.consumer_config(f"reader-{uuid.uuid4().hex[:8]}"))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        messages: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + limit
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                if len(messages) >= at_least and time.monotonic() - quiet_since > settle:
                    break
                continue
            messages.append((message.key().decode(), message.value()))
            quiet_since = time.monotonic()
            if settle <= 0 and len(messages) >= at_least:
                break  # enough: the caller acts while the producer is busy
        return messages
    finally:
        consumer.close()


def schema() -> Any:
    return fastavro.parse_schema(orjson.loads(SCHEMA_FILE.read_bytes()))


def decode_wire(value: bytes, parsed: Any) -> tuple[int, dict[str, Any]]:
    """(schema id, record): the 5-byte Confluent header, then fastavro's
    schemaless reader with the schema kept in avro/."""
    assert value[0] == WIRE_MAGIC, value[:5]
    schema_id = int.from_bytes(value[1:5], "big")
    record: dict[str, Any] = fastavro.schemaless_reader(io.BytesIO(value[5:]), parsed, None)
    return schema_id, record


def essentials(doc: dict[str, Any]) -> dict[str, Any]:
    """What the ERP books: number, kind, totals and lines (not the later state)."""
    keys = ("number", "document_type", "kind", "currency", "net", "tax", "gross", "tax_rate")
    return {**{k: doc[k] for k in keys}, "lines": doc["lines"]}


def duplicates(messages: list[tuple[str, bytes]]) -> dict[str, int]:
    return {k: n for k, n in Counter(k for k, _ in messages).items() if n > 1}


def publish_process(
    store: str, broker: TansuBroker, topic: str, *args: str, fault: str | None = None
) -> subprocess.Popen[str]:
    """`python -m psledger publish` as its own process (so it can be killed)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PSLEDGER_FAULT", "PSLEDGER_DEBUG")}
    env["PSLEDGER_SCHEMA_REGISTRY_URL"] = "mock://"
    if fault:
        env["PSLEDGER_FAULT"] = fault
    command = [
        sys.executable, "-m", "psledger", "--store", store, "publish",
        "--bootstrap-servers", broker.bootstrap_servers, "--topic", topic, *args,
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
