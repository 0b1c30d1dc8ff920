"""From a re-pricing diff to a credit note and a rebill, approved by finance.

    diff (dry run) --propose--> Proposal --approve--> RepricingApproved (on the invoice)
                                                  --next billing run--> {n}-C{k} and {n}-R{k}

A rule change (a tax rate, an FX rate) that changes an issued or posted
invoice is never applied in place. `propose` names what would correct it:
a credit note `{number}-C{n}` negating the lines it changes (net, and tax at
the invoice's own rate) and a rebill `{number}-R{n}` of those lines at
their new amounts under the new rule version. Lines already credited by an
earlier credit note are left out. A user approves the proposal
(`Invoice.approve_repricing`); the next billing run drafts both documents
from the approved lines (`rebill_repriced`), whatever rules that run has.
From then on the rebill bills those lines' items: a later correction of one
is credited against the rebill (`billing_document`), at the rebill's rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.billing_context import ContractBook
from domain.invoice import Invoice, invoice_totals
from domain.invoice_states import ISSUED, POSTED
from domain.money import round_money
from domain.period import Period
from domain.pricing import Line
from domain.provenance import Provenance
from domain.repricing import InvoiceDiff, reprice_invoice
from domain.rules import RuleSet

_NOT_COPIED = ("line_no", "credits_line")
_NOT_INHERITED = ("rejected_number", "reissue_root", "repricing_rule_version")


@dataclass(frozen=True)
class Proposal:
    """What correcting one invoice under new rules would issue."""

    number: str
    credit_note: str
    rebill: str
    currency: str
    old_rule_version: str
    new_rule_version: str
    old_tax_rate: Decimal
    new_tax_rate: Decimal
    credited: list[Line]  # the original lines, as invoiced
    rebilled: list[Line]  # the same lines at their new amounts

    @property
    def credit_totals(self) -> tuple[Decimal, Decimal, Decimal]:
        return invoice_totals(_negated_all(self.credited), self.old_tax_rate, self.currency)

    @property
    def rebill_totals(self) -> tuple[Decimal, Decimal, Decimal]:
        return invoice_totals(self.rebilled, self.new_tax_rate, self.currency)


def repriceable(invoice: Invoice) -> bool:
    """An issued or posted invoice (not a credit note) not replaced already."""
    return (
        invoice.state in (ISSUED, POSTED)
        and invoice.kind != "credit_note"
        and invoice.repriced_by is None
    )


def propose(
    invoice: Invoice, diff: InvoiceDiff, credit_notes: Iterable[Invoice], rules: RuleSet
) -> Proposal | None:
    """The credit note and rebill that would bring `invoice` to `rules`; None
    when nothing would change (or its tax code is not valid under them)."""
    if not repriceable(invoice) or diff.new_rule_version == diff.old_rule_version:
        return None
    header = invoice.header
    old_rate = Decimal(header["tax_rate"])
    new_rate = rules.tax_rate(str(header["tax_code"]), str(header["legal_entity"]))
    if new_rate is None:
        return None
    credited_nos = {ln.get("credits_line") for note in credit_notes for ln in note.lines}
    new_nets = {d.line_no: d.new_net for d in diff.lines if d.new_net is not None}
    currency = str(header["currency"])
    credited: list[Line] = []
    rebilled: list[Line] = []
    for line in invoice.lines:
        line_no = line.get("line_no")
        if line_no in credited_nos:
            continue
        old_net = Decimal(line["net"])
        new_net = new_nets.get(int(line_no or 0), old_net)
        if new_net == old_net and new_rate == old_rate:
            continue
        credited.append(dict(line))
        rebilled.append(_rebilled(line, new_net, currency, rules.version))
    if not credited:
        return None
    return Proposal(
        invoice.business_id,
        f"{invoice.business_id}-C{len(invoice.credit_notes) + 1}",
        f"{invoice.business_id}-R{len(invoice.reissues) + 1}",
        currency,
        str(header["rule_version"]),
        rules.version,
        old_rate,
        new_rate,
        credited,
        rebilled,
    )


def approve_in_book(
    book: ContractBook,
    rules: RuleSet,
    period: str | None,
    by: str,
    at: datetime,
    provenance: Provenance,
) -> list[Proposal]:
    """Approve, as `by`, the proposal for each changed invoice of the book (of
    `period`, or all); an approval already pending for `rules` is kept."""
    approved = []
    for invoice in sorted(book.invoices.values(), key=lambda inv: inv.business_id):
        if period is not None and invoice.header["period"] != period:
            continue
        pending = invoice.pending_repricing
        if not repriceable(invoice) or (pending and pending["rule_version"] == rules.version):
            continue
        notes = [book.invoices[n] for n in invoice.credit_notes if n in book.invoices]
        proposal = propose(invoice, reprice_invoice(invoice, book, rules), notes, rules)
        if proposal is not None:
            approve(proposal, invoice, by, at, provenance)
            approved.append(proposal)
    return approved


def approve(
    proposal: Proposal, invoice: Invoice, by: str, at: datetime, provenance: Provenance
) -> None:
    """Record that `by` approved the proposal (appended with the invoice)."""
    invoice.approve_repricing(
        proposal.new_rule_version,
        proposal.new_tax_rate,
        proposal.credited,
        proposal.rebilled,
        by,
        at,
        provenance.with_rule_version(proposal.new_rule_version),
    )


def documents(
    invoice: Invoice, approved: dict[str, Any], period: str, last_day: date, run_id: str
) -> list[tuple[str, dict[str, Any], list[Line]]]:
    """(number, header, lines) of the credit note and the rebill an approved
    repricing issues in a run for `period` (ending on `last_day`)."""
    number, header = invoice.business_id, invoice.header
    terms_days = (header["due_date"] - header["invoice_date"]).days
    common = {k: v for k, v in header.items() if k not in _NOT_INHERITED}
    common.update(period=period, invoice_date=last_day, billing_run=run_id)
    credit = {
        **common,
        "kind": "credit_note",
        "original_number": number,
        "due_date": last_day,
        "rule_version": approved["previous_rule_version"],
        "repricing_rule_version": approved["rule_version"],
    }
    rebill = {
        **common,
        "kind": "reissue",
        "original_number": number,
        "repricing_of": number,
        "due_date": last_day + timedelta(days=terms_days),
        "tax_rate": Decimal(approved["tax_rate"]),
        "rule_version": approved["rule_version"],
        "approved_by": approved["by"],
        "approved_at": approved["at"],
    }
    rebilled = [dict(ln) for ln in approved["rebilled"]]
    return [
        (f"{number}-C{len(invoice.credit_notes) + 1}", credit, _negated_all(approved["credited"])),
        (f"{number}-R{len(invoice.reissues) + 1}", rebill, rebilled),
    ]


def billing_document(invoices: Mapping[str, Invoice], number: str, item_id: str) -> str:
    """The document that bills `item_id` now, from `number`, the invoice its
    item was invoiced on: an approved repricing's rebill replaced the lines it
    rebilled (`repriced_by`), and a rebill can be repriced again. A correction
    of the item is credited against this document, never the replaced one."""
    seen: set[str] = set()
    while number not in seen:
        seen.add(number)
        invoice = invoices.get(number)
        rebill = invoices.get(invoice.repriced_by or "") if invoice is not None else None
        if rebill is None or not any(ln.get("item_id") == item_id for ln in rebill.lines):
            break
        number = rebill.business_id
    return number


def _rebilled(line: Line, new_net: Decimal, currency: str, rule_version: str) -> Line:
    quantity = Decimal(line["quantity"])
    unit_price = line.get("unit_price")
    if new_net != Decimal(line["net"]) and quantity:
        unit_price = round_money(new_net / quantity, currency)
    kept = {k: v for k, v in line.items() if k not in _NOT_COPIED}
    return {
        **kept,
        "net": new_net,
        "unit_price": unit_price,
        "rule_version": rule_version,
        "previous_net": Decimal(line["net"]),
        "repriced_line": line.get("line_no"),
    }


def _negated_all(lines: list[Line]) -> list[Line]:
    return [
        {
            **{k: v for k, v in line.items() if k != "line_no"},
            "net": -Decimal(line["net"]),
            "quantity": -Decimal(line["quantity"]),
            "credits_line": line.get("line_no"),
        }
        for line in lines
    ]


def preview(
    invoice: Invoice, proposal: Proposal, period: Period, provenance: Provenance
) -> list[Invoice]:
    """The credit note and rebill a run for `period` would issue once the
    proposal is approved (drafts for a dry run, never saved)."""
    approved = {
        "rule_version": proposal.new_rule_version,
        "previous_rule_version": proposal.old_rule_version,
        "tax_rate": proposal.new_tax_rate,
        "credited": proposal.credited,
        "rebilled": proposal.rebilled,
        "by": None,
        "at": None,
    }
    papers = documents(invoice, approved, str(period), period.last_day, provenance.record_id)
    return [Invoice.draft(number, header, lines, provenance) for number, header, lines in papers]
