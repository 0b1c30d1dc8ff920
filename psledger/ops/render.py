"""HTML for the `/ops` dashboard: Jinja2 templates (package data under
`templates/`) with small inline SVG bar charts; no script, no CDN."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from psledger.store.rows import QuarantineRow

BAR_WIDTH = 220  # px of the longest bar


def duration(seconds: float | None) -> str:
    """1.5s, 4.2m, 3.1h, 12.0d; '-' when unknown."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"


def bars(values: list[float]) -> list[float]:
    """Each value's bar length in px, the largest at BAR_WIDTH."""
    top = max(values, default=0) or 1
    return [round(BAR_WIDTH * max(v, 0) / top, 1) for v in values]


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("psledger.ops", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = duration
    env.filters["percent"] = percent
    env.globals["bars"] = bars
    env.globals["bar_width"] = BAR_WIDTH
    return env


def render_dashboard(figures: dict[str, Any], user: str) -> str:
    return environment().get_template("ops.html").render(f=figures, user=user)


def render_login(message: str | None) -> str:
    return environment().get_template("login.html").render(message=message)


def render_quarantined(row: QuarantineRow) -> str:
    raw = row.raw.decode("utf-8", errors="replace")
    return environment().get_template("quarantined.html").render(row=row, raw=raw)
