"""Subcommands: ingest, bill, invoices, history, show, contracts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from domain.errors import InputError
from domain.invoice_states import DRAFT, ISSUED, POSTED, REJECTED
from domain.work_states import EXCEPTIONS, STATES
from psledger.app import LedgerApplication
from psledger.billing_jobs import MIN_PER_JOB, default_jobs
from psledger.cli import (
    Context,
    caught_up,
    checked_period,
    cli,
    emit_json,
    guarded,
    pass_ctx,
    progress,
    read_file,
)
from psledger.queries_views import ViewReader, invoice_row, json_array
from psledger.render import (
    INVOICE_HEADERS,
    history_table,
    invoice_cells,
    invoice_lines_table,
    streamed_table,
    table_shape,
)


@cli.group()
def ingest() -> None:
    """Apply records from the PSA, CRM, HR and ERP."""


@ingest.command("webhook")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_ctx
@guarded
def ingest_webhook(ctx: Context, files: tuple[Path, ...]) -> None:
    """Apply CRM, HR and ERP webhook bodies (JSON files), each once."""
    ledger = ctx.wiring.ledger
    for path in files:
        try:
            applied = ledger.apply_webhook(read_file(path))
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from exc
        what = (
            "duplicate delivery, nothing appended"
            if applied.duplicate
            else (f"{len(applied.event_ids)} events appended")
        )
        click.echo(f"{path}: {what}")


@cli.command()
@click.option("--period", required=True, callback=checked_period, help="Calendar month YYYY-MM.")
@click.option("--by", "actor", default="psledger", show_default=True, help="Who runs billing.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=default_jobs,
    show_default="the CPUs available, up to 4",
    help="Processes that bill shares of the contracts side by side (a run with "
    "little open work stays in one).",
)
@click.option(
    "--min-per-job",
    type=click.IntRange(min=1),
    default=MIN_PER_JOB,
    hidden=True,
    help="Fewest open items a process is given.",
)
@pass_ctx
@guarded
def bill(ctx: Context, period: str, actor: str, jobs: int, min_per_job: int) -> None:
    """Run billing for a period: price, apply caps and holds, draft invoices.

    Each contract is billed in its own transaction, so a run stopped
    half-way (or one that says a helper process stopped) is finished by
    running it again; what is billed already appends nothing.
    """
    with progress(f"billing {period}"):  # a spinner on a terminal: the run has no steps to count
        outcome = ctx.wiring.ledger.bill(period, actor=actor, jobs=jobs, min_per_job=min_per_job)
    processes = f" in {outcome.processes} processes" if outcome.processes > 1 else ""
    click.echo(
        f"billing {outcome.period}: {outcome.events_appended} events appended, "
        f"{len(outcome.invoices)} invoices/credit notes issued{processes}"
    )
    for number in outcome.invoices:
        click.echo(f"  {number}")
    if outcome.exceptions:
        listed = ", ".join(f"{code}={n}" for code, n in sorted(outcome.exceptions.items()))
        click.echo(f"open billing exceptions: {listed}")


CATCH_UP = click.option(
    "--catch-up/--no-catch-up",
    default=True,
    help="Bring the views up to the last stored event first (the default), or answer "
    "from them as they are.",
)


def _views(ctx: Context, catch_up: bool) -> LedgerApplication:
    """The application to read the views from, every view caught up to the
    store's last event unless told not to (in the shape this code reads, in
    either case: an older view is made anew, empty until it is caught up)."""
    if catch_up:
        caught_up(ctx.wiring.read_side)
    else:
        ctx.wiring.read_side.shape()
    return ctx.wiring.app


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "erp"]),
    default="table",
    show_default=True,
    help="A table, the invoice views as JSON, or the ERP payloads as JSON.",
)
@click.option("--contract", default=None, help="Only this contract's invoices (e.g. SOW-1042).")
@click.option("--period", default=None, callback=checked_period, help="Only this month, YYYY-MM.")
@click.option(
    "--state",
    default=None,
    type=click.Choice([DRAFT, ISSUED, POSTED, REJECTED]),
    help="Only invoices in this state.",
)
@click.option("--lines/--no-lines", default=False, help="Show lines in table format.")
@CATCH_UP
@pass_ctx
@guarded
def invoices(
    ctx: Context,
    fmt: str,
    contract: str | None,
    period: str | None,
    state: str | None,
    lines: bool,
    catch_up: bool,
) -> None:
    """List invoices and credit notes with net, tax, gross and lines (from the invoices view)."""
    app = _views(ctx, catch_up)
    column = "erp" if fmt == "erp" else "view"
    wanted: dict[str, Any] = {"contract": contract, "period": period, "state": state}
    if fmt in ("json", "erp"):
        with app.snapshot() as reads:  # what an ERP takes is the views at one moment
            _echo_json(ViewReader(app, reads).invoices(column, **wanted))
        return
    with app.snapshot() as reads:  # the table's two passes and the lines read one state
        reader = ViewReader(app, reads)
        widths, right, count = table_shape(INVOICE_HEADERS, _invoice_cells(reader, wanted))
        if not count:
            click.echo("no invoices")
        else:
            rows = _invoice_cells(reader, wanted)
            for text in streamed_table(INVOICE_HEADERS, widths, rows, right):
                click.echo(text, nl=False)
        if lines:
            for view in reader.invoices(**wanted):
                click.echo(f"\n{view['number']}:\n{invoice_lines_table(view)}")


def _invoice_cells(reader: ViewReader, wanted: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    return (invoice_cells(view) for view in reader.invoice_summaries(**wanted))


def _echo_json(values: Iterator[Any]) -> None:
    """What `emit_json(list(values))` prints, a value at a time."""
    for chunk in json_array(values, batch=20):
        click.echo(chunk, nl=False)
    click.echo("")


@cli.command()
@click.argument("entity_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table or JSON.",
)
@pass_ctx
@guarded
def history(ctx: Context, entity_id: str, fmt: str) -> None:
    """Every event of an entity: when, what, who, and the source record."""
    from psledger import queries  # reads the aggregates: the domain is loaded only here

    entries = queries.history(ctx.wiring.ledger, entity_id)
    if fmt == "json":
        emit_json(entries)
    else:
        click.echo(history_table(entries))


@cli.command()
@click.argument("entity_id")
@click.option(
    "--as-of",
    "as_of",
    default=None,
    help="Business time, ISO 8601 (UTC if no offset): the state after the changes "
    "made at their source by then (CDC commit time, webhook occurred_at).",
)
@click.option(
    "--recorded-as-of",
    "recorded_as_of",
    default=None,
    help="Ledger time, ISO 8601 (UTC if no offset): the state as the ledger had "
    "recorded it by then.",
)
@pass_ctx
@guarded
def show(ctx: Context, entity_id: str, as_of: str | None, recorded_as_of: str | None) -> None:
    """An entity's state now, or as it was at a moment (business or ledger time)."""
    from psledger import queries  # reads the aggregates: the domain is loaded only here

    emit_json(
        queries.entity_state(
            ctx.wiring.ledger,
            entity_id,
            queries.parse_instant(as_of) if as_of else None,
            recorded_as_of=queries.parse_instant(recorded_as_of) if recorded_as_of else None,
        )
    )


