"""A throwaway PostgreSQL cluster for tests.

``PostgresCluster().start()`` runs ``initdb`` into a fresh temporary directory
and starts ``postgres`` on a free loopback port (127.0.0.1) with logical
decoding enabled (``wal_level=logical``, 10 replication slots, 10 WAL senders)
and durability switched off (``fsync``, ``synchronous_commit``,
``full_page_writes``), so it is fast and disposable. Authentication is
``trust``; the superuser is ``postgres``. ``stop()`` kills it
(``pg_ctl stop -m immediate``) and deletes the directory.

Server binaries are found, in order, through ``$PSLEDGER_TEST_PG_BINDIR``,
``pg_config --bindir``, then the newest ``/usr/lib/postgresql/*/bin``
(Debian/Ubuntu layout). ``initdb`` and ``postgres`` refuse to run as root, so
when the tests run as root the server runs as the ``postgres`` OS user (via
``runuser``, or ``su``), and the temporary directory is chowned to it.

Using an existing server instead: set ``PSLEDGER_TEST_PG_URL`` to a superuser
URL (for example ``postgresql://postgres:secret@db.example:5432/postgres``).
Then ``PostgresCluster.from_env()`` starts nothing; ``create_database`` creates
the per-test databases on that server and ``drop_database`` removes them
again (the ``pg_url`` fixture does so after each test). The server must run
with ``wal_level=logical`` and enough replication slots and WAL senders for the
CDC tests.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from .ports import free_port

ENV_URL = "PSLEDGER_TEST_PG_URL"
ENV_BINDIR = "PSLEDGER_TEST_PG_BINDIR"
OS_USER = "postgres"

SERVER_SETTINGS: dict[str, str] = {
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}

_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresUnavailable(RuntimeError):
    """The throwaway cluster cannot be created or started."""


def find_bindir() -> Path:
    """Return the directory holding initdb, pg_ctl and postgres, or raise."""
    candidates: list[tuple[str, Path]] = []
    override = os.environ.get(ENV_BINDIR)
    if override:
        candidates.append((f"${ENV_BINDIR}", Path(override)))
    else:
        pg_config = shutil.which("pg_config")
        if pg_config:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=False
            )
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(("pg_config --bindir", Path(out.stdout.strip())))
        debian = sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda p: [int(x) for x in re.findall(r"\d+", p)],
            reverse=True,
        )
        candidates.extend(("/usr/lib/postgresql/*/bin", Path(p)) for p in debian)

    tried = []
    for origin, bindir in candidates:
        missing = [b for b in _REQUIRED_BINARIES if not os.access(bindir / b, os.X_OK)]
        if not missing:
            return bindir
        tried.append(f"{bindir} (from {origin}; missing {', '.join(missing)})")
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found. Tried: "
        + ("; ".join(tried) if tried else "no candidates (no pg_config on PATH)")
        + f". Install the server (e.g. `apt-get install -y postgresql`), set ${ENV_BINDIR}"
        f" to its bin directory, or set ${ENV_URL} to use an existing server."
    )


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(dbname), parts.query, ""))


class PostgresCluster:
    """A disposable local PostgreSQL cluster, or a handle on an external server.

    Attributes once started: ``host``, ``port``, ``user``, ``admin_url``
    (a superuser URL to the ``postgres`` database).
    """

    def __init__(self, bindir: Path | str | None = None, *, external_url: str | None = None):
        self._bindir = Path(bindir) if bindir is not None else None
        self.external_url = external_url
        self.host = "127.0.0.1"
        self.port = 0
        self.user = OS_USER
        self.admin_url = ""
        self.base_dir: Path | None = None
        self._running = False

    @classmethod
    def from_env(cls) -> PostgresCluster:
        """An external server if ``$PSLEDGER_TEST_PG_URL`` is set, else a local cluster."""
        url = os.environ.get(ENV_URL)
        return cls(external_url=url) if url else cls()

    @property
    def is_external(self) -> bool:
        return self.external_url is not None

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = 60.0) -> PostgresCluster:
        if self._running:
            return self
        if self.external_url is not None:
            self._attach_external(self.external_url)
        else:
            self._start_local(timeout)
        self._running = True
        return self

    def stop(self) -> None:
        """Stop the local server immediately and delete its directory (idempotent)."""
        self._running = False
        if self.base_dir is None:
            return
        base, self.base_dir = self.base_dir, None
        data = base / "data"
        if (data / "postmaster.pid").exists():
            self._run_pg(["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"], base,
                         check=False)
        shutil.rmtree(base, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------

    def create_database(self, name: str) -> str:
        """Create database *name* and return a URL to it."""
        self._check_name(name)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database *name*, its logical replication slots and its sessions."""
        self._check_name(name)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
                " WHERE database = %s AND active_pid IS NOT NULL",
                (name,),
            )
            deadline = time.monotonic() + 10
            while True:
                try:
                    conn.execute(
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                        " WHERE database = %s",
                        (name,),
                    )
                    break
                except psycopg.errors.ObjectInUse:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def url_for(self, dbname: str) -> str:
        return _with_dbname(self.admin_url, dbname)

    # -- internals ---------------------------------------------------------

    @staticmethod
    def _check_name(name: str) -> None:
        if not _DB_NAME.match(name):
            raise ValueError(f"unsafe database name {name!r}: use [A-Za-z_][A-Za-z0-9_]{{0,62}}")

    def _attach_external(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 5432
        self.user = parts.username or OS_USER
        self.admin_url = url
        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise PostgresUnavailable(f"cannot connect to ${ENV_URL} server: {exc}") from exc

    def _run_as_postgres(self) -> bool:
        return os.geteuid() == 0

    def _command(self, argv: list[str]) -> list[str]:
        assert self._bindir is not None
        argv = [str(self._bindir / argv[0]), *argv[1:]]
        if not self._run_as_postgres():
            return argv
        if shutil.which("runuser"):
            return ["runuser", "-u", OS_USER, "--", *argv]
        return ["su", OS_USER, "-s", "/bin/sh", "-c", shlex.join(argv)]

    def _run_pg(
        self, argv: list[str], cwd: Path, *, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        cmd = self._command(argv)
        result = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, check=False,
        )
        if check and result.returncode != 0:
            raise PostgresUnavailable(
                f"`{' '.join(cmd)}` failed with exit code {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}".rstrip()
            )
        return result

    def _start_local(self, timeout: float) -> None:
        if self._bindir is None:
            self._bindir = find_bindir()
        owner: tuple[int, int] | None = None
        if self._run_as_postgres():
            try:
                pw = pwd.getpwnam(OS_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root, but there is no {OS_USER!r} OS user to run the"
                    " server as (initdb and postgres refuse to run as root)"
                ) from None
            if not (shutil.which("runuser") or shutil.which("su")):
                raise PostgresUnavailable("running as root, but neither runuser nor su exist")
            owner = (pw.pw_uid, pw.pw_gid)

        base = Path(tempfile.mkdtemp(prefix="psledger-pg-"))
        self.base_dir = base
        atexit.register(self.stop)
        data, sockets, log = base / "data", base / "sockets", base / "postgres.log"
        sockets.mkdir()
        if owner is not None:
            for path in (base, sockets):
                os.chown(path, *owner)
        try:
            self._run_pg(
                ["initdb", "-D", str(data), "--auth=trust", "-U", OS_USER,
                 "--encoding=UTF8", "--locale=C", "--no-sync"],
                base,
            )
            last_error = ""
            for _attempt in range(3):  # the free port may be taken before we bind it
                port = free_port()
                options = [
                    f"-c port={port}",
                    "-c listen_addresses=127.0.0.1",
                    f"-c unix_socket_directories={sockets}",
                    *(f"-c {k}={v}" for k, v in SERVER_SETTINGS.items()),
                ]
                result = self._run_pg(
                    ["pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", str(int(timeout)),
                     "-o", " ".join(options), "start"],
                    base, check=False, timeout=timeout + 30,
                )
                if result.returncode == 0:
                    self.port = port
                    self.admin_url = f"postgresql://{OS_USER}@{self.host}:{port}/postgres"
                    self._wait_ready(timeout)
                    return
                last_error = f"{result.stdout}\n{result.stderr}\n{_tail(log)}"
            raise PostgresUnavailable(f"pg_ctl start failed three times:\n{last_error}")
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    log = self.base_dir / "postgres.log" if self.base_dir else None
                    raise PostgresUnavailable(
                        f"PostgreSQL on port {self.port} not ready after {timeout}s: {exc}\n"
                        + (_tail(log) if log else "")
                    ) from exc
                time.sleep(0.1)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "server log tail:\n" + "\n".join(text[-lines:])
