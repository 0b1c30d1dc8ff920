"""The ERP outbox relay: `psledger_outbox` rows to a Kafka topic.

Billing writes each issued document's ERP payload to `psledger_outbox` in the
transaction that issues it (psledger/ledger.py). The relay reads the unsent
rows in ``(created_at, number)`` order, a bounded batch at a time, produces
each one keyed by its number (Confluent wire-format Avro registered in the
schema registry under the topic's value subject, or the stored JSON), waits
for the broker to acknowledge the batch, and then marks the acknowledged
rows sent in one store transaction. A row is never marked before its
acknowledgement, so a relay killed at any moment resumes with no gap: the
rows of the batch in flight when it died are sent again (at least once; a
consumer keeps one message per number and payload).

The producer is idempotent (``enable.idempotence``, ``acks=all``), so
librdkafka's own retries add no duplicates; only a restart can.

A row whose payload does not fit the schema is left unsent, reported and
skipped for the rest of the run; one bad document never stops the others.
Broker and registry failures stop the run with a `PublishError`.

Run one relay per store: two would each send the rows they both read (still
at least once, but more repeats). Drills kill it at the `psledger.faults`
points ``outbox_acked`` (a batch acknowledged, not yet marked) and
``outbox_marked``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
from confluent_kafka import KafkaError, KafkaException, Producer

from domain.errors import InfrastructureError, InputError
from projections.read.schemas import erp_schema_text
from psledger import faults
from psledger.app import LedgerApplication, UnitOfWork
from psledger.ledger import utc_now
from psledger.settings import redact

DEFAULT_TOPIC = "psledger.erp.invoices"

# librdkafka's own log lines go to logging, not straight to stderr: a CLI user
# sees one line per failure; an operator who configures logging sees them all
KAFKA_LOG = logging.getLogger("psledger.outbox.kafka")
KAFKA_LOG.addHandler(logging.NullHandler())


class PublishError(InfrastructureError):
    """The broker or the schema registry failed while relaying the outbox."""

    reason = "publish_failed"


class Unencodable(InputError):
    """One outbox row's payload cannot be encoded (it does not fit the schema)."""

    reason = "unencodable_payload"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    number: str
    payload: bytes  # the JSON of projections.erp.erp_payload(invoice)
    created_at: str


class Outbox:
    """`psledger_outbox` through the application's recorder."""

    def __init__(self, app: LedgerApplication) -> None:
        self.app = app
        self.p: str = app.tables.d.placeholder

    def unsent(self, limit: int, skip: Collection[str] = ()) -> list[OutboxEntry]:
        """The oldest `limit` unsent rows, leaving out the numbers in `skip`."""
        rows = self.app.fetch(
            "SELECT number, payload, created_at FROM psledger_outbox WHERE sent_at IS NULL "
            f"ORDER BY created_at, number LIMIT {self.p}",
            [limit + len(skip)],
        )
        entries = [OutboxEntry(r[0], bytes(r[1]), r[2]) for r in rows if r[0] not in skip]
        return entries[:limit]

    def count_unsent(self) -> int:
        rows = self.app.fetch("SELECT COUNT(*) FROM psledger_outbox WHERE sent_at IS NULL")
        return int(rows[0][0])

    def mark_sent(self, numbers: Sequence[str], at: datetime) -> None:
        """One transaction: these rows were acknowledged by the broker."""
        if not numbers:
            return
        uow = UnitOfWork(self.app)  # no aggregates: only the side rows are written
        uow.rows.outbox_sent.extend((number, at.isoformat()) for number in numbers)
        uow.commit()


# -- encoding ------------------------------------------------------------------


class Encoder(Protocol):
    label: str

    def __call__(self, entry: OutboxEntry) -> bytes: ...


class JsonEncoder:
    """The stored JSON as it is."""

    label = "json"

    def __call__(self, entry: OutboxEntry) -> bytes:
        return entry.payload


