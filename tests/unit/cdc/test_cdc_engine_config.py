"""Debezium connector properties built from a PostgreSQL URL (no JVM needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdc.engine import connector_properties
from cdc.errors import SourceError


def props(url: str, tables: list[str] | None = None) -> dict[str, str]:
    return connector_properties(
        url,
        offsets_path=Path("/x/offsets.dat"),
        slot_name="s1",
        publication_name="p1",
        topic_prefix="psa",
        tables=tables,
        batch_size=200,
    )


def test_the_url_and_options_become_pgoutput_connector_properties() -> None:
    p = props("postgresql://u%40x:p%2Fw@db.example:6543/psa", ["time_entries", "other.t"])
    assert (p["database.hostname"], p["database.port"], p["database.dbname"]) == (
        "db.example",
        "6543",
        "psa",
    )
    assert (p["database.user"], p["database.password"]) == ("u@x", "p/w")
    assert (
        p["plugin.name"] == "pgoutput" and p["slot.name"] == "s1" and p["publication.name"] == "p1"
    )
    assert p["table.include.list"] == "public.time_entries,other.t"
    assert p["publication.autocreate.mode"] == "filtered"
    assert p["offset.storage.file.filename"] == "/x/offsets.dat" and p["max.batch.size"] == "200"
    assert p["value.converter.schemas.enable"] == "true"


def test_without_tables_every_table_is_published() -> None:
    p = props("postgresql://postgres@127.0.0.1/psa")
    assert p["publication.autocreate.mode"] == "all_tables" and "table.include.list" not in p
    assert p["database.port"] == "5432"


def test_a_url_without_a_database_is_refused() -> None:
    with pytest.raises(SourceError):
        props("mysql://h/db")
    with pytest.raises(SourceError):
        props("postgresql://h")
