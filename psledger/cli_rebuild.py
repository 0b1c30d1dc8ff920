"""What a rule change would do, before anything is re-issued.

`psledger rebuild --period P --rules NEW.json` and `psledger projections
diff --rules NEW.json [--period P]` re-price issued invoices under other
rules and append nothing; for each issued or posted invoice that would
change they name the credit note `{number}-C{n}` and rebill `{number}-R{n}`
that would correct it. `projections diff ... --apply --by USER` records
that USER approved those proposals (RepricingApproved, with the new rule
version); the next `psledger bill` issues them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from domain.errors import InputError
from domain.invoice import Invoice
from domain.period import Period
from domain.provenance import Provenance
from domain.repricing import InvoiceDiff
from domain.repricing_proposals import Proposal, preview, propose
from domain.rules import RuleSet
from projections.views import invoice_view, plain, plain_dict
from psledger.bootstrap import load_rules
from psledger.cli import (
    Context,
    cli,
    emit_json,
    format_option,
    guarded,
    pass_ctx,
    progress,
)
from psledger.cli_projections import projections
from psledger.render import invoices_table, table

if TYPE_CHECKING:
    from psledger.ledger import Ledger

RULES_HELP = "Tax and FX rules to compare with (default: the configured ones)."


def dry_run(ledger: Ledger, rules: RuleSet, period: str | None) -> dict[str, Any]:
    """The diff of each period's invoices under `rules`, each changed issued
    or posted invoice's proposal, and what a billing run would draft."""
    periods = [period] if period else sorted({inv.header["period"] for inv in ledger.invoices()})
    invoices: list[dict[str, Any]] = []
    drafts: dict[str, Invoice] = {}
    for month in periods:
        diffs, would = ledger.what_if(month, rules)
        if period is not None:
            drafts.update((inv.business_id, inv) for inv in would)
        run = Period.parse(period or month)
        for diff in diffs:
            entry, previews = _entry(ledger, diff, rules, run)
            invoices.append(entry)
            drafts.update((inv.business_id, inv) for inv in previews)
    return {
        "period": period,
        "rule_version": rules.version,
        "invoices": invoices,
        "would_draft": [invoice_view(inv) for inv in drafts.values()],
    }


def _entry(
    ledger: Ledger, diff: InvoiceDiff, rules: RuleSet, run: Period
) -> tuple[dict[str, Any], list[Invoice]]:
    invoice: Invoice = ledger.load(Invoice, diff.number)
    notes = [n for c in invoice.credit_notes if (n := ledger.load(Invoice, c)) is not None]
    proposal = propose(invoice, diff, notes, rules)
    pending = invoice.pending_repricing
    approved = pending is not None and pending["rule_version"] == rules.version
    entry = plain(diff) | {
        "changed": diff.changed,
        "state": invoice.state,
        "replaced_by": invoice.repriced_by,
        "proposal": None,
    }
    if proposal is not None:
        entry["proposal"] = _proposal(proposal, pending if approved else None)
    if proposal is None or approved:  # an approved one is in the run's own drafts
        return entry, []
    provenance = Provenance("ledger", f"what-if:{run}", actor="dry-run")
    return entry, preview(invoice, proposal, run, provenance)


def _proposal(proposal: Proposal, approval: dict[str, Any] | None) -> dict[str, Any]:
    return plain_dict(
        {
            "credit_note": {
                "number": proposal.credit_note,
                "rule_version": proposal.old_rule_version,
                "tax_rate": proposal.old_tax_rate,
                "totals": proposal.credit_totals,
                "credits_lines": [ln.get("line_no") for ln in proposal.credited],
            },
            "rebill": {
                "number": proposal.rebill,
                "rule_version": proposal.new_rule_version,
                "tax_rate": proposal.new_tax_rate,
                "totals": proposal.rebill_totals,
                "lines": [
                    {
                        "line_no": ln.get("repriced_line"),
                        "item_id": ln.get("item_id"),
                        "old_net": ln.get("previous_net"),
                        "new_net": ln.get("net"),
                    }
                    for ln in proposal.rebilled
                ],
            },
            "approved_by": approval["by"] if approval else None,
            "approved_at": approval["at"] if approval else None,
        }
    )


def _rules(ctx: Context, rules_file: Path | None) -> RuleSet:
    if rules_file is None:
        return ctx.wiring.rules
    return load_rules(ctx.settings.model_copy(update={"rules_file": rules_file}))


