"""Contract (SOW): approved versions, amendments and retainer fee lines."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from eventsourcing.domain import event

from domain.base import LedgerAggregate
from domain.errors import ConflictingTerms, InputError, TransitionRefused, UnknownEntity
from domain.money import check_currency, to_decimal
from domain.provenance import Provenance

BILLING_METHODS = ("time_and_materials", "fixed_price", "retainer")
FREQUENCIES = ("monthly", "on_milestone")
CONSOLIDATIONS = ("per_contract", "per_project")


@dataclass(frozen=True)
class ContractTerms:
    """The commercial terms of one contract version."""

    version: int
    customer_id: str
    legal_entity: str
    currency: str
    billing_method: str
    rate_card_id: str | None
    expense_markup_pct: Decimal
    tax_code: str
    invoice_frequency: str
    consolidation: str
    effective_from: date
    effective_to: date | None
    not_to_exceed: Decimal | None = None
    monthly_fee: Decimal | None = None
    included_hours: Decimal | None = None
    po_number: str | None = None
    milestones: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        label = f"contract version {self.version}"
        if self.billing_method not in BILLING_METHODS:
            raise InputError(f"{label}: unknown billing_method {self.billing_method!r}")
        if self.invoice_frequency not in FREQUENCIES:
            raise InputError(f"{label}: unknown invoice_frequency {self.invoice_frequency!r}")
        if self.consolidation not in CONSOLIDATIONS:
            raise InputError(f"{label}: unknown consolidation {self.consolidation!r}")
        if self.billing_method == "retainer" and (
            self.monthly_fee is None or self.included_hours is None
        ):
            raise InputError(f"{label}: a retainer needs monthly_fee and included_hours")
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise InputError(f"{label}: effective_to is before effective_from")
        check_currency(self.currency, f"{label} currency")

    def covers(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )

    def milestone_amount(self, milestone_id: str) -> Decimal | None:
        spec = self.milestones.get(milestone_id)
        return None if spec is None else Decimal(str(spec["amount"]))

    def to_event(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> ContractTerms:
        return cls(**data)

    def amended(self, version: int, changes: dict[str, Any], effective_from: date) -> ContractTerms:
        """These terms with an amendment's changes applied."""
        values = asdict(self)
        values.update(parse_term_changes(changes))
        values["version"] = version
        values["effective_from"] = effective_from
        return ContractTerms(**values)


_DECIMAL_TERMS = ("not_to_exceed", "monthly_fee", "included_hours", "expense_markup_pct")
_DATE_TERMS = ("effective_from", "effective_to")


