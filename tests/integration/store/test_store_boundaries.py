"""The store's edges on both dialects: the entity index follows moves, and
what reaches a client names no internal table, constraint or statement."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, ProgrammingError
from fastapi import FastAPI
from fastapi.testclient import TestClient

from domain.errors import InfrastructureError
from psledger.bootstrap import Wiring, bootstrap
from psledger.http import errors
from psledger.settings import Settings
from psledger.store.errors import StoreConflict, StoreUnavailable, scrub
from psledger.store.rows import DedupRow, EntityRow, LedgerRows

NOW = datetime(2026, 3, 1, tzinfo=UTC)
INTERNAL = ("psledger_", "_pkey", "_pg3_", "stored_events", "_events")


@pytest.fixture(params=["sqlite", "postgres"])
def wiring(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Wiring]:
    if request.param == "sqlite":
        store = f"sqlite:///{tmp_path}/ledger.db"
    else:
        store = str(request.getfixturevalue("pg_url"))
    w = bootstrap(Settings(store=store))
    yield w
    w.close()


def parent_of(wiring: Wiring, business_id: str) -> str | None:
    p = wiring.app.tables.d.placeholder
    rows = wiring.app.fetch(
        f"SELECT parent_id FROM psledger_entities WHERE kind = {p} AND business_id = {p}",
        ["work_item", business_id],
    )
    return rows[0][0] if rows else None


def write(wiring: Wiring, *entities: EntityRow) -> None:
    wiring.app.recorder.insert_events([], ledger_rows=LedgerRows(entities=list(entities)))


def test_the_entity_index_follows_a_move_to_a_new_parent(wiring: Wiring) -> None:
    write(wiring, EntityRow("work_item", "TE-1", "P-1"))
    write(wiring, EntityRow("work_item", "TE-1", "P-2"))
    assert parent_of(wiring, "TE-1") == "P-2"


def test_a_row_without_a_parent_leaves_the_known_parent(wiring: Wiring) -> None:
    write(wiring, EntityRow("work_item", "TE-2", "P-1"))
    write(wiring, EntityRow("work_item", "TE-2", None))
    assert parent_of(wiring, "TE-2") == "P-1"


def test_moves_within_one_batch_apply_in_order(wiring: Wiring) -> None:
    write(
        wiring,
        EntityRow("work_item", "TE-3", "P-1"),
        EntityRow("work_item", "TE-4", None),
        EntityRow("work_item", "TE-3", "P-2"),
        EntityRow("work_item", "TE-3", None),
        EntityRow("work_item", "TE-4", "P-9"),
    )
    assert (parent_of(wiring, "TE-3"), parent_of(wiring, "TE-4")) == ("P-2", "P-9")


def test_a_dedup_collision_reaches_the_caller_without_internal_names(wiring: Wiring) -> None:
    row = LedgerRows(dedup=[DedupRow("webhook:crm:twice", "{}", NOW)])
    wiring.app.recorder.insert_events([], ledger_rows=row)
    with pytest.raises(StoreConflict) as caught:
        wiring.app.recorder.insert_events([], ledger_rows=row)
    assert isinstance(caught.value, IntegrityError)  # the retry loops still see a conflict
    assert str(caught.value) == (
        "concurrent write conflict: a dedup key was stored by another writer first"
    )


def test_a_missing_table_is_a_schema_problem_with_a_hint(wiring: Wiring) -> None:
    with pytest.raises(InfrastructureError, match="psledger db upgrade") as caught:
        wiring.app.fetch("SELECT * FROM psledger_no_such_table")
    assert not any(name in str(caught.value) for name in INTERNAL)


# -- the HTTP boundary ------------------------------------------------------------


def client_raising(exc: Exception) -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (
            IntegrityError('duplicate key value violates unique constraint "psledger_dedup_pkey"'),
            409,
            "write_conflict",
        ),
        (
            OperationalError("consuming input failed: server closed the connection"),
            503,
            "store_unavailable",
        ),
        (ProgrammingError('prepared statement "_pg3_35" does not exist'), 503, "infrastructure"),
        (ProgrammingError('relation "psledger_parked" does not exist'), 503, "infrastructure"),
        (
            StoreUnavailable("the event store is unavailable (x); try again"),
            503,
            "store_unavailable",
        ),
        (
            InfrastructureError(
                "gave up after 9 conflicts; the last: duplicate key value violates unique "
                'constraint "psledger_dedup_pkey"'
            ),
            503,
            "infrastructure",
        ),
    ],
)
def test_store_errors_answer_without_internal_names(exc: Exception, status: int, code: str) -> None:
    response = client_raising(exc).get("/boom")
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert not any(name in response.text for name in INTERNAL), response.text
    if status == 503 and code == "store_unavailable":
        assert response.headers["retry-after"] == "1"


def test_scrub_keeps_the_meaning_and_drops_the_names() -> None:
    assert scrub(
        'duplicate key value violates unique constraint "psledger_dedup_pkey"\n'
        "DETAIL: Key (key)=(x) already exists."
    ) == ("duplicate key value violates unique constraint")
    assert scrub("UNIQUE constraint failed: psledger_dedup.key") == "UNIQUE constraint failed"
