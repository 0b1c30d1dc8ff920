"""`psledger status`.

`status` is one screen: the store (its URL without a password), the event
count, each source's last position and the age of its last event, sync
latency, quarantine and parked counts by reason, open billing exceptions,
projection lag and the last billing run (`--format json` for a machine).
"""

from __future__ import annotations

from typing import Any

import click

from psledger.cli import Context, caught_up, cli, emit_json, format_option, guarded, pass_ctx
from psledger.ledger import utc_now
from psledger.ops.status import summary
from psledger.render import table


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"


def _counts(found: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in found.items()) or "none"


def render(found: dict[str, Any]) -> str:
    lines = [f"store          {found['store']}", f"events         {found['events']}"]
    run = found["last_billing_run"]
    lines += [
        f"quarantine     {_counts(found['quarantine'])}",
        f"parked         {_counts(found['parked'])}",
        f"exceptions     {_counts(found['open_exceptions'])}",
        f"projection lag {found['projection_lag']} events",
        "last billing   " + (f"{run['period']} at {run['at']} by {run['by']}" if run else "none"),
        "",
    ]
    if found["positions"]:
        positions = [
            (p["source"], p["partition"], p["position"], _age(p["age_s"]))
            for p in found["positions"]
        ]
        lines += [table(("source", "partition", "position", "age"), positions), ""]
    if found["sync"]:
        rows = [
            (
                s["source"],
                s["events"],
                _age(s["last_latency_s"]),
                _age(s["p95_latency_s"]),
                _age(s["age_s"]),
            )
            for s in found["sync"]
        ]
        lines.append(table(("source", "recent events", "latency", "p95", "age"), rows))
    return "\n".join(lines).rstrip()


@cli.command()
@format_option("table", "json")
@click.option("--catch-up/--no-catch-up", default=True, help="Bring the views up to date first.")
@pass_ctx
@guarded
def status(ctx: Context, fmt: str, catch_up: bool) -> None:
    """One screen: store, events, sources, set-aside records, exceptions, lag, billing."""
    read_side = ctx.wiring.read_side
    if catch_up:
        caught_up(read_side)
    found = summary(read_side, ctx.settings.store, utc_now())
    if fmt == "json":
        emit_json(found)
    else:
        click.echo(render(found))
