"""The read side's tables: what each materialised view stores.

Every view's rows are written together with that view's position in
``psledger_view_tracking`` (one row per view, eventsourcing's single-row
tracking shape: ``application_name`` is ``psledger/<view>``), in one
transaction. A view can be dropped and replayed at any time.

    psledger_view_invoices     one row per invoice / credit note / re-issue:
                               its filter columns, `view` (the JSON that
                               `psledger invoices --format json` prints) and
                               `erp` (the ERP payload). Since invoices schema
                               2 also `summary`: the view without its lines
                               (JSON), and `line_count`, so that lists of
                               invoices do not read every line
    psledger_view_items        one row per work item: state, exception code,
                               invoice, the date it sorts by, `view` (JSON)
    psledger_view_lineage      the audit lineage index. One row per invoice
                               line that bills a work item: (number, line_no)
                               -> (item_kind, item_id). Indexed by number.
    psledger_view_item_events  every event of every work item: (item_kind,
                               item_id, version) -> notification_id, event
                               name, recorded_at, `document` (the invoice or
                               credit note an Invoiced / Credited /
                               ReturnedForReissue event names) and
                               `provenance` (JSON). A line's trace is its
                               item's events up to the one whose document is
                               the line's invoice. Since lineage schema 2
                               also `entry`: the event's trace entry (JSON).
    psledger_view_trace        (lineage schema 2) one row per invoice: when it
                               was drafted, its trace head and its line heads
                               (JSON, every line in order)
    psledger_view_invoice_events  (lineage schema 2) every event of every
                               invoice: (number, version) -> its trace entry
    psledger_view_entities     the entity index: (kind, business_id) ->
                               parent_id, version, last_notification_id
The operations figures are queries over these (`psledger/ops/figures.py`).

Versions. Migration 7 created the first shape of every view (`VIEW_DDL`,
never edited since). A view whose rows changed shape later has a higher
number in `VIEW_SCHEMAS`, with the DDL of that shape; the read side
(`psledger.read_side`) finds the number a store's view is at (a row
``psledger/<view>#schema`` in the tracking table; none means 1), and for an
older view drops its tables, creates them anew and forgets its position in
one transaction, so that the next catch-up replays it.
"""

from __future__ import annotations

from dataclasses import dataclass

VIEW_NAMES = ("invoices", "items", "lineage", "entities")
SORT_LAST = "9999-12-31"  # date.max: an item without a date sorts after every dated one
TRACKING_TABLE = "psledger_view_tracking"

# The tables each view owns (dropped by its rebuild).
VIEW_TABLES: dict[str, tuple[str, ...]] = {
    "invoices": ("psledger_view_invoices",),
    "items": ("psledger_view_items",),
    "lineage": (
        "psledger_view_lineage",
        "psledger_view_item_events",
        "psledger_view_trace",
        "psledger_view_invoice_events",
    ),
    "entities": ("psledger_view_entities",),
}

# The invoices table's indexes, in every shape of it.
INVOICE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS psledger_view_invoices_period "
    "ON psledger_view_invoices (period, number)",
    "CREATE INDEX IF NOT EXISTS psledger_view_invoices_contract "
    "ON psledger_view_invoices (contract_id)",
    "CREATE INDEX IF NOT EXISTS psledger_view_invoices_state "
    "ON psledger_view_invoices (state, invoice_date)",
)

# The items listing's order (psledger.queries_views.ITEM_ORDER, by code
# point) with the other columns its table shows, so that `psledger items`
# reads its rows in order from the index alone where it sorted the whole view
# (migration 9; per dialect: SQLite has no INCLUDE and sorts by code point).
ITEM_LISTING_INDEX = {
    "sqlite": "CREATE INDEX IF NOT EXISTS psledger_view_items_listing ON psledger_view_items "
    "(sort_date, kind, id, project_id, state, exception_code, invoice_number)",
    "postgres": "CREATE INDEX IF NOT EXISTS psledger_view_items_listing ON psledger_view_items "
    '(sort_date COLLATE "C", kind COLLATE "C", id COLLATE "C") '
    "INCLUDE (project_id, state, exception_code, invoice_number)",
}
# A view's indexes whose DDL differs per dialect (view -> dialect -> DDL):
# created again whenever the view's tables are (a new shape in VIEW_SCHEMAS).
DIALECT_INDEXES: dict[str, dict[str, str]] = {"items": ITEM_LISTING_INDEX}

