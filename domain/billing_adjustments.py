"""Billing phases 1 and 2: corrections become credit notes, rejected
invoices are re-issued."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from domain.billing_context import ContractBook, RunContext
from domain.invoice import Invoice
from domain.invoice_states import REJECTED
from domain.pricing import (
    Line,
)
from domain.repricing_proposals import billing_document, documents
from domain.work_item import BILLABLE, INVOICED, POSTED, WorkItem


def _items(books: list[ContractBook]) -> list[WorkItem]:
    """The items of these books, each once (an item may sit in two books)."""
    seen: dict[tuple[str, str], WorkItem] = {}
    for book in books:
        for item in book.items:
            seen.setdefault((item.KIND, item.business_id), item)
    return list(seen.values())


def _owners(books: list[ContractBook]) -> dict[str, ContractBook]:
    """Invoice number -> the book (contract) it belongs to."""
    return {number: book for book in books for number in book.invoices}


def credit_corrections(ctx: RunContext, books: list[ContractBook]) -> list[Invoice]:
    """A credit note `{number}-C{n}` on the original invoice's contract for
    each invoice with corrected items, wherever the items bill now (an item
    moved to another contract is credited on its old one). An item whose
    line an approved repricing rebilled is credited on the rebill, the
    document that bills it now (`billing_document`), never on the replaced
    invoice."""
    owners = _owners(books)
    by_invoice: dict[str, list[WorkItem]] = defaultdict(list)
    for item in _items(books):
        if item.state in (INVOICED, POSTED) and item.pending_correction is not None:
            assert item.invoice_number is not None
            if item.invoice_number in owners:  # else: its contract's run credits it
                invoices = owners[item.invoice_number].invoices
                number = billing_document(invoices, item.invoice_number, item.business_id)
                by_invoice[number].append(item)
    drafted = []
    for number, items in sorted(by_invoice.items()):
        book = owners[number]
        original = book.invoices[number]
        note = f"{number}-C{len(original.credit_notes) + 1}"
        ids = {item.business_id for item in items}
        lines = [_negated(ln) for ln in original.lines if ln.get("item_id") in ids]
        header = {
            **original.header,
            "kind": "credit_note",
            "original_number": number,
            "period": str(ctx.period),
            "invoice_date": ctx.period.last_day,
            "due_date": ctx.period.last_day,
            "rule_version": ctx.rules.version,
            "billing_run": ctx.provenance.record_id,
        }
        drafted.append(ctx.draft(book, note, header, lines))
        original.record_credit_note(note, ctx.provenance)
        for item in items:
            item.credit(note, ctx.provenance)
    return drafted


def rebill_repriced(ctx: RunContext, books: list[ContractBook]) -> list[Invoice]:
    """For each invoice with an approved repricing: its credit note and its
    rebill, from the approved lines and rule version (domain.repricing_proposals).
    Lines credited since the approval (a correction) are left out."""
    drafted = []
    for book in books:
        for invoice in sorted(book.invoices.values(), key=lambda inv: inv.business_id):
            approved = invoice.pending_repricing
            if approved is None:
                continue
            notes = (book.invoices.get(n) for n in invoice.credit_notes)
            done = {ln.get("credits_line") for note in notes if note for ln in note.lines}
            approved = {
                **approved,
                "credited": [ln for ln in approved["credited"] if ln["line_no"] not in done],
                "rebilled": [ln for ln in approved["rebilled"] if ln["repriced_line"] not in done],
            }
            if not approved["credited"]:
                continue
            papers = documents(
                invoice, approved, str(ctx.period), ctx.period.last_day, ctx.provenance.record_id
            )
            for number, header, lines in papers:
                drafted.append(ctx.draft(book, number, header, lines))
            invoice.record_repricing(papers[0][0], papers[1][0], ctx.provenance)
    return drafted


def reissue_rejected(ctx: RunContext, books: list[ContractBook]) -> list[Invoice]:
    """Each rejected invoice once: `{root}-R{n}` with exactly its lines, less
    the lines of items changed at the source since (billed anew)."""
    items = _items(books)
    drafted = []
    for book in books:
        drafted += _reissue_in(ctx, book, items)
    return drafted


def _reissue_in(ctx: RunContext, book: ContractBook, items: list[WorkItem]) -> list[Invoice]:
    done = {inv.header.get("rejected_number") for inv in book.invoices.values()}
    rejected_ones = [
        inv
        for inv in sorted(book.invoices.values(), key=lambda inv: inv.business_id)
        if inv.state == REJECTED and inv.business_id not in done
    ]
    drafted = []
    for rejected in rejected_ones:
        root_number = rejected.header.get("reissue_root") or rejected.business_id
        root = book.invoices[root_number]
        returned = [
            item
            for item in items
            if item.reissue_of == rejected.business_id and item.state == BILLABLE
        ]
        returned_ids = {item.business_id for item in returned}
        lines = [
            dict(ln)
            for ln in rejected.lines
            if ln.get("item_kind") == "retainer_fee" or ln.get("item_id") in returned_ids
        ]
        if not lines:
            continue  # every item changed since: they are billed anew instead
        number = f"{root_number}-R{len(root.reissues) + 1}"
        header = {
            **rejected.header,
            "kind": "credit_note" if rejected.kind == "credit_note" else "reissue",
            "original_number": rejected.header.get("original_number") or root_number,
            "reissue_root": root_number,
            "rejected_number": rejected.business_id,
            "period": str(ctx.period),
            "billing_run": ctx.provenance.record_id,
        }
        drafted.append(ctx.draft(book, number, header, lines))
        root.record_reissue(number, ctx.provenance)
        for item in returned:
            item.invoice(number, ctx.provenance)
        for ln in lines:
            if ln.get("item_kind") == "retainer_fee":
                book.contract.reinvoice_fee(str(ln["month"]), number, ctx.provenance)
    return drafted


def _negated(line: Line) -> Line:
    return {
        **line,
        "net": -Decimal(line["net"]),
        "quantity": -Decimal(line["quantity"]),
        "credits_line": line.get("line_no"),
    }
