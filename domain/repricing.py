"""What issued invoices would be under other rules: re-price without changing anything.

Finance changes a tax rate or an FX rate (a new rule version) and wants to
see the difference before anything is re-issued. Each invoice line is priced
again from its work item under the new rules, and the invoice's tax is
computed again; nothing is appended and no state changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.arithmetic import ARITHMETIC_ERRORS, INVALID_AMOUNT, failure
from domain.billing_context import ContractBook
from domain.expense_item import ExpenseItem
from domain.invoice import Invoice, invoice_totals
from domain.milestone import Milestone
from domain.pricing import Hold, included_line, price_expense, price_hours, price_milestone
from domain.rules import RuleSet
from domain.time_entry import TimeEntry
from domain.work_item import WorkItem


@dataclass
class LineDiff:
    line_no: int
    item_id: str | None
    part: str
    old_net: Decimal
    new_net: Decimal | None  # None: cannot be priced under the new rules
    note: str = ""


@dataclass
class InvoiceDiff:
    number: str
    currency: str
    old: tuple[Decimal, Decimal, Decimal]
    new: tuple[Decimal, Decimal, Decimal]
    old_rule_version: str
    new_rule_version: str
    lines: list[LineDiff] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.old != self.new or any(ln.new_net != ln.old_net for ln in self.lines)


def reprice_invoice(invoice: Invoice, book: ContractBook, rules: RuleSet) -> InvoiceDiff:
    """The invoice's totals and lines as the given rules would make them."""
    items = {item.business_id: item for item in book.items}
    new_lines: list[dict[str, Any]] = []
    diffs: list[LineDiff] = []
    sign = Decimal(-1) if invoice.kind == "credit_note" else Decimal(1)
    for line in invoice.lines:
        old_net = Decimal(line["net"])
        new_net, note = _guarded_reprice(line, items.get(line.get("item_id") or ""), book, rules)
        if new_net is not None:
            new_net *= sign
        diffs.append(
            LineDiff(
                int(line.get("line_no", 0)),
                line.get("item_id"),
                str(line.get("part")),
                old_net,
                new_net,
                note,
            )
        )
        new_lines.append({"net": old_net if new_net is None else new_net})
    header = invoice.header
    rate = rules.tax_rate(str(header["tax_code"]), str(header["legal_entity"]))
    if invoice.kind == "credit_note" or rate is None:
        rate = Decimal(header["tax_rate"])  # credit notes keep the original rate
    try:
        new = invoice_totals(new_lines, rate, str(header["currency"]))
    except ARITHMETIC_ERRORS:
        new = (invoice.net, invoice.tax, invoice.gross)  # the lines' notes say why
    return InvoiceDiff(
        invoice.business_id,
        str(header["currency"]),
        (invoice.net, invoice.tax, invoice.gross),
        new,
        str(header["rule_version"]),
        rules.version,
        diffs,
    )


def _guarded_reprice(
    line: dict[str, Any], item: WorkItem | None, book: ContractBook, rules: RuleSet
) -> tuple[Decimal | None, str]:
    try:
        return _reprice_line(line, item, book, rules)
    except ARITHMETIC_ERRORS as exc:
        if item is None:
            return None, f"{INVALID_AMOUNT}: line {line.get('line_no')} ({type(exc).__name__})"
        return None, f"{INVALID_AMOUNT}: {failure(item, exc)}"


def _reprice_line(
    line: dict[str, Any], item: WorkItem | None, book: ContractBook, rules: RuleSet
) -> tuple[Decimal | None, str]:
    if line.get("item_kind") == "retainer_fee":
        return Decimal(line["net"]), "unchanged (fee line)"
    if item is None:
        return Decimal(line["net"]), "unchanged (its item is not in this contract's book)"
    day = item.item_date
    terms = book.contract.version_in_force(day) if day is not None else None
    if terms is None:
        return None, "no contract version in force"
    quantity = Decimal(line["quantity"]).copy_abs()
    if isinstance(item, TimeEntry):
        if line.get("part") == "included":
            return Decimal(included_line(item, quantity, terms, rules)["net"]), ""
        card = book.rate_cards.get(terms.rate_card_id or "")
        priced = price_hours(item, quantity, str(line.get("part")), terms, card, rules)
        return _net(priced)
    if isinstance(item, ExpenseItem):
        return _net(price_expense(item, terms, rules))
    assert isinstance(item, Milestone)
    return _net(price_milestone(item, terms, rules))


def _net(priced: Any) -> tuple[Decimal | None, str]:
    if isinstance(priced, Hold):
        return None, f"{priced.code}: {priced.reason}"
    line = priced[0] if isinstance(priced, list) else priced
    return Decimal(line["net"]), ""
