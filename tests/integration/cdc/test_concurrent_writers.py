"""Writers sharing one PostgreSQL store: a concurrent writer means "decide
again on the new state", never a failure, whichever process wins."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import orjson
import pytest
from psa_firm import SOW_APPROVED

from psledger.bootstrap import Wiring, bootstrap
from psledger.settings import Settings

pytestmark = [pytest.mark.postgres]

WRITERS = 4
DELIVERIES = 12


def worker_update(worker_id: str, cost_rate: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "type": "worker.updated",
            "id": f"evt_hr_{uuid.uuid4().hex[:10]}",
            "occurred_at": f"2026-02-03T11:{n:02d}:00Z",
            "actor": "hr.sync",
            "data": {
                "worker_id": worker_id,
                "name": "Shared Worker",
                "cost_rate": cost_rate,
                "effective_from": "2026-01-01",
            },
        }
    )


def test_processes_writing_one_worker_at_once_all_succeed(pg_url: str) -> None:
    # given several ledgers (their own connections and caches) on one store
    wirings: list[Wiring] = [bootstrap(Settings(store=pg_url)) for _ in range(WRITERS)]
    bodies = [worker_update("W-SHARED", f"{50 + n}.00", n) for n in range(DELIVERIES)]
    errors: list[BaseException] = []
    answers: list[list[str]] = []
    start = threading.Barrier(WRITERS)

    def deliver(wiring: Wiring, mine: list[bytes]) -> None:
        start.wait()
        for body in mine:
            try:
                answers.append(wiring.ledger.apply_webhook(body, expected_source="hr").event_ids)
            except BaseException as exc:  # any failure fails the test below
                errors.append(exc)

    # when they all deliver updates of the same worker at the same moment
    threads = [
        threading.Thread(target=deliver, args=(w, bodies[i::WRITERS]))
        for i, w in enumerate(wirings)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    # then every delivery applied, each once, and the worker's history holds all of them
    try:
        assert errors == []
        assert len(answers) == DELIVERIES and all(len(ids) == 1 for ids in answers)
        versions = sorted(int(ids[0].rsplit("@", 1)[1]) for ids in answers)
        assert versions == list(range(1, DELIVERIES + 1))
        assert wirings[0].quarantine.list() == []
    finally:
        for w in wirings:
            w.close()


def test_the_same_change_from_two_consumers_at_once_is_applied_once(
    pg_url: str, tmp_path: Path
) -> None:
    # given two ledgers on one store, and one delivery redelivered to both
    first, second = bootstrap(Settings(store=pg_url)), bootstrap(Settings(store=pg_url))
    body = SOW_APPROVED.read_bytes()
    results: list[object] = []
    start = threading.Barrier(2)

    def deliver(wiring: Wiring) -> None:
        start.wait()
        try:
            results.append(wiring.ledger.apply_webhook(body))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=deliver, args=(w,)) for w in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    # then one applied it, the other got the first answer: a duplicate, not an error
    try:
        assert not [r for r in results if isinstance(r, BaseException)], results
        duplicates = sorted(bool(getattr(r, "duplicate", None)) for r in results)
        assert duplicates == [False, True]
        assert int(first.app.recorder.max_notification_id() or 0) == 2
    finally:
        first.close()
        second.close()
