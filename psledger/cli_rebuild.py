"""`psledger rebuild`: what a rule change would do, before anything is re-issued."""

from __future__ import annotations

from pathlib import Path

import click

from projections.views import invoice_view, plain
from psledger.bootstrap import load_rules
from psledger.cli import Context, cli, emit_json, guarded, pass_ctx
from psledger.render import invoices_table, table


@cli.command()
@click.option("--period", required=True, help="Calendar month YYYY-MM.")
@click.option(
    "--rules",
    "rules_file",
    default=None,
    type=click.Path(path_type=Path),
    help="Tax and FX rules to compare with (default: the configured ones).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@pass_ctx
@guarded
def rebuild(ctx: Context, period: str, rules_file: Path | None, fmt: str) -> None:
    """Dry run: re-price a period's invoices under other rules and show what
    would differ, and what a billing run would draft now. Appends nothing."""
    wiring = ctx.wiring
    rules = wiring.rules
    if rules_file is not None:
        rules = load_rules(ctx.settings.model_copy(update={"rules_file": rules_file}))
    diffs, drafts = wiring.ledger.what_if(period, rules)
    if fmt == "json":
        emit_json(
            {
                "period": period,
                "rule_version": rules.version,
                "invoices": [plain(d) | {"changed": d.changed} for d in diffs],
                "would_draft": [invoice_view(inv) for inv in drafts],
            }
        )
        return
    click.echo(f"dry run for {period} under rule version {rules.version}: nothing appended")
    rows = [
        (
            d.number,
            d.currency,
            d.old[0],
            d.new[0],
            d.old[1],
            d.new[1],
            d.old[2],
            d.new[2],
            "changed" if d.changed else "same",
        )
        for d in diffs
    ]
    click.echo(
        table(("invoice", "cur", "net", "net'", "tax", "tax'", "gross", "gross'", ""), rows)
        if rows
        else "no issued invoices in that period"
    )
    for d in diffs:
        changed = [ln for ln in d.lines if ln.new_net != ln.old_net]
        if changed:
            click.echo(f"\n{d.number} ({d.old_rule_version} -> {d.new_rule_version}):")
            click.echo(
                table(
                    ("line", "item", "part", "net", "net'", "note"),
                    [
                        (
                            ln.line_no,
                            ln.item_id or "",
                            ln.part,
                            ln.old_net,
                            "" if ln.new_net is None else ln.new_net,
                            ln.note,
                        )
                        for ln in changed
                    ],
                )
            )
    if drafts:
        click.echo("\na billing run now would draft:")
        click.echo(invoices_table([invoice_view(inv) for inv in drafts]))