def _print(report: dict[str, Any]) -> None:
    scope = f"for {report['period']} " if report["period"] else ""
    click.echo(f"dry run {scope}under rule version {report['rule_version']}: nothing appended")
    found = report["invoices"]
    rows = [
        (d["number"], d["currency"], *_pairs(d), "changed" if d["changed"] else "same")
        for d in found
    ]
    header = ("invoice", "cur", "net", "net'", "tax", "tax'", "gross", "gross'", "")
    click.echo(table(header, rows) if rows else "no issued invoices in that period")
    for d in found:
        changed = [ln for ln in d["lines"] if ln["new_net"] != ln["old_net"]]
        if changed:
            click.echo(f"\n{d['number']} ({d['old_rule_version']} -> {d['new_rule_version']}):")
            click.echo(
                table(
                    ("line", "item", "part", "net", "net'", "note"),
                    [
                        (
                            ln["line_no"],
                            ln["item_id"] or "",
                            ln["part"],
                            ln["old_net"],
                            ln["new_net"] or "",
                            ln["note"],
                        )
                        for ln in changed
                    ],
                )
            )
        if (p := d["proposal"]) is not None:
            credit, rebill = p["credit_note"], p["rebill"]
            status = f"approved by {p['approved_by']}" if p["approved_by"] else "proposed"
            click.echo(
                f"{status}: credit note {credit['number']} {' '.join(credit['totals'])} "
                f"({credit['rule_version']}), rebill {rebill['number']} "
                f"{' '.join(rebill['totals'])} ({rebill['rule_version']})"
            )
    if report["would_draft"]:
        click.echo("\na billing run now would draft:")
        click.echo(invoices_table(report["would_draft"]))


def _pairs(d: dict[str, Any]) -> tuple[Any, ...]:
    old, new = d["old"], d["new"]
    return (old[0], new[0], old[1], new[1], old[2], new[2])


@cli.command()
@click.option("--period", required=True, help="Calendar month YYYY-MM.")
@click.option("--rules", "rules_file", type=click.Path(path_type=Path), help=RULES_HELP)
@format_option("table", "json")
@pass_ctx
@guarded
def rebuild(ctx: Context, period: str, rules_file: Path | None, fmt: str) -> None:
    """Dry run: re-price a period's invoices under other rules and show what
    would differ, and what a billing run would draft now. Appends nothing."""
    with progress(f"re-pricing {period}"):  # a spinner, on a terminal only
        report = dry_run(ctx.wiring.ledger, _rules(ctx, rules_file), period)
    emit_json(report) if fmt == "json" else _print(report)


@projections.command("diff")
@click.option(
    "--rules",
    "rules_file",
    required=True,
    type=click.Path(path_type=Path),
    help="The new tax and FX rules (JSON, the shape of psledger/data/tax_and_fx.json).",
)
@click.option("--period", default=None, help="Calendar month YYYY-MM (default: every period).")
@format_option("table", "json")
@click.option("--apply", "apply_", is_flag=True, help="Record the proposals as approved.")
@click.option("--by", "by", default=None, help="Who approves (with --apply).")
@pass_ctx
@guarded
def projections_diff(
    ctx: Context, rules_file: Path, period: str | None, fmt: str, apply_: bool, by: str | None
) -> None:
    """Re-price invoices under a rule file and list what changes, per invoice
    and line, with the credit note and rebill each changed issued invoice
    needs. Appends nothing, unless --apply --by USER records USER's approval;
    the next billing run then issues them."""
    if period is not None:
        Period.parse(period)
    rules = _rules(ctx, rules_file)
    ledger = ctx.wiring.ledger
    if not apply_:
        report = dry_run(ledger, rules, period)
        emit_json(report) if fmt == "json" else _print(report)
        return
    if not by:
        raise InputError("--apply needs --by USER: who approves the repricing")
    approved = ledger.approve_repricing(period, rules, by)
    if fmt == "json":
        emit_json([_proposal(p, {"by": by, "at": None}) | {"invoice": p.number} for p in approved])
        return
    click.echo(f"{len(approved)} repricings approved by {by} under {rules.version}")
    for p in approved:
        click.echo(f"  {p.number}: credit note {p.credit_note}, rebill {p.rebill}")
    if approved:
        click.echo("the next `psledger bill --period YYYY-MM` issues them")
