"""The one error tree of psledger.

    LedgerError
    ├── DomainError                 a rule of the ledger refuses a command
    │   ├── TransitionRefused       work item / invoice state machine
    │   ├── ConflictingTerms        e.g. a second sow.approved with other terms
    │   ├── UnknownEntity           the command names an entity the ledger lacks
    │   └── OwnershipViolation      a source changes what it does not own
    ├── InputError                  a record or request that cannot be read
    │   ├── DecodeError             (cdc.errors) a change event that cannot be decoded
    │   ├── MappingError            (cdc.mapping_config) a change the mapping cannot map
    │   ├── WebhookInvalid          (cdc.webhooks) a webhook body that fails validation
    │   ├── WebhookIdReused         (psledger.inbox) a known webhook id with another body
    │   └── Unencodable             (psledger.outbox) an ERP payload the Avro schema cannot carry
    ├── MissingDependency           waits for another record (parked, retried)
    └── InfrastructureError         store, broker, engine; raised from the driver's error
        ├── SourceError             (cdc.errors) Kafka, the registry or the engine failed
        ├── StoreUnavailable        (psledger.store.errors) the event store cannot be reached
        └── PublishError            (psledger.outbox) the broker or registry failed a relay

A concurrent writer is not an error: the store raises `StoreConflict` (an
eventsourcing IntegrityError, psledger.store.errors) and the one retry loop
(psledger.app.retrying) decides again on the new state.

Every error carries a one-line message naming the record or entity and the
reason, suitable for a CLI user and for a quarantine row.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error psledger raises on purpose."""

    reason: str = "ledger_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class DomainError(LedgerError):
    reason = "domain_rule"


class TransitionRefused(DomainError):
    """A state change not in the diagram of BILLING_RULES.md."""

    reason = "illegal_transition"

    def __init__(self, entity: str, state: str, attempted: str, detail: str = "") -> None:
        self.entity = entity
        self.state = state
        self.attempted = attempted
        tail = f": {detail}" if detail else ""
        super().__init__(f"{entity} is {state}; cannot {attempted}{tail}")


class ConflictingTerms(DomainError):
    reason = "conflicting_terms"


class UnknownEntity(DomainError):
    reason = "unknown_entity"


class OwnershipViolation(DomainError):
    reason = "ownership_violation"


class InputError(LedgerError):
    reason = "invalid_input"


class MissingDependency(LedgerError):
    """The record needs another entity first; it is parked, not dropped."""

    reason = "missing_dependency"

    def __init__(self, message: str, *, waits_for: str) -> None:
        super().__init__(message)
        self.waits_for = waits_for


class InfrastructureError(LedgerError):
    reason = "infrastructure"