class AvroEncoder:
    """Confluent wire-format Avro (magic byte, schema id, body) with the
    schema registered under ``<topic>-value`` before the first message."""

    def __init__(
        self,
        registry: Any,
        topic: str,
        schema_file: Path | None = None,
        *,
        registry_url: str = "",
    ) -> None:
        """`schema_file`: another schema than the packaged `erp_invoice.avsc`."""
        try:
            schema_text = (
                erp_schema_text() if schema_file is None else schema_file.read_text("utf-8")
            )
        except OSError as exc:
            raise InputError(f"cannot read the ERP schema {schema_file}: {exc.strerror}") from exc
        self.topic = topic
        self.subject = f"{topic}-value"
        self._url = registry_url
        self._where = (
            f"schema registry {redact(registry_url)}" if registry_url else "schema registry"
        )
        # imported here: the registry client's imports (httpx, authlib) cost
        # every other command a fifth of a second
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.avro import AvroSerializer
        from confluent_kafka.serialization import MessageField, SerializationContext

        try:
            self.schema_id: int = registry.register_schema(
                self.subject, Schema(schema_text, "AVRO")
            )
        except Exception as exc:  # the registry client raises requests/httpx/its own errors
            raise PublishError(
                f"{self._where}: cannot register {self.subject}: {self._reason(exc)}"
            ) from exc
        self.label = f"avro, schema id {self.schema_id}"
        # validate.strict: a payload field the schema lacks is an error, not dropped
        self._serialize = AvroSerializer(
            registry, schema_text, conf={"auto.register.schemas": True, "validate.strict": True}
        )
        self._context = SerializationContext(topic, MessageField.VALUE)

    def __call__(self, entry: OutboxEntry) -> bytes:
        try:
            document = orjson.loads(entry.payload)
        except orjson.JSONDecodeError as exc:
            raise Unencodable(f"outbox row {entry.number}: payload is not JSON: {exc}") from exc
        try:
            value = self._serialize(document, self._context)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise Unencodable(
                f"outbox row {entry.number}: payload does not fit the ERP schema: "
                f"{_first_line(exc)}"
            ) from exc
        except Exception as exc:  # SchemaRegistryError and transport errors
            raise PublishError(f"{self._where}: {self._reason(exc)}") from exc
        if not isinstance(value, bytes):
            raise Unencodable(f"outbox row {entry.number}: the serializer returned nothing")
        return value

    def _reason(self, exc: BaseException) -> str:
        """The error's first line, without the URL's password."""
        text = _first_line(exc)
        return text.replace(self._url, redact(self._url)) if self._url else text


# -- the broker (the relay's only Kafka code) ----------------------------------


@dataclass
class Delivery:
    acked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unconfirmed: int = 0


class KafkaPublisher:
    """An idempotent producer that sends a batch and waits for its acks."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        timeout: float = 30.0,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout = timeout
        self._fatal: list[str] = []
        self.config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "client.id": "psledger-publish",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": int(timeout * 1000),
            "error_cb": self._on_error,
            "logger": KAFKA_LOG,
            **(config or {}),
        }
        self._producer: Any = None

    def connect(self, topic: str) -> None:
        """Fail now, with one line, when the broker cannot be reached."""
        try:
            self._producer = Producer(self.config)
            self._producer.list_topics(topic, timeout=min(self.timeout, 10.0))
        except (KafkaException, ValueError) as exc:
            raise PublishError(
                f"cannot reach Kafka at {self.bootstrap_servers}: {_kafka_reason(exc)}"
            ) from exc

    def send(self, topic: str, messages: Sequence[tuple[str, bytes]]) -> Delivery:
        """Produce (key, value) pairs and wait for the broker's acknowledgements."""
        if self._producer is None:
            self.connect(topic)
        delivery = Delivery()

        def on_delivery(err: Any, msg: Any) -> None:
            if err is None:
                delivery.acked.append(msg.key().decode("utf-8"))
            else:
                delivery.errors.append(f"{msg.key().decode('utf-8', 'replace')}: {err.str()}")

        try:
            for key, value in messages:
                self._produce(topic, key, value, on_delivery)
            delivery.unconfirmed = self._producer.flush(self.timeout + 5.0)
        except KafkaException as exc:
            delivery.errors.append(_kafka_reason(exc))
        if self._fatal:
            delivery.errors.extend(self._fatal)
        return delivery

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.flush(self.timeout)

    def _produce(self, topic: str, key: str, value: bytes, callback: Any) -> None:
        try:
            self._producer.produce(
                topic, key=key.encode("utf-8"), value=value, on_delivery=callback
            )
        except BufferError:  # the local queue is full: let it drain, then once more
            self._producer.flush(self.timeout)
            self._producer.produce(
                topic, key=key.encode("utf-8"), value=value, on_delivery=callback
            )

    def _on_error(self, err: Any) -> None:
        if err.fatal():
            self._fatal.append(err.str())


