"""The one place that wires psledger together from settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from eventsourcing.persistence import PersistenceError

from cdc.decoding import make_decoder
from cdc.mapping import SourceMapping
from domain.errors import InfrastructureError, InputError
from domain.rules import RuleSet
from psledger.app import LedgerApplication
from psledger.inbound import InboundFactory
from psledger.inbox import Inbox
from psledger.ledger import Ledger, utc_now
from psledger.pipeline import CdcPipeline, DeadLetters
from psledger.read_side import ReadSide
from psledger.set_aside import Parking, Quarantine
from psledger.settings import Settings, redact, store_environment
from psledger.store.schema import ensure_schema


@dataclass
class Wiring:
    """Everything bootstrap() built; close() releases the store."""

    settings: Settings
    app: LedgerApplication
    rules: RuleSet
    mapping: SourceMapping
    inbound: InboundFactory
    inbox: Inbox
    ledger: Ledger
    pipeline: CdcPipeline
    quarantine: Quarantine
    parking: Parking
    read_side: ReadSide  # the materialised views (psledger/read_side.py)

    def kafka_pipeline(self, dead_letters: DeadLetters | None) -> CdcPipeline:
        """The CDC pipeline, also producing quarantined records to `<topic>.dlq`."""
        return self.pipeline.with_dead_letters(dead_letters)

    def close(self) -> None:
        self.app.close()


def load_rules(settings: Settings) -> RuleSet:
    try:
        data = json.loads(settings.rules_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read rules file {settings.rules_file}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"rules file {settings.rules_file} is not JSON: {exc}") from exc
    return RuleSet.from_mapping(data)


def bootstrap(settings: Settings | None = None) -> Wiring:
    """Connect to the store, create its tables if needed, load the rules."""
    settings = settings or Settings()
    env = store_environment(settings.store)
    env["AGGREGATE_CACHE_MAXSIZE"] = str(settings.cache_size)
    env["AGGREGATE_CACHE_FASTFORWARD"] = "y"
    env["DEEPCOPY_FROM_AGGREGATE_CACHE"] = "y"
    rules = load_rules(settings)
    try:
        app = LedgerApplication(env=env)
        ensure_schema(app)  # creates or upgrades it: psledger/store/migrations.py
    except (PersistenceError, OSError) as exc:
        raise InfrastructureError(
            f"cannot open the event store {redact(settings.store)}: {_first_line(exc)}"
        ) from exc
    mapping = SourceMapping.load(settings.mapping_file)
    registry = None
    if settings.schema_registry_url:
        from cdc.kafka import schema_registry

        registry = schema_registry(settings.schema_registry_url)
    clock = utc_now
    inbound = InboundFactory(mapping, make_decoder(mapping.column_types(), registry))
    inbox = Inbox(app, inbound.from_stored, clock)
    return Wiring(
        settings,
        app,
        rules,
        mapping,
        inbound,
        inbox,
        Ledger(app, rules, inbox, inbound, clock),
        CdcPipeline(inbox, inbound, clock),
        Quarantine(inbox, inbound),
        Parking(inbox, clock, timedelta(seconds=settings.park_max_age_seconds)),
        ReadSide(app),
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
