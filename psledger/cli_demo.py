"""`psledger demo`: the sample firm, end to end, with a readable summary."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from projections.views import invoice_view
from psledger.cli import Context, cli, guarded, pass_ctx
from psledger.demo.run import items_by_state, run_demo, totals_by_currency
from psledger.render import invoices_table, table


@cli.command()
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the PSA's Debezium change-event files (default: a temp dir).",
)
@pass_ctx
@guarded
def demo(ctx: Context, out_dir: Path | None) -> None:
    """Build a sample firm through the real ingestion paths, bill two months, summarise."""
    wiring = ctx.wiring
    target = out_dir or Path(tempfile.mkdtemp(prefix="psledger-demo-"))
    report = run_demo(wiring, target)
    click.echo("psledger demo: sample firm, January and February 2026")
    click.echo(f"store: {ctx.settings.store}   rules: {wiring.rules.version}")
    for step in report.steps:
        click.echo(f"  - {step}")
    click.echo(f"  - Debezium files: {', '.join(str(p) for p in report.files)}")
    click.echo(f"\nevents appended: {report.events_after - report.events_before}")

    states = items_by_state(wiring)
    click.echo("\nwork items by state:")
    click.echo(
        table(
            ("kind", "state", "count"),
            [(kind, state, n) for (kind, state), n in sorted(states.items())],
        )
    )

    invoices = sorted(wiring.ledger.invoices(), key=lambda i: (i.header["period"], i.business_id))
    click.echo("\ninvoices:")
    click.echo(invoices_table([invoice_view(inv) for inv in invoices]))
    click.echo("\ntotals per currency (rejected invoices left out):")
    totals = totals_by_currency(invoices)
    click.echo(
        table(
            ("currency", "net", "tax", "gross"),
            [(cur, *amounts) for cur, amounts in sorted(totals.items())],
        )
    )

    exceptions = wiring.ledger.open_exceptions()
    click.echo(f"\nopen billing exceptions: {len(exceptions)}")
    if exceptions:
        click.echo(
            table(
                ("item", "state", "exception", "reason"),
                [
                    (
                        f"{i.KIND}:{i.business_id}",
                        i.state,
                        i.exception["code"] if i.exception else "",
                        i.exception["reason"] if i.exception else "",
                    )
                    for i in exceptions
                ],
            )
        )
    click.echo(
        "\nnext: psledger invoices --lines | psledger history TE-0001 | psledger quarantine list"
    )
