"""`psledger items` reads its rows in order from the items view's listing
index (migration 9), not by sorting the whole view: on SQLite the plan scans
the covering index with no temporary B-tree; on PostgreSQL the index gives
the order (its collation is the query's) and every column shown, so that
with sequential scans priced out the plan is an index-only scan, no sort.
A later shape of the items table gets the index again."""

from __future__ import annotations

from views_support import psledger

from projections.read.recorders import view_recorder
from projections.read.tables import VIEW_DDL, ViewSchema
from psledger.bootstrap import bootstrap
from psledger.queries_views import ViewReader
from psledger.settings import Settings

INDEX = "psledger_view_items_listing"


def listing_plans(store: str) -> tuple[list[str], list[str]]:
    """The plans of the items table's two statements (widths, rows)."""
    wiring = bootstrap(Settings(store=store))
    try:
        queries = ViewReader(wiring.app).item_listing_queries()
        recorder = view_recorder(wiring.app.recorder)
        plans = []
        with recorder.datastore.transaction(commit=False) as c:
            if recorder.dialect == "postgres":
                c.execute("SET LOCAL enable_seqscan = off")
                c.execute("SET LOCAL enable_bitmapscan = off")
            for sql in queries[:2]:
                if recorder.dialect == "sqlite":
                    c.execute("EXPLAIN QUERY PLAN " + sql, queries[2])
                    plans.append([str(row[3]) for row in c.fetchall()])
                else:
                    c.execute("EXPLAIN " + sql, queries[2])
                    plans.append([str(row["QUERY PLAN"]).strip() for row in c.fetchall()])
        return plans[0], plans[1]
    finally:
        wiring.close()


def test_the_items_table_reads_the_listing_index_in_order(demo_store: str) -> None:
    # given the billed demo, its views caught up by a listing
    assert psledger(demo_store, "items").output.count("\n") > 40
    # when the store plans the listing's statements
    widths, rows = listing_plans(demo_store)
    # then both read the index alone, and nothing is sorted
    for plan in (widths, rows):
        assert [step for step in plan if INDEX in step], plan
        assert not [step for step in plan if "TEMP B-TREE" in step or "Sort" in step], plan
    if demo_store.startswith("sqlite"):
        assert rows == [f"SCAN psledger_view_items USING COVERING INDEX {INDEX}"], rows
    else:
        assert rows[0].startswith(f"Index Only Scan using {INDEX} on psledger_view_items"), rows


def test_a_new_shape_of_the_items_table_has_the_listing_index(demo_store: str) -> None:
    # given the items table in migration 7's shape, offered as a shape 2
    first_shape = tuple(s for s in VIEW_DDL if "psledger_view_items" in s)
    wiring = bootstrap(Settings(store=demo_store))
    try:
        recorder = view_recorder(wiring.app.recorder)
        # when the store's items view is brought to it
        assert recorder.upgrade("items", ViewSchema(2, first_shape), ["psledger/items"])
    finally:
        wiring.close()
    # then the listing reads the index again, once the view is replayed
    assert psledger(demo_store, "items").output.count("\n") > 40
    for plan in listing_plans(demo_store):
        assert [step for step in plan if INDEX in step], plan
