"""Rule configuration: tax codes and FX rates, with the rule version they make."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from domain.errors import InputError
from domain.money import check_currency, to_decimal

# Bump when the pricing or billing logic itself changes meaning.
ENGINE_VERSION = "billing-2026.1"


@dataclass(frozen=True, slots=True)
class TaxCode:
    code: str
    rate: Decimal
    legal_entities: frozenset[str]


@dataclass(frozen=True, slots=True)
class FxRate:
    source: str
    target: str
    rate: Decimal
    effective_from: date


@dataclass(frozen=True)
class RuleSet:
    """Tax codes and FX rates in the shape of tax_and_fx.json.

    Its `version` is the engine version plus a digest of the configuration,
    so any change to a rate or a tax code is a new rule version.
    """

    tax_codes: dict[str, TaxCode]
    fx_rates: tuple[FxRate, ...]
    version: str

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> RuleSet:
        try:
            taxes = {
                code: TaxCode(
                    code,
                    to_decimal(spec["rate"], f"tax code {code} rate"),
                    frozenset(spec["legal_entities"]),
                )
                for code, spec in data["tax_codes"].items()
            }
            rates = tuple(
                sorted(
                    (
                        FxRate(
                            check_currency(r["from"], "fx from"),
                            check_currency(r["to"], "fx to"),
                            to_decimal(r["rate"], f"fx {r['from']}->{r['to']}"),
                            date.fromisoformat(r["effective_from"]),
                        )
                        for r in data["fx_rates"]
                    ),
                    key=lambda r: (r.source, r.target, r.effective_from),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"tax and FX configuration is invalid: {exc!r}") from exc
        canonical = json.dumps(
            {k: v for k, v in data.items() if not k.startswith("_")},
            sort_keys=True,
            separators=(",", ":"),
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:10]
        return cls(taxes, rates, f"{ENGINE_VERSION}+{digest}")

    def fx_rate(self, source: str, target: str, on: date) -> Decimal | None:
        """The rate with the latest effective_from on or before `on`."""
        if source == target:
            return Decimal(1)
        best: FxRate | None = None
        for rate in self.fx_rates:
            if rate.source == source and rate.target == target and rate.effective_from <= on:
                best = rate
        return None if best is None else best.rate

    def tax_rate(self, code: str, legal_entity: str) -> Decimal | None:
        """The rate of a tax code valid for the legal entity, else None."""
        tax = self.tax_codes.get(code)
        if tax is None or legal_entity not in tax.legal_entities:
            return None
        return tax.rate
