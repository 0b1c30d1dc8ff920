"""The read side's tables: what each materialised view stores.

Every view's rows are written together with that view's position in
``psledger_view_tracking`` (one row per view, eventsourcing's single-row
tracking shape: ``application_name`` is ``psledger/<view>``), in one
transaction. A view can be dropped and replayed at any time.

    psledger_view_invoices     one row per invoice / credit note / re-issue:
                               its filter columns, `view` (the JSON that
                               `psledger invoices --format json` prints) and
                               `erp` (the ERP payload)
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
                               the line's invoice.
    psledger_view_entities     the entity index: (kind, business_id) ->
                               parent_id, version, last_notification_id
The operations figures are queries over these (`psledger.queries.figures`).
"""

from __future__ import annotations

VIEW_NAMES = ("invoices", "items", "lineage", "entities")
TRACKING_TABLE = "psledger_view_tracking"

# The tables each view owns (dropped by its rebuild).
VIEW_TABLES: dict[str, tuple[str, ...]] = {
    "invoices": ("psledger_view_invoices",),
    "items": ("psledger_view_items",),
    "lineage": ("psledger_view_lineage", "psledger_view_item_events"),
    "entities": ("psledger_view_entities",),
}

# DDL for the migration that creates them ({bigint} per dialect).
VIEW_DDL = [
    f"CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} ("
    "application_name TEXT PRIMARY KEY, notification_id {bigint})",
    "CREATE TABLE IF NOT EXISTS psledger_view_invoices ("
    "number TEXT PRIMARY KEY, contract_id TEXT NOT NULL, period TEXT NOT NULL, "
    "state TEXT NOT NULL, kind TEXT NOT NULL, invoice_date TEXT NOT NULL, "
    "currency TEXT NOT NULL, gross TEXT NOT NULL, view TEXT NOT NULL, erp TEXT NOT NULL, "
    "notification_id {bigint} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS psledger_view_invoices_period "
    "ON psledger_view_invoices (period, number)",
    "CREATE INDEX IF NOT EXISTS psledger_view_invoices_contract "
    "ON psledger_view_invoices (contract_id)",
    "CREATE INDEX IF NOT EXISTS psledger_view_invoices_state "
    "ON psledger_view_invoices (state, invoice_date)",
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
}
