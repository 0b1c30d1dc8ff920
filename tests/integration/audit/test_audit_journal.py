"""The tamper-evident journal on SQLite and PostgreSQL, through the CLI.

Given a store fed by `psledger ingest`, `audit verify` passes; when one byte
of one stored event is changed by hand, it fails naming that event's
position; a digest taken before the change still proves the history up to
its position, and a digest covering the changed event does not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_store import FIRM, SOW, WEBHOOKS, Store, ok, worker_webhook

from psledger.store import journal
from psledger.store.journal import NO_JOURNAL_ENV


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        yield Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    else:
        request.applymarker(pytest.mark.postgres)
        yield Store(request.getfixturevalue("pg_url"))


def test_an_untouched_store_verifies_and_a_changed_byte_is_named(
    store: Store, tmp_path: Path
) -> None:
    # given a ledger fed a firm's change events, and a digest of it
    ok(store.psledger("ingest", "webhook", str(SOW)))
    ok(store.psledger("ingest", "debezium", str(FIRM)))
    early = json.loads(ok(store.psledger("audit", "digest", "--format", "json")))
    (tmp_path / "early.json").write_text(json.dumps(early))
    # and then more, and a second digest
    workers = [str(worker_webhook(n, tmp_path)) for n in range(3)]
    ok(store.psledger("ingest", "webhook", *workers))
    late = json.loads(ok(store.psledger("audit", "digest", "--format", "json")))
    assert late["position"] > early["position"] > 0
    assert late["taken_at"].endswith("Z") and late["digest"].startswith(f"{late['position']}:")

    # when nothing was touched, then verify passes and counts every event
    result = ok(store.psledger("audit", "verify"))
    assert f"verified {late['position']} events" in result
    ok(store.psledger("audit", "verify", "--digest", late["digest"]))

    # when one byte of one event after the early digest is changed by hand
    victim = early["position"] + 2
    store.flip_one_byte(victim)

    # then verify fails and names that event's position
    broken = store.psledger("audit", "verify")
    assert broken.exit_code == 3
    assert f"chain broken at position {victim}:" in broken.output
    assert "the event was changed" in broken.output
    assert f"verified {victim - 1} events" in broken.output

    # and the early digest still proves the history up to its position
    proven = store.psledger("audit", "verify", "--digest", str(tmp_path / "early.json"))
    assert proven.exit_code == 3  # the chain after it is still broken
    assert f"digest {early['digest']}: proven" in proven.output
    assert f"chain broken at position {victim}:" in proven.output
    as_json = json.loads(
        store.psledger("audit", "verify", "--digest", early["digest"], "--format", "json").stdout
    )
    assert as_json["digest_proven"] is True and as_json["broken"]["position"] == victim

    # while the late digest, which covers the changed event, is not proven
    refuted = store.psledger("audit", "verify", "--digest", late["digest"])
    assert refuted.exit_code == 3 and "NOT proven" in refuted.output

    # and verifying from after the change passes (it starts from the stored chain)
    ok(store.psledger("audit", "verify", "--from", str(victim + 1)))


def test_a_changed_chain_entry_is_told_from_a_changed_event(store: Store) -> None:
    ok(store.psledger("ingest", "webhook", str(SOW)))
    ok(store.psledger("ingest", "debezium", str(FIRM)))
    store.sql(
        "UPDATE psledger_journal SET chain_hash = ? WHERE notification_id = ?", (bytes(32), 5)
    )
    broken = store.psledger("audit", "verify")
    assert broken.exit_code == 3
    assert "chain broken at position 5: position 5: the chain entry does not match" in (
        broken.output
    )


def test_a_deleted_event_is_named(store: Store) -> None:
    ok(store.psledger("ingest", "webhook", str(SOW)))
    ok(store.psledger("ingest", "debezium", str(FIRM)))
    store.sql(f"DELETE FROM {store.events} WHERE {store.position} = ?", (7,))
    broken = store.psledger("audit", "verify")
    assert broken.exit_code == 3
    assert "chain broken at position 7:" in broken.output and "deleted" in broken.output


def test_a_store_from_before_the_journal_gets_its_chain_by_backfill(store: Store) -> None:
    # given a store whose events were written while the journal was written
    ok(store.psledger("ingest", "webhook", str(SOW)))
    ok(store.psledger("ingest", "debezium", str(FIRM)))
    before = json.loads(ok(store.psledger("audit", "digest", "--format", "json")))
    # when the journal is gone, as in a store created before it existed
    store.sql("DROP TABLE psledger_journal")
    store.sql("DELETE FROM psledger_schema_version WHERE version = ?", (journal_version(),))
    # then the upgrade backfills it, to the very same chain
    ok(store.psledger("db", "upgrade"))
    after = json.loads(ok(store.psledger("audit", "digest", "--format", "json")))
    assert (after["position"], after["chain_hash"]) == (before["position"], before["chain_hash"])
    ok(store.psledger("audit", "verify", "--digest", before["digest"]))
    # and writers extend it again
    ok(store.psledger("ingest", "webhook", str(WEBHOOKS / "hr.worker.updated.json")))
    result = ok(store.psledger("audit", "verify", "--digest", before["digest"]))
    assert "proven" in result and "the chain is intact" in result


def journal_version() -> int:
    from psledger.store.migrations import MIGRATIONS

    return next(m.version for m in MIGRATIONS if "journal" in m.name)


@pytest.mark.postgres
def test_several_writers_on_postgresql_extend_one_chain(pg_url: str, tmp_path: Path) -> None:
    # given a store, and four processes each applying their own webhooks at once
    store = Store(pg_url)
    ok(store.psledger("ingest", "webhook", str(SOW)))
    batches = [[str(worker_webhook(w * 100 + n, tmp_path)) for n in range(15)] for w in range(4)]
    env = {**os.environ, "PSLEDGER_STORE": pg_url}
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "psledger", "ingest", "webhook", *files],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for files in batches
    ]
    for writer in writers:
        _out, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err.decode()
    # then every event is chained, in notification-id order, and verifies
    ((count, last),) = store.sql(f"SELECT count(*), max(notification_id) FROM {store.events}")
    ((chained,),) = store.sql("SELECT count(*) FROM psledger_journal")
    assert chained == count
    result = ok(store.psledger("audit", "verify"))
    assert f"verified {count} events" in result
    assert (
        int(json.loads(ok(store.psledger("audit", "digest", "--format", "json")))["position"])
        == last
    )


def test_a_short_unchained_tail_is_caught_up_by_the_next_writer(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given events written while the journal write was switched off
    ok(store.psledger("ingest", "webhook", str(SOW)))
    monkeypatch.setenv(NO_JOURNAL_ENV, "1")
    ok(store.psledger("ingest", "webhook", str(worker_webhook(1, tmp_path))))
    monkeypatch.delenv(NO_JOURNAL_ENV)
    broken = store.psledger("audit", "verify")
    assert broken.exit_code == 3 and "chain broken at position 3:" in broken.output
    assert "has no chain entry" in broken.output
    # when the next writer appends, it chains the short tail first
    ok(store.psledger("ingest", "webhook", str(worker_webhook(2, tmp_path))))
    # then the whole history verifies
    assert "verified 4 events" in ok(store.psledger("audit", "verify"))


def test_a_long_unchained_tail_waits_for_audit_backfill(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given more unchained events than a writer catches up by itself
    monkeypatch.setattr(journal, "CATCH_UP", 1)
    ok(store.psledger("ingest", "webhook", str(SOW)))
    monkeypatch.setenv(NO_JOURNAL_ENV, "1")
    ok(store.psledger("ingest", "webhook", *(str(worker_webhook(n, tmp_path)) for n in range(3))))
    monkeypatch.delenv(NO_JOURNAL_ENV)
    # when more is written, the chain is not extended past the gap
    ok(store.psledger("ingest", "webhook", str(worker_webhook(9, tmp_path))))
    refused = store.psledger("audit", "digest")
    assert refused.exit_code == 1 and "audit backfill" in refused.output
    assert "chain broken at position 3:" in store.psledger("audit", "verify").output
    # then `audit backfill` chains the tail, and all verifies
    assert "chained 4 events; the chain ends at position 6" in ok(
        store.psledger("audit", "backfill")
    )
    assert "verified 6 events" in ok(store.psledger("audit", "verify"))
