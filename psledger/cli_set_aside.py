"""Subcommands: quarantine (list, show, replay, discard) and parked (list, expire)."""

from __future__ import annotations

import click

from domain.errors import LedgerError
from psledger.cli import Context, cli, emit_json, guarded, pass_ctx
from psledger.render import table
from psledger.set_aside import STATUSES, check_status, short_id


@cli.group()
def quarantine() -> None:
    """Records that could not be decoded, mapped or applied."""


def _checked_status(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return check_status(value)
    except LedgerError as exc:
        raise click.BadParameter(str(exc)) from None


@quarantine.command("list")
@click.option(
    "--status",
    default="open",
    show_default=True,
    callback=_checked_status,
    help=f"{', '.join(STATUSES)}, or 'discarded by WHO'.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table (short ids) or JSON (full and short ids).",
)
@pass_ctx
@guarded
def quarantine_list(ctx: Context, status: str, fmt: str) -> None:
    """Quarantined records with their reason; any unique id prefix names one."""
    rows = ctx.wiring.quarantine.list(status)
    if fmt == "json":
        emit_json([_view(r, raw=False) for r in rows])
        return
    if not rows:
        click.echo(f"no {status} quarantined records")
        return
    click.echo(
        table(
            ("id", "source", "position", "status", "reason", "detail"),
            [
                (
                    short_id(r.id),
                    r.source,
                    f"{r.partition}@{r.offset}",
                    r.status,
                    r.reason,
                    r.detail[:100],
                )
                for r in rows
            ],
        )
    )


ROW_ID = click.argument("row_id", metavar="ID")


@quarantine.command("show")
@ROW_ID
@pass_ctx
@guarded
def quarantine_show(ctx: Context, row_id: str) -> None:
    """One quarantined record with its raw bytes, as JSON (ID: a unique prefix)."""
    emit_json(_view(ctx.wiring.quarantine.show(row_id), raw=True))


@quarantine.command("replay")
@ROW_ID
@pass_ctx
@guarded
def quarantine_replay(ctx: Context, row_id: str) -> None:
    """Apply a quarantined record again (after the cause is fixed)."""
    full = ctx.wiring.quarantine.resolve(row_id)
    row_id = short_id(full)
    report = ctx.wiring.quarantine.replay(full)
    if report.applied:
        click.echo(f"{row_id}: applied, {report.events} events appended")
    elif report.duplicates:
        click.echo(f"{row_id}: already applied before; released from quarantine")
    elif report.parked:
        click.echo(f"{row_id}: still waits for another record")
    else:
        why = report.set_aside[0][1] if report.set_aside else "unknown reason"
        raise LedgerError(f"quarantined record {row_id} still fails: {why}")


@quarantine.command("discard")
@ROW_ID
@click.option("--by", required=True, help="Who discards it (kept on the record).")
@pass_ctx
@guarded
def quarantine_discard(ctx: Context, row_id: str, by: str) -> None:
    """Give up on a quarantined record; it stays listed as 'discarded by WHO'."""
    full = ctx.wiring.quarantine.resolve(row_id)
    row_id = short_id(full)
    ctx.wiring.quarantine.discard(full, by)
    click.echo(f"{row_id}: discarded by {by}")


@cli.group()
def parked() -> None:
    """Records waiting for another record (a time entry before its project)."""


@parked.command("list")
@pass_ctx
@guarded
def parked_list(ctx: Context) -> None:
    """Parked records: what each waits for, since when and why."""
    rows = ctx.wiring.parking.list()
    if not rows:
        click.echo("nothing parked")
        return
    click.echo(
        table(
            ("id", "waits for", "parked at", "reason"),
            [(r.id, r.waits_for, r.parked_at.isoformat()[:19], r.reason) for r in rows],
        )
    )


@parked.command("expire")
@pass_ctx
@guarded
def parked_expire(ctx: Context) -> None:
    """Move parked records older than the limit into quarantine."""
    report = ctx.wiring.parking.expire()
    click.echo(f"{report.quarantined} parked records moved to quarantine")


def _view(row: object, *, raw: bool) -> dict[str, object]:
    from psledger.store.rows import QuarantineRow

    assert isinstance(row, QuarantineRow)
    view: dict[str, object] = {
        "id": row.id,
        "short_id": short_id(row.id),
        "source": row.source,
        "partition": row.partition,
        "offset": row.offset,
        "record_key": row.record_key,
        "reason": row.reason,
        "detail": row.detail,
        "created_at": row.created_at.isoformat(),
        "status": row.status,
    }
    if raw:
        view["raw"] = row.raw.decode("utf-8", "replace")
    return view