@cli.command()
@CATCH_UP
@click.option("--state", default=None, type=click.Choice(STATES), help="Only items in this state.")
@click.option(
    "--exception",
    "exception",
    default=None,
    type=click.Choice([*EXCEPTIONS, "any"]),
    help="Only items with this billing exception (or 'any').",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table or JSON.",
)
@pass_ctx
@guarded
def items(ctx: Context, catch_up: bool, state: str | None, exception: str | None, fmt: str) -> None:
    """Work items and their billing readiness: state, exception, invoice (from the items view)."""
    reader = ViewReader(_views(ctx, catch_up))
    if fmt == "json":
        with reader.items(state=state, exception=exception) as views:
            _echo_json(views)
        return
    with reader.item_listing(state=state, exception=exception) as (widths, rows):
        if not any(widths):
            click.echo("no matching work items")
            return
        for text in streamed_table(ITEM_HEADERS, widths, rows):
            click.echo(text, nl=False)


ITEM_HEADERS = ("kind", "id", "project", "date", "state", "exception", "invoice")


@cli.command("invoice")
@click.argument("number")
@CATCH_UP
@pass_ctx
@guarded
def invoice_cmd(ctx: Context, number: str, catch_up: bool) -> None:
    """One invoice with its lines, as JSON (from the invoices view)."""
    emit_json(invoice_row(_views(ctx, catch_up), number))


@cli.group()
def contracts() -> None:
    """Contract versions and amendments."""


@contracts.command("approve-amendment")
@click.argument("contract_id")
@click.argument("version", type=int)
@click.option("--by", "by", required=True, help="The finance user approving.")
@pass_ctx
@guarded
def approve_amendment(ctx: Context, contract_id: str, version: int, by: str) -> None:
    """Approve a proposed amendment; it is in force from its effective date."""
    applied = ctx.wiring.ledger.approve_amendment(contract_id, version, by)
    click.echo(
        f"contract {contract_id} version {version} approved by {by} "
        f"({len(applied.event_ids)} events appended)"
    )
