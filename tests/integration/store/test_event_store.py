"""The event store on SQLite and a real PostgreSQL: side rows share the
events' transaction, conflicts are retried, replay rebuilds state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from domain.contract import Contract
from domain.errors import InfrastructureError
from domain.provenance import Provenance
from psledger.app import UnitOfWork, with_retries
from psledger.bootstrap import Wiring, bootstrap
from psledger.settings import Settings
from psledger.store.rows import DedupRow

REFERENCE = Path(__file__).resolve().parents[3] / "psledger" / "data" / "webhooks"
NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def wiring(store: str) -> Iterator[Wiring]:
    w = bootstrap(Settings(store=store))
    yield w
    w.close()


def approve_sow(wiring: Wiring) -> None:
    wiring.ledger.apply_webhook((REFERENCE / "crm.sow.approved.json").read_bytes())


def test_a_dedup_row_that_collides_rolls_back_the_events_of_its_batch(wiring: Wiring) -> None:
    approve_sow(wiring)
    before = wiring.app.recorder.max_notification_id()
    uow = UnitOfWork(wiring.app)
    contract = uow.get(Contract, "SOW-1042")
    assert contract is not None
    contract.invoice_fee("2026-01", "X-1", Provenance("ledger", "test"))
    key = "webhook:crm:evt_crm_000184"  # already stored by approve_sow
    uow.rows.dedup.append(DedupRow(key, "{}", NOW))
    with pytest.raises(IntegrityError):
        uow.commit()
    assert wiring.app.recorder.max_notification_id() == before
    fresh = UnitOfWork(wiring.app).get(Contract, "SOW-1042")
    assert fresh is not None and fresh.fee_lines == {}


def test_a_concurrent_write_to_the_same_aggregate_is_retried_not_lost(
    wiring: Wiring, store: str
) -> None:
    approve_sow(wiring)
    other = bootstrap(Settings(store=store))
    attempts: list[int] = []

    def work(uow: UnitOfWork) -> None:
        attempts.append(1)
        contract = uow.get(Contract, "SOW-1042")
        assert contract is not None
        if len(attempts) == 1:  # another writer gets there first
            rival = UnitOfWork(other.app)
            theirs = rival.get(Contract, "SOW-1042")
            assert theirs is not None
            theirs.invoice_fee("2026-01", "THEIRS", Provenance("ledger", "rival"))
            rival.commit()
        contract.invoice_fee("2026-02", "OURS", Provenance("ledger", "ours"))

    try:
        with_retries(wiring.app, work)
    finally:
        other.close()
    assert len(attempts) == 2
    final = UnitOfWork(wiring.app).get(Contract, "SOW-1042")
    assert final is not None
    assert final.fee_lines == {"2026-01": "THEIRS", "2026-02": "OURS"}


def test_endless_conflicts_end_in_one_clear_error(
    wiring: Wiring, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a conflict is decided again for as long as the store keeps moving on; only a
    # store stuck in conflicts for the whole retry window ends in one clear error
    import itertools

    import psledger.app

    monkeypatch.setattr(psledger.app, "RETRY_SECONDS", 1.0)
    approve_sow(wiring)
    other = bootstrap(Settings(store=store))
    n = itertools.count()

    def work(uow: UnitOfWork) -> None:
        contract = uow.get(Contract, "SOW-1042")
        assert contract is not None
        rival = UnitOfWork(other.app)
        theirs = rival.get(Contract, "SOW-1042")
        assert theirs is not None
        theirs.invoice_fee(f"r{next(n)}", "THEIRS", Provenance("ledger", "rival"))
        rival.commit()
        contract.invoice_fee(f"o{next(n)}", "OURS", Provenance("ledger", "ours"))

    try:
        with pytest.raises(InfrastructureError, match="concurrent-write conflicts"):
            with_retries(wiring.app, work)
    finally:
        other.close()


def test_replaying_the_stored_events_rebuilds_the_same_state(wiring: Wiring, store: str) -> None:
    approve_sow(wiring)
    wiring.ledger.apply_webhook((REFERENCE / "crm.sow.amended.json").read_bytes())
    wiring.ledger.approve_amendment("SOW-1042", 2, "fin.ops")
    cached = UnitOfWork(wiring.app).get(Contract, "SOW-1042")
    cold = bootstrap(Settings(store=store, cache_size=0))
    try:
        replayed = UnitOfWork(cold.app).get(Contract, "SOW-1042")
    finally:
        cold.close()
    assert cached is not None and replayed is not None
    assert replayed.versions == cached.versions
    assert replayed.version == cached.version == 3


def test_a_webhook_delivery_is_applied_once(wiring: Wiring) -> None:
    body = (REFERENCE / "crm.sow.approved.json").read_bytes()
    first = wiring.ledger.apply_webhook(body)
    again = wiring.ledger.apply_webhook(body)
    assert first.event_ids == ["customer:ACC-77@1", "contract:SOW-1042@1"]
    assert again.duplicate and again.event_ids == first.event_ids
    assert wiring.app.recorder.max_notification_id() == 2


def test_an_intake_batch_meeting_a_concurrent_writer_is_decided_again(
    wiring: Wiring, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domain import commands as c
    from domain.project import Project
    from psledger.inbox import Inbound

    approve_sow(wiring)
    psa = Provenance("psa", "projects:P-1")
    details = {
        "contract_id": "SOW-1042",
        "name": "Rollout",
        "legal_entity": "GB01",
        "project_manager": "pm",
        "status": "active",
    }
    wiring.ledger.execute(c.SyncProject("P-1", details, psa))
    other = bootstrap(Settings(store=store))
    real_commit = UnitOfWork.commit
    calls: list[int] = []

    def commit_after_a_rival(self: UnitOfWork) -> list[int]:
        calls.append(1)
        if len(calls) == 1:  # the PSA's project changes in another process meanwhile
            rival = UnitOfWork(other.app)
            project = rival.get(Project, "P-1")
            assert project is not None
            project.update({**details, "name": "Rollout (renamed)"}, psa)
            real_commit(rival)
        return real_commit(self)

    monkeypatch.setattr(UnitOfWork, "commit", commit_after_a_rival)
    unit = Inbound(
        "test",
        "psa.public.projects",
        0,
        7,
        b"{}",
        dedup_keys=["k-1"],
        commands=[c.SyncProject("P-1", {**details, "status": "on_hold"}, psa)],
    )
    try:
        report = wiring.inbox.apply([unit])
    finally:
        other.close()
    assert report.applied == 1 and len(calls) == 2  # refused once (rival), then committed
    project = UnitOfWork(wiring.app).get(Project, "P-1")
    assert project is not None
    # the rival's change stays in the history; the PSA row (the later image) decides the state
    assert project.version == 3
    assert (project.details["name"], project.status) == ("Rollout", "on_hold")


def test_a_preloaded_aggregate_is_the_one_the_repository_rebuilds(wiring: Wiring) -> None:
    # given a contract with several events, and an entity that does not exist
    approve_sow(wiring)
    uow = UnitOfWork(wiring.app)
    contract = uow.get(Contract, "SOW-1042")
    assert contract is not None
    contract.invoice_fee("2026-01", "X-1", Provenance("ledger", "test"))
    uow.commit()
    # when a fresh unit of work preloads both in one go
    fresh = UnitOfWork(wiring.app)
    fresh.preload([(Contract, "SOW-1042"), (Contract, "SOW-NONE")])
    # then it holds the contract at its latest version, rebuilt from its events,
    # and knows the other is missing, without asking the store again
    rebuilt = wiring.app.repository.get(Contract.id_for("SOW-1042"))
    preloaded = fresh.loaded[Contract.id_for("SOW-1042")]
    assert preloaded is not None and preloaded.version == rebuilt.version >= 2
    assert preloaded.fee_lines == rebuilt.fee_lines != {}
    assert fresh.loaded[Contract.id_for("SOW-NONE")] is None


def test_the_notification_ids_of_a_commit_are_the_ids_its_events_are_stored_under(
    wiring: Wiring,
) -> None:
    approve_sow(wiring)  # events before the batch: its ids do not start at 1
    uow = UnitOfWork(wiring.app)
    contract = uow.get(Contract, "SOW-1042")
    assert contract is not None
    for month in ("2026-01", "2026-02", "2026-03"):
        contract.invoice_fee(month, f"X-{month}", Provenance("ledger", "test"))
    pending = [(e.originator_id, e.originator_version) for e in contract.pending_events]
    ids = uow.commit()
    stored = {
        (n.originator_id, n.originator_version): n.id
        for n in wiring.app.recorder.select_notifications(1, 10_000)
    }
    assert len(ids) == 3 and ids == [stored[key] for key in pending]
    assert ids == list(range(ids[0], ids[0] + 3))
    assert ids[-1] == wiring.app.recorder.max_notification_id()


def test_a_page_of_the_notification_log_is_the_page_the_library_reads(wiring: Wiring) -> None:
    approve_sow(wiring)
    for name in ("crm.sow.amended.json", "crm.sow.approved.retainer.json"):
        wiring.ledger.apply_webhook((REFERENCE / name).read_bytes())
    recorder = wiring.app.recorder
    library = super(type(recorder), recorder).select_notifications
    everything = library(None, 10_000)
    top = everything[-1].id
    topics = sorted({n.topic for n in everything})
    assert top >= 3 and len(topics) >= 2
    cases = [
        {"start": start, "limit": limit, "stop": stop, "topics": chosen, "inclusive_of_start": inc}
        for start in (None, 1, 2, top, top + 1)
        for limit in (1, 2, 10_000)
        for stop in (None, 2, top)
        for chosen in ((), topics[:1], tuple(topics[:2]))
        for inc in (True, False)
    ]
    for case in cases:
        ours = recorder.select_notifications(**case)
        theirs = library(**case)
        assert ours == theirs, case
        assert [vars(n) for n in ours] == [vars(n) for n in theirs], case
        assert all(type(n.originator_id) is UUID for n in ours)
