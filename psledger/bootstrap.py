"""The one place that wires psledger together from settings."""

from __future__ import annotations

import json
from dataclasses import dataclass

from eventsourcing.persistence import PersistenceError

from domain.errors import InfrastructureError, InputError
from domain.rules import RuleSet
from psledger.app import LedgerApplication
from psledger.ledger import Ledger
from psledger.settings import Settings, redact, store_environment


@dataclass
class Wiring:
    """Everything bootstrap() built; close() releases the store."""

    settings: Settings
    app: LedgerApplication
    rules: RuleSet
    ledger: Ledger

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
    except (PersistenceError, OSError) as exc:
        raise InfrastructureError(
            f"cannot open the event store {redact(settings.store)}: {_first_line(exc)}"
        ) from exc
    return Wiring(settings, app, rules, Ledger(app, rules))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
