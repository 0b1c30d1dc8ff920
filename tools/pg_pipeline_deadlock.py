"""Reproduce the pipeline-mode deadlock of a large eventsourcing write (psycopg #685).

    .venv/bin/python tools/pg_pipeline_deadlock.py --url postgresql://USER@HOST:PORT/DB \\
        [--recorder library|psledger] [--events 8000] [--size 800] [--tries 3] [--timeout 20]

Each try inserts `--events` stored events of `--size` bytes with one
`insert_events` call, in a fresh schema of the database named by --url
(created and dropped here; nothing else in the database is touched). It
starts no server. A try that has no answer after --timeout seconds is
reported as "deadlocked", with what the server backend waits on, and its
backend is terminated.

`--recorder library` is eventsourcing's PostgresApplicationRecorder: one
`conn.pipeline()` and a `Pipeline.sync()` after the events' INSERT. psycopg's
pipeline loop stops sending once its command queue is empty although libpq
still holds unsent bytes of the large INSERT, and `sync()` then only waits
to read; the server waits for the rest of the message (wait event
ClientRead), the client for an answer. On a 2-core machine about 2 tries in
3 deadlock with the defaults. `--recorder psledger` is psledger's recorder
(no pipeline, bounded statements): it never does.

Exit status: 0 when no try deadlocked, 1 when one did.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def datastore(url: str, schema: str) -> PostgresDatastore:
    parts = urlsplit(url)
    return PostgresDatastore(
        dbname=unquote(parts.path.strip("/")),
        host=parts.hostname or "localhost",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        schema=schema,
        pool_size=1,
    )


def make_recorder(kind: str, store: PostgresDatastore) -> PostgresApplicationRecorder:
    if kind == "psledger":
        from psledger.store.postgres import LedgerPostgresRecorder

        recorder: PostgresApplicationRecorder = LedgerPostgresRecorder(
            store, events_table_name="probe_events"
        )
    else:
        recorder = PostgresApplicationRecorder(store, events_table_name="probe_events")
    recorder.create_table()  # eventsourcing's own DDL, in the probe's schema
    return recorder


def backend_wait(admin: psycopg.Connection[Any], schema: str) -> str:
    """What the probe's server backend is doing (pg_stat_activity)."""
    row = admin.execute(
        "SELECT state, wait_event_type, wait_event, pid FROM pg_stat_activity "
        "WHERE application_name = %s AND pid <> pg_backend_pid()",
        (schema,),
    ).fetchone()
    if row is None:
        return "no backend"
    state, wait_type, wait_event, pid = row
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return f"backend {state}, waiting on {wait_type}/{wait_event}"


def one_try(url: str, kind: str, events: int, size: int, timeout: float) -> tuple[bool, str]:
    schema = f"probe_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(url, autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    os.environ["PGAPPNAME"] = schema  # names the probe's connections for pg_stat_activity
    store = datastore(url, schema)
    store.pool.kwargs["options"] = f"-c search_path={schema}"  # nothing outside the probe's schema
    try:
        recorder = make_recorder(kind, store)
        batch = [
            StoredEvent(uuid.uuid4(), 1, "probe.Event", os.urandom(size // 2).hex().encode())
            for _ in range(events)
        ]
        done: list[int] = []
        failed: list[BaseException] = []

        def insert() -> None:
            try:
                done.append(len(recorder.insert_events(batch) or ()))
            except BaseException as exc:
                failed.append(exc)

        started = time.monotonic()
        worker = threading.Thread(target=insert, daemon=True)
        worker.start()
        worker.join(timeout)
        took = time.monotonic() - started
        if worker.is_alive():
            return (
                False,
                f"deadlocked (no answer after {timeout:.0f} s; {backend_wait(admin, schema)})",
            )
        if failed:
            return True, f"failed: {type(failed[0]).__name__}: {failed[0]}"
        return True, f"ok: {done[0]} events in {took:.2f} s"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="postgresql://USER@HOST:PORT/DB")
    parser.add_argument("--recorder", choices=("library", "psledger"), default="library")
    parser.add_argument("--events", type=int, default=8000)
    parser.add_argument("--size", type=int, default=800, help="bytes of state per event")
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per try")
    args = parser.parse_args()
    deadlocked = 0
    for n in range(1, args.tries + 1):
        ok, what = one_try(args.url, args.recorder, args.events, args.size, args.timeout)
        deadlocked += not ok
        print(
            f"try {n} ({args.recorder}, {args.events} events of {args.size} B): {what}", flush=True
        )
    print(f"{deadlocked} of {args.tries} tries deadlocked")
    # a deadlocked try leaves its thread blocked in a socket wait: do not join it
    sys.stdout.flush()
    os._exit(1 if deadlocked else 0)


if __name__ == "__main__":
    main()
