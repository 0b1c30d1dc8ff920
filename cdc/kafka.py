"""Kafka adapters: KafkaChangeSource and DeadLetterProducer (confluent-kafka).

Offsets are stored (``store_offsets``) and committed only in
``commit(batch)``, which the pipeline calls once the whole batch is durable
(applied, set aside, or staged as a piece of an incomplete transaction);
``enable.auto.offset.store`` is off so nothing moves on its own. The
pipeline holds nothing between batches, so a rebalance has nothing to
flush; a flush hook, called before partitions are revoked, is there for a
caller that does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from cdc.errors import SourceError
from cdc.records import RawRecord
from cdc.sources import BadRecord, Batch, Item

FlushHook = Callable[[], None]
_TOPIC_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


ASSIGNMENT_WAIT = 60.0  # seconds empty polls without partitions do not count as idle


class KafkaChangeSource:
    """Consumes Debezium topics in batches; offsets move only in ``commit``."""

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        *,
        batch_size: int = 500,
        timeout: float = 1.0,
        idle_polls: int | None = None,
        max_batches: int | None = None,
        flush_hook: FlushHook | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.topics = list(topics)
        self.batch_size = batch_size
        self.timeout = timeout
        self.idle_polls = idle_polls
        self.max_batches = max_batches
        self.flush_hook = flush_hook
        self.config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            **(config or {}),
        }
        self._consumer: Any = None
        self._hook_error: BaseException | None = None

    def batches(self) -> Iterator[list[Item]]:
        """Yield non-empty batches; stop after ``idle_polls`` empty polls or ``max_batches``."""
        consumer = self._connect()
        empty = produced = 0
        unassigned_until = time.monotonic() + ASSIGNMENT_WAIT
        while self.max_batches is None or produced < self.max_batches:
            try:
                messages = consumer.consume(self.batch_size, self.timeout)
            except KafkaException as exc:
                raise SourceError(f"Kafka consume failed: {exc}") from exc
            if self._hook_error is not None:
                error, self._hook_error = self._hook_error, None
                raise SourceError(f"flush before rebalance failed: {error}") from error
            batch = [self._raw(m) for m in messages if self._usable(m)]
            if not batch:
                if not consumer.assignment() and time.monotonic() < unassigned_until:
                    # no partitions yet: the group is still rebalancing (a killed
                    # member's session may hold them), which is not being idle
                    continue
                empty += 1
                if self.idle_polls is not None and empty >= self.idle_polls:
                    return
                continue
            empty = 0
            produced += 1
            yield list(batch)

    def commit(self, batch: Batch) -> None:
        """Store and synchronously commit the offsets after ``batch`` (it is durable)."""
        latest: dict[tuple[str, int], int] = {}
        for item in batch:
            if isinstance(item, RawRecord):
                tp = (item.topic, item.partition)
                latest[tp] = max(latest.get(tp, -1), item.offset)
        if not latest or self._consumer is None:
            return
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in latest.items()]
        try:
            self._consumer.store_offsets(offsets=offsets)
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError._NO_OFFSET:
                return
            raise SourceError(f"Kafka offset commit failed: {exc}") from exc

    def close(self) -> None:
        """Leave the group and close the consumer."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                consumer.close()
            except KafkaException as exc:
                raise SourceError(f"Kafka consumer close failed: {exc}") from exc

    def _connect(self) -> Any:
        if self._consumer is None:
            try:
                self._consumer = Consumer(self.config)
                self._consumer.subscribe(self.topics, on_revoke=self._on_revoke)
            except KafkaException as exc:
                raise SourceError(f"cannot subscribe to {self.topics}: {exc}") from exc
        return self._consumer

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        if self.flush_hook is None:
            return
        try:
            self.flush_hook()
        except Exception as exc:  # surfaced from batches(), not inside librdkafka
            self._hook_error = exc

    @staticmethod
    def _usable(message: Any) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.code() == KafkaError._PARTITION_EOF:
            return False
        raise SourceError(f"Kafka error on {message.topic()}: {error}") from KafkaException(error)

    @staticmethod
    def _raw(message: Any) -> RawRecord:
        kind, ts = message.timestamp()
        headers = tuple((name, value or b"") for name, value in (message.headers() or ()))
        return RawRecord(
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            key=message.key(),
            value=message.value(),
            headers=headers,
            timestamp_ms=None if kind == 0 else ts,
        )


class DeadLetterProducer:
    """Copies records that cannot be applied to ``<topic>.dlq``, with why and where."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        suffix: str = ".dlq",
        timeout: float = 10.0,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.suffix = suffix
        self.timeout = timeout
        self._config = {"bootstrap.servers": bootstrap_servers, **(config or {})}
        self._producer: Any = None

    def send(self, item: RawRecord | BadRecord, reason: str, detail: str) -> str:
        """Produce ``item`` to its dead-letter topic and wait for the broker; returns the topic."""
        if isinstance(item, RawRecord):
            topic, partition, offset = item.topic, item.partition, item.offset
            key, value, headers = item.key, item.value, list(item.headers)
        else:
            pos = item.position
            topic, partition, offset = pos.source, pos.partition, pos.offset
            key, value, headers = None, item.raw, []
        headers += [
            ("dlq.reason", reason.encode()),
            ("dlq.detail", detail.encode()),
            ("dlq.topic", topic.encode()),
            ("dlq.partition", str(partition).encode()),
            ("dlq.offset", str(offset).encode()),
        ]
        dlq = _TOPIC_UNSAFE.sub("_", topic) + self.suffix
        failures: list[Any] = []
        try:
            producer = self._connect()
            producer.produce(
                dlq,
                key=key,
                value=value,
                headers=headers,
                on_delivery=lambda err, _msg: failures.append(err) if err else None,
            )
            remaining = producer.flush(self.timeout)
        except (KafkaException, BufferError) as exc:
            raise SourceError(f"cannot produce to {dlq}: {exc}") from exc
        if remaining or failures:
            raise SourceError(f"dead-letter delivery to {dlq} failed: {failures or 'timeout'}")
        return dlq

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.flush(self.timeout)

    def _connect(self) -> Any:
        if self._producer is None:
            self._producer = Producer(self._config)
        return self._producer


def schema_registry(url: str) -> Any:
    """A Confluent schema registry client (``mock://`` gives the in-memory one)."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    try:
        # new_client gives the in-memory MockSchemaRegistryClient for mock:// URLs
        # (the constructor would try HTTP); each client's mock store is its own.
        return SchemaRegistryClient.new_client({"url": url})
    except Exception as exc:  # the client raises plain exceptions for bad config
        raise SourceError(f"cannot use schema registry {url}: {exc}") from exc
