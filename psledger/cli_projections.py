"""Subcommands: psledger projections (the read side's materialised views)."""

from __future__ import annotations

import sys

import click

from psledger.cli import Context, cli, emit_json, format_option, guarded, pass_ctx
from psledger.render import table


@cli.group()
def projections() -> None:
    """Materialised views: status, rebuild, and a diff under new rules."""


@projections.command("status")
@format_option("table", "json")
@pass_ctx
@guarded
def status(ctx: Context, fmt: str) -> None:
    """Each view's position, the store's last notification id, and the lag."""
    found = [s.to_dict() for s in ctx.wiring.read_side.status()]
    if fmt == "json":
        emit_json(found)
        return
    rows = [
        (
            s["name"],
            s["position"],
            s["last_notification_id"],
            s["lag"],
            "rebuilding" if s["rebuilding"] else "",
        )
        for s in found
    ]
    click.echo(table(("view", "position", "last id", "lag", ""), rows))


@projections.command("rebuild")
@click.argument("names", nargs=-1)
@pass_ctx
@guarded
def rebuild(ctx: Context, names: tuple[str, ...]) -> None:
    """Drop the views (all, or those NAMED) and replay every stored event into
    them, in pages. A rebuild that was stopped is resumed by running it again."""
    read_side = ctx.wiring.read_side
    chosen = read_side.names(names)
    if sys.stderr.isatty():
        target = read_side.last_notification_id()
        with click.progressbar(
            length=max(target, 1), label="rebuilding " + ", ".join(chosen), file=sys.stderr
        ) as bar:
            done = [0]

            def progress(position: int, _target: int) -> None:
                bar.update(position - done[0])
                done[0] = position

            read = read_side.rebuild(chosen, progress=progress)
    else:
        read = read_side.rebuild(chosen)
    click.echo(f"rebuilt {', '.join(chosen)}: {read} events replayed")