def parse_term_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Typed values for the changes of an amendment (strings from JSON)."""
    known = {f for f in ContractTerms.__dataclass_fields__ if f not in ("version", "customer_id")}
    known |= {"retainer"}
    parsed: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in known:
            raise InputError(f"amendment changes unknown term {name!r}")
        if name == "retainer":
            parsed.update(_retainer(value))
        elif name in _DECIMAL_TERMS:
            parsed[name] = None if value is None else to_decimal(value, name)
        elif name in _DATE_TERMS:
            parsed[name] = None if value is None else date.fromisoformat(str(value))
        elif name == "milestones":
            parsed[name] = _milestones(value)
        else:
            parsed[name] = value
    return parsed


def _retainer(value: Any) -> dict[str, Any]:
    if value is None:
        return {"monthly_fee": None, "included_hours": None}
    return {
        "monthly_fee": to_decimal(value["monthly_fee"], "retainer.monthly_fee"),
        "included_hours": to_decimal(value["included_hours"], "retainer.included_hours"),
    }


def _milestones(value: Any) -> dict[str, dict[str, Any]]:
    return {
        str(m["milestone_id"]): {
            "name": str(m.get("name", "")),
            "amount": to_decimal(m["amount"], f"milestone {m['milestone_id']} amount"),
        }
        for m in value or []
    }


def terms_from_sow(data: dict[str, Any]) -> ContractTerms:
    """Contract terms from the data of a CRM sow.approved webhook."""
    try:
        return ContractTerms(
            version=int(data["version"]),
            customer_id=str(data["customer"]["id"]),
            legal_entity=str(data["legal_entity"]),
            currency=str(data["currency"]),
            billing_method=str(data["billing_method"]),
            rate_card_id=data.get("rate_card_id"),
            expense_markup_pct=to_decimal(
                data.get("expense_markup_pct", "0"), "expense_markup_pct"
            ),
            tax_code=str(data["tax_code"]),
            invoice_frequency=str(data.get("invoice_frequency", "monthly")),
            consolidation=str(data.get("consolidation", "per_contract")),
            effective_from=date.fromisoformat(data["effective_from"]),
            effective_to=(
                date.fromisoformat(data["effective_to"]) if data.get("effective_to") else None
            ),
            not_to_exceed=(
                to_decimal(data["not_to_exceed"], "not_to_exceed")
                if data.get("not_to_exceed") is not None
                else None
            ),
            po_number=data.get("po_number"),
            milestones=_milestones(data.get("milestones")),
            **_retainer(data.get("retainer")),
        )
    except KeyError as exc:
        raise InputError(f"sow.approved for {data.get('contract_id')}: missing {exc}") from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"sow.approved for {data.get('contract_id')}: {exc}") from None


@dataclass(frozen=True)
class ContractVersion:
    terms: ContractTerms
    status: str  # "proposed" or "approved"
    proposed_by: str | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    reason: str | None = None


class Contract(LedgerAggregate):
    """A customer contract with its full version history.

    Version 1 arrives approved (CRM sow.approved). An amendment is proposed
    (CRM sow.amended), approved by a finance user, and in force from its
    effective date.
    """

    KIND = "contract"

    @event("Registered")
    def __init__(
        self,
        business_id: str,
        terms: dict[str, Any],
        approved_by: str | None,
        approved_at: datetime,
        provenance: Provenance,
    ) -> None:
        self.business_id = business_id
        first = ContractTerms.from_event(terms)
        self.versions: dict[int, ContractVersion] = {
            first.version: ContractVersion(first, "approved", None, approved_by, approved_at)
        }
        self.fee_lines: dict[str, str] = {}

    # -- queries -----------------------------------------------------------

    @property
    def customer_id(self) -> str:
        return self.latest_approved.terms.customer_id

    @property
    def latest_approved(self) -> ContractVersion:
        approved = [v for v in self.versions.values() if v.status == "approved"]
        return max(approved, key=lambda v: v.terms.version)

    def version_in_force(self, on: date) -> ContractTerms | None:
        """The approved version in force on a date: the highest version
        number whose effective_from is on or before it, if it covers it."""
        candidates = [
            v.terms
            for v in self.versions.values()
            if v.status == "approved" and v.terms.effective_from <= on
        ]
        if not candidates:
            return None
        terms = max(candidates, key=lambda t: t.version)
        return terms if terms.covers(on) else None

    # -- commands ----------------------------------------------------------

    def approve_version(
        self, terms: ContractTerms, by: str | None, at: datetime, provenance: Provenance
    ) -> None:
        """A CRM sow.approved for this contract: idempotent for equal terms."""
        existing = self.versions.get(terms.version)
        if existing is not None:
            if existing.terms != terms:
                raise ConflictingTerms(
                    f"{self.label} version {terms.version} is already "
                    f"{existing.status} with different terms"
                )
            if existing.status == "approved":
                return
        elif terms.version <= max(self.versions):
            raise ConflictingTerms(
                f"{self.label}: version {terms.version} is older than version {max(self.versions)}"
            )
        self._version_approved(terms=terms.to_event(), by=by, at=at, provenance=provenance)

    @event("VersionApproved")
    def _version_approved(
        self, terms: dict[str, Any], by: str | None, at: datetime, provenance: Provenance
    ) -> None:
        parsed = ContractTerms.from_event(terms)
        self.versions[parsed.version] = ContractVersion(parsed, "approved", None, by, at)

    def propose_amendment(
        self,
        version: int,
        changes: dict[str, Any],
        effective_from: date,
        reason: str | None,
        by: str | None,
        provenance: Provenance,
    ) -> None:
        base = self.versions[max(self.versions)].terms
        terms = base.amended(version, changes, effective_from)
        existing = self.versions.get(version)
        if existing is not None:
            if existing.terms == terms:
                return
            raise ConflictingTerms(
                f"{self.label} version {version} is already {existing.status} with other terms"
            )
        if version != max(self.versions) + 1:
            raise ConflictingTerms(
                f"{self.label}: amendment version {version} does not follow "
                f"version {max(self.versions)}"
            )
        self._amendment_proposed(
            terms=terms.to_event(), reason=reason, by=by, provenance=provenance
        )

    @event("AmendmentProposed")
    def _amendment_proposed(
        self, terms: dict[str, Any], reason: str | None, by: str | None, provenance: Provenance
    ) -> None:
        parsed = ContractTerms.from_event(terms)
        self.versions[parsed.version] = ContractVersion(parsed, "proposed", by, reason=reason)

    def approve_amendment(
        self, version: int, by: str, at: datetime, provenance: Provenance
    ) -> None:
        """A finance user approves a proposed amendment."""
        if not by:
            raise InputError("approving an amendment needs the approver's name")
        existing = self.versions.get(version)
        if existing is None:
            raise UnknownEntity(f"{self.label} has no version {version}")
        if existing.status != "proposed":
            raise TransitionRefused(
                f"{self.label} version {version}", existing.status, "approve the amendment"
            )
        self._amendment_approved(version=version, by=by, at=at, provenance=provenance)

    @event("AmendmentApproved")
    def _amendment_approved(
        self, version: int, by: str, at: datetime, provenance: Provenance
    ) -> None:
        self.versions[version] = replace(
            self.versions[version], status="approved", approved_by=by, approved_at=at
        )

    def invoice_fee(self, month: str, invoice_number: str, provenance: Provenance) -> None:
        if month in self.fee_lines:
            raise TransitionRefused(
                f"{self.label} fee {month}", "invoiced", f"invoice it on {invoice_number}"
            )
        self._fee_invoiced(month=month, invoice_number=invoice_number, provenance=provenance)

    @event("FeeInvoiced")
    def _fee_invoiced(self, month: str, invoice_number: str, provenance: Provenance) -> None:
        self.fee_lines[month] = invoice_number

    def reinvoice_fee(self, month: str, invoice_number: str, provenance: Provenance) -> None:
        """Move a fee line to its re-issue invoice after an ERP rejection."""
        self._fee_reinvoiced(month=month, invoice_number=invoice_number, provenance=provenance)

    @event("FeeReinvoiced")
    def _fee_reinvoiced(self, month: str, invoice_number: str, provenance: Provenance) -> None:
        self.fee_lines[month] = invoice_number
