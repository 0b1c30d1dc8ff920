"""The one place that wires psledger together from settings.

`bootstrap()` opens the store (creating or upgrading its tables), loads the
rules and the read side. The parts that take in records and bill (the
source mapping, decoders, inbox, ledger, CDC pipeline, quarantine, parking)
are built on first use, once per wiring: a command that only reads the
views does not import or build them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from eventsourcing.persistence import PersistenceError

from domain.errors import InfrastructureError, InputError
from domain.rules import RuleSet
from psledger.app import LedgerApplication
from psledger.read_side import ReadSide
from psledger.settings import Settings, redact, store_environment
from psledger.store.schema import ensure_schema

if TYPE_CHECKING:
    from datetime import datetime

    from cdc.mapping import SourceMapping
    from psledger.inbound import InboundFactory
    from psledger.inbox import Inbox
    from psledger.ledger import Ledger
    from psledger.pipeline import CdcPipeline, DeadLetters
    from psledger.set_aside import Parking, Quarantine

T = TypeVar("T")


class built_once(Generic[T]):  # lower case: a decorator, like `property`
    """A `Wiring` part: the method builds it on first access, once per wiring
    (under the wiring's lock, whichever thread asks first)."""

    def __init__(self, build: Callable[[Wiring], T]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, wiring: None, owner: type[Wiring]) -> built_once[T]: ...

    @overload
    def __get__(self, wiring: Wiring, owner: type[Wiring]) -> T: ...

    def __get__(self, wiring: Wiring | None, owner: type[Wiring]) -> T | built_once[T]:
        if wiring is None:
            return self
        with wiring._lock:
            parts = wiring._parts
            if self.build.__name__ not in parts:
                parts[self.build.__name__] = self.build(wiring)
            found: T = parts[self.build.__name__]
            return found


class Wiring:
    """Everything bootstrap() built, the write side on first use; close()
    releases the store."""

    def __init__(
        self, settings: Settings, app: LedgerApplication, rules: RuleSet, read_side: ReadSide
    ) -> None:
        self.settings = settings
        self.app = app
        self.rules = rules
        self.read_side = read_side  # the materialised views (psledger/read_side.py)
        self._parts: dict[str, Any] = {}
        self._lock = threading.RLock()  # a part may build the parts it needs

    @property
    def clock(self) -> Callable[[], datetime]:
        from psledger.ledger import utc_now

        return utc_now

    @built_once
    def mapping(self) -> SourceMapping:
        """The source mapping (a bad mapping file is refused here, by name)."""
        from cdc.mapping import SourceMapping

        return SourceMapping.load(self.settings.mapping_file)

    @built_once
    def inbound(self) -> InboundFactory:
        from cdc.decoding import make_decoder
        from psledger.inbound import InboundFactory

        registry = None
        if self.settings.schema_registry_url:
            from cdc.kafka import schema_registry

            registry = schema_registry(self.settings.schema_registry_url)
        return InboundFactory(self.mapping, make_decoder(self.mapping.column_types(), registry))

    @built_once
    def inbox(self) -> Inbox:
        from psledger.inbox import Inbox

        return Inbox(self.app, self.inbound.from_stored, self.clock)

    @built_once
    def ledger(self) -> Ledger:
        from psledger.ledger import Ledger

        return Ledger(
            self.app, self.rules, self.inbox, self.inbound, self.clock, settings=self.settings
        )

    @built_once
    def pipeline(self) -> CdcPipeline:
        from psledger.pipeline import CdcPipeline

        return CdcPipeline(self.inbox, self.inbound, self.clock)

    @built_once
    def quarantine(self) -> Quarantine:
        from psledger.set_aside import Quarantine

        return Quarantine(self.inbox, self.inbound)

    @built_once
    def parking(self) -> Parking:
        from psledger.set_aside import Parking

        max_age = timedelta(seconds=self.settings.park_max_age_seconds)
        return Parking(self.inbox, self.clock, max_age)

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
    return Wiring(settings, app, rules, ReadSide(app))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