def _kafka_reason(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return str(exc.args[0].str())
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# -- the relay -----------------------------------------------------------------


class Publisher(Protocol):
    def send(self, topic: str, messages: Sequence[tuple[str, bytes]]) -> Delivery: ...


@dataclass
class RelayReport:
    published: int = 0
    batches: int = 0
    unencodable: dict[str, str] = field(default_factory=dict)  # number -> why
    left_unsent: int = 0


class OutboxRelay:
    """Outbox rows to the topic, marked sent only once acknowledged."""

    def __init__(
        self,
        outbox: Outbox,
        encoder: Encoder,
        publisher: Publisher,
        topic: str = DEFAULT_TOPIC,
        *,
        batch_size: int = 100,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if batch_size < 1:
            raise InputError("--batch-size must be at least 1")
        self.outbox = outbox
        self.encoder = encoder
        self.publisher = publisher
        self.topic = topic
        self.batch_size = batch_size
        self.clock = clock

    def run(
        self,
        *,
        until_empty: bool = True,
        poll_interval: float = 1.0,
        stop: threading.Event | None = None,
        on_batch: Callable[[RelayReport], None] | None = None,
    ) -> RelayReport:
        """Relay batches until the outbox has nothing unsent (`until_empty`)
        or, polling for new rows, until `stop` is set; a batch in flight is
        always finished and marked first."""
        stop = stop or threading.Event()
        report = RelayReport()
        while not stop.is_set():
            entries = self.outbox.unsent(self.batch_size, skip=report.unencodable)
            if not entries:
                if until_empty:
                    break
                stop.wait(poll_interval)
                continue
            self._relay(entries, report)
            if on_batch is not None:
                on_batch(report)
        report.left_unsent = self.outbox.count_unsent()
        return report

    def _relay(self, entries: list[OutboxEntry], report: RelayReport) -> None:
        messages: list[tuple[str, bytes]] = []
        for entry in entries:
            try:
                messages.append((entry.number, self.encoder(entry)))
            except Unencodable as exc:
                report.unencodable[entry.number] = str(exc)
        if not messages:
            return
        delivery = self.publisher.send(self.topic, messages)
        faults.reached("outbox_acked")  # on the topic, not yet marked: sent again
        # what the broker acknowledged is marked even when the rest failed
        self.outbox.mark_sent(delivery.acked, self.clock())
        faults.reached("outbox_marked")
        report.published += len(delivery.acked)
        report.batches += 1
        if delivery.errors:
            raise PublishError(
                f"Kafka did not take {len(messages) - len(delivery.acked)} of "
                f"{len(messages)} messages for {self.topic}: {delivery.errors[0]}"
            )
        if delivery.unconfirmed:
            raise PublishError(
                f"Kafka did not acknowledge {delivery.unconfirmed} messages for {self.topic} "
                "in time; they stay unsent and go again on the next run"
            )