# DDL of migration 7, which created them ({bigint} per dialect); never edited.
VIEW_DDL = [
    f"CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} ("
    "application_name TEXT PRIMARY KEY, notification_id {bigint})",
    "CREATE TABLE IF NOT EXISTS psledger_view_invoices ("
    "number TEXT PRIMARY KEY, contract_id TEXT NOT NULL, period TEXT NOT NULL, "
    "state TEXT NOT NULL, kind TEXT NOT NULL, invoice_date TEXT NOT NULL, "
    "currency TEXT NOT NULL, gross TEXT NOT NULL, view TEXT NOT NULL, erp TEXT NOT NULL, "
    "notification_id {bigint} NOT NULL)",
    *INVOICE_INDEXES,
    "CREATE TABLE IF NOT EXISTS psledger_view_items ("
    "kind TEXT NOT NULL, id TEXT NOT NULL, project_id TEXT, sort_date TEXT NOT NULL, "
    "state TEXT NOT NULL, exception_code TEXT, invoice_number TEXT, view TEXT NOT NULL, "
    "notification_id {bigint} NOT NULL, PRIMARY KEY (kind, id))",
    "CREATE INDEX IF NOT EXISTS psledger_view_items_state "
    "ON psledger_view_items (state, exception_code)",
    "CREATE INDEX IF NOT EXISTS psledger_view_items_project ON psledger_view_items (project_id)",
    "CREATE TABLE IF NOT EXISTS psledger_view_lineage ("
    "number TEXT NOT NULL, line_no {bigint} NOT NULL, item_kind TEXT NOT NULL, "
    "item_id TEXT NOT NULL, PRIMARY KEY (number, line_no))",
    "CREATE INDEX IF NOT EXISTS psledger_view_lineage_item "
    "ON psledger_view_lineage (item_kind, item_id)",
    "CREATE TABLE IF NOT EXISTS psledger_view_item_events ("
    "item_kind TEXT NOT NULL, item_id TEXT NOT NULL, version {bigint} NOT NULL, "
    "notification_id {bigint} NOT NULL, event TEXT NOT NULL, recorded_at TEXT NOT NULL, "
    "document TEXT, provenance TEXT, PRIMARY KEY (item_kind, item_id, version))",
    "CREATE TABLE IF NOT EXISTS psledger_view_entities ("
    "kind TEXT NOT NULL, business_id TEXT NOT NULL, parent_id TEXT, "
    "version {bigint} NOT NULL, last_notification_id {bigint} NOT NULL, "
    "PRIMARY KEY (kind, business_id))",
    "CREATE INDEX IF NOT EXISTS psledger_view_entities_parent "
    "ON psledger_view_entities (kind, parent_id)",
]

# Each table's key columns: a row replaces the stored row with its key.
KEYS: dict[str, tuple[str, ...]] = {
    "psledger_view_invoices": ("number",),
    "psledger_view_items": ("kind", "id"),
    "psledger_view_lineage": ("number", "line_no"),
    "psledger_view_item_events": ("item_kind", "item_id", "version"),
    "psledger_view_entities": ("kind", "business_id"),
    "psledger_view_trace": ("number",),
    "psledger_view_invoice_events": ("number", "version"),
}


@dataclass(frozen=True)
class ViewSchema:
    """A view's shape after migration 7: its number and the DDL of its tables."""

    version: int
    ddl: tuple[str, ...]


# Invoices 2: each invoice's summary (its view without lines) and line count.
# Lineage 2: item events carry their trace entry; the trace heads and the
# invoices' own events, so that `audit trace` reads rows, not aggregates.
VIEW_SCHEMAS: dict[str, ViewSchema] = {
    "invoices": ViewSchema(
        2,
        (
            "CREATE TABLE psledger_view_invoices ("
            "number TEXT PRIMARY KEY, contract_id TEXT NOT NULL, period TEXT NOT NULL, "
            "state TEXT NOT NULL, kind TEXT NOT NULL, invoice_date TEXT NOT NULL, "
            "currency TEXT NOT NULL, gross TEXT NOT NULL, view TEXT NOT NULL, erp TEXT NOT NULL, "
            "notification_id {bigint} NOT NULL, summary TEXT NOT NULL, "
            "line_count {bigint} NOT NULL)",
            *INVOICE_INDEXES,
        ),
    ),
    "lineage": ViewSchema(
        2,
        (
            "CREATE TABLE psledger_view_lineage ("
            "number TEXT NOT NULL, line_no {bigint} NOT NULL, item_kind TEXT NOT NULL, "
            "item_id TEXT NOT NULL, PRIMARY KEY (number, line_no))",
            "CREATE INDEX IF NOT EXISTS psledger_view_lineage_item "
            "ON psledger_view_lineage (item_kind, item_id)",
            "CREATE TABLE psledger_view_item_events ("
            "item_kind TEXT NOT NULL, item_id TEXT NOT NULL, version {bigint} NOT NULL, "
            "notification_id {bigint} NOT NULL, event TEXT NOT NULL, recorded_at TEXT NOT NULL, "
            "document TEXT, provenance TEXT, entry TEXT NOT NULL, "
            "PRIMARY KEY (item_kind, item_id, version))",
            "CREATE TABLE psledger_view_trace ("
            "number TEXT PRIMARY KEY, drafted_at TEXT NOT NULL, head TEXT NOT NULL, "
            "lines TEXT NOT NULL, notification_id {bigint} NOT NULL)",
            "CREATE TABLE psledger_view_invoice_events ("
            "number TEXT NOT NULL, version {bigint} NOT NULL, notification_id {bigint} NOT NULL, "
            "entry TEXT NOT NULL, PRIMARY KEY (number, version))",
        ),
    ),
}


def schema_version(view: str) -> int:
    """The shape of `view` this code writes (1: migration 7's)."""
    found = VIEW_SCHEMAS.get(view)
    return found.version if found else 1
