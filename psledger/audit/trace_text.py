"""`psledger audit trace` for a terminal: the trace of psledger.audit.trace as text."""

from __future__ import annotations

from typing import Any


def render_text(found: dict[str, Any]) -> str:
    """The trace for a terminal: header, the invoice's events, then each line."""
    out = [
        f"{found['kind']} {found['invoice']} ({found['state']}), contract "
        f"{found['contract_id']}, period {found['period']}",
        f"rule version {found['rule_version']}; net {found['net']} tax {found['tax']} "
        f"gross {found['gross']} {found['currency']}",
        "invoice events:",
        *(_event_line(e) for e in found["events"]),
    ]
    for line in found["lines"]:
        what = f"{line['item_kind']} {line['item_id'] or ''} {line['part']}".replace("  ", " ")
        out.append(f"line {line['line_no']}: {what} net {line['net']} ({line['source']})")
        approval = line["approval"]
        if approval["by"] or approval["source"]:
            out.append(f"  approved by {approval['by']} at {approval['at']} ({approval['source']})")
        out.extend(_event_line(e) for e in line["events"])
    return "\n".join(out)


def _event_line(entry: dict[str, Any]) -> str:
    business = entry["business_time"] or "-"
    return (
        f"  v{entry['version']} {entry['event']:<18} {entry['role']:<10} "
        f"business {business} recorded {entry['recorded_at']} by {entry['actor'] or '-'}: "
        f"{entry['source']}"
    )
