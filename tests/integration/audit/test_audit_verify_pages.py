"""`audit verify` reads the events joined to their chain entries in pages,
and with --jobs in ranges verified by forked processes side by side:
whatever the page size and the ranges, and wherever a break, a digest or a
gap in the notification ids falls in a page or a range, it reaches the same
verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audit_store import SOW, Store, fed_store, ok, worker_webhook

from psledger.store.journal import GENESIS, chain_hash

PAGES = ("1", "2", "3", "7", "5000")
# page sizes, then ranges of about 8 and 12 positions (of 25) in 3 and 2 processes
MODES = [("--page", page) for page in PAGES] + [
    ("--page", "2", "--jobs", "3", "--min-per-job", "1"),
    ("--page", "5000", "--jobs", "2", "--min-per-job", "1"),
]


@pytest.fixture(params=["sqlite", "postgres"])
def fed(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return fed_store(request, tmp_path)


def count_events(store: Store) -> int:
    return int(store.sql(f"SELECT count(*) FROM {store.events}")[0][0])


def test_every_page_size_verifies_the_same_history_and_names_the_same_break(
    fed: Store,
) -> None:
    # given an untouched store, then every page size verifies all of it
    total = count_events(fed)
    for mode in MODES:
        assert f"verified {total} events" in ok(fed.psledger("audit", "verify", *mode))
    # when one byte of the event at position 7 is changed by hand
    fed.flip_one_byte(7)
    # then every page size names it, after verifying the six before it
    for mode in MODES:
        broken = fed.psledger("audit", "verify", *mode)
        assert broken.exit_code == 3
        assert "chain broken at position 7:" in broken.output
        assert "the event was changed" in broken.output and "verified 6 events" in broken.output


def test_a_changed_chain_entry_at_the_end_of_a_page_is_told_from_a_changed_event(
    fed: Store,
) -> None:
    # given the chain entry of position 4, the last of the second page of two
    fed.sql("UPDATE psledger_journal SET chain_hash = ? WHERE notification_id = ?", (GENESIS, 4))
    # then whatever the page size, verify tells the entry (not the event) was changed
    for mode in MODES:
        broken = fed.psledger("audit", "verify", *mode)
        assert broken.exit_code == 3
        assert "chain broken at position 4: position 4: the chain entry does not match" in (
            broken.output
        )


def test_a_digest_is_proven_wherever_its_position_falls_in_a_page(fed: Store) -> None:
    digest = json.loads(ok(fed.psledger("audit", "digest", "--format", "json")))
    head = digest["position"]
    for position in (1, 2, 3, head - 1, head):
        ((entry,),) = fed.sql(
            "SELECT chain_hash FROM psledger_journal WHERE notification_id = ?", (position,)
        )
        given = f"{position}:{bytes(entry).hex()}"
        wrong = f"{position}:{'00' * 32}"
        for mode in MODES:
            proven = ok(fed.psledger("audit", "verify", "--digest", given, *mode))
            assert f"digest {given}: proven" in proven
            refuted = fed.psledger("audit", "verify", "--digest", wrong, *mode)
            assert refuted.exit_code == 3 and "NOT proven" in refuted.output


def test_a_deleted_event_is_named_even_when_the_chain_after_it_was_rewritten(
    fed: Store,
) -> None:
    # given the event at position 9 deleted by hand, and every chain entry after
    # it rewritten as if it had never been there, but its own entry left behind
    fed.sql(f"DELETE FROM {fed.events} WHERE {fed.position} = ?", (9,))
    rows = fed.sql(
        f"SELECT {fed.position}, originator_id, originator_version, topic, state "
        f"FROM {fed.events} ORDER BY {fed.position}"
    )
    previous = GENESIS
    for n, oid, version, topic, state in rows:
        previous = chain_hash(previous, n, oid, version, topic, bytes(state))
        if n > 9:
            fed.sql(
                "UPDATE psledger_journal SET chain_hash = ? WHERE notification_id = ?",
                (previous, n),
            )
    # then every page size still names position 9, after the eight before it
    for mode in MODES:
        broken = fed.psledger("audit", "verify", *mode, "--format", "json")
        assert broken.exit_code == 3
        found = json.loads(broken.stdout)
        assert found["broken"]["position"] == 9 and found["broken"]["what"] == "missing_event"
        assert (found["verified"], found["last"]) == (8, 8)


@pytest.mark.postgres
def test_gaps_in_the_notification_ids_are_chained_over(pg_url: str, tmp_path: Path) -> None:
    # given events, then a gap of a thousand notification ids, then more events
    store = Store(pg_url)
    ok(store.psledger("ingest", "webhook", str(SOW)))
    store.sql(
        "SELECT setval(pg_get_serial_sequence('psledger_events', 'notification_id'), "
        "(SELECT max(notification_id) FROM psledger_events) + 1000)"
    )
    workers = [str(worker_webhook(n, tmp_path)) for n in range(3)]
    ok(store.psledger("ingest", "webhook", *workers))
    ((count, last),) = store.sql("SELECT count(*), max(notification_id) FROM psledger_events")
    assert last > count + 999
    # then every page size verifies all of them, and the digest is at the last
    for mode in MODES:
        assert f"verified {count} events" in ok(store.psledger("audit", "verify", *mode))
    digest = json.loads(ok(store.psledger("audit", "digest", "--format", "json")))
    assert digest["position"] == last
    for mode in MODES:
        ok(store.psledger("audit", "verify", "--digest", digest["digest"], *mode))
    # and a changed event after the gap is named
    store.flip_one_byte(last)
    for mode in MODES:
        broken = store.psledger("audit", "verify", *mode)
        assert broken.exit_code == 3 and f"chain broken at position {last}:" in broken.output
