"""Settings: from the environment (PSLEDGER_*) and the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import InputError

DEFAULT_STORE = "sqlite:///./psledger.db"
SHIPPED_RULES = Path(__file__).parent / "data" / "tax_and_fx.json"


class Settings(BaseSettings):
    """Everything bootstrap() needs; nothing connects until it runs."""

    model_config = SettingsConfigDict(env_prefix="PSLEDGER_", extra="ignore")

    store: str = DEFAULT_STORE
    rules_file: Path = SHIPPED_RULES
    cache_size: int = Field(default=20_000, ge=0)
    park_max_age_seconds: int = Field(default=7 * 24 * 3600, ge=0)
    config_file: Path | None = None  # TOML: API tokens, webhook secrets, users
    mapping_file: Path | None = None  # default: the reference PSA mapping
    schema_registry_url: str | None = None  # for Avro; mock:// in tests
    # Standard Webhooks secrets per source, comma separated, besides the
    # config file's (see psledger/http/config.py).
    webhook_secrets_crm: SecretStr | None = None
    webhook_secrets_hr: SecretStr | None = None
    webhook_secrets_erp: SecretStr | None = None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and these overrides; a bad value is one
    line naming the environment variable, its value and the reason."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        where = name if name in overrides else f"PSLEDGER_{name.upper()}"
        value = first.get("input")
        shown = "" if "secret" in name or isinstance(value, dict) else f"={value!r}"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InputError(f"setting {where}{shown}: {first['msg']}{more}") from None


def store_environment(store: str) -> dict[str, str]:
    """eventsourcing environment variables for a store URL."""
    parts = urlsplit(store)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if parts.netloc or not path:
            raise InputError(f"store {store!r}: write sqlite:///relative.db or sqlite:////abs.db")
        path = path[1:] if path.startswith("/") else path
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path or ":memory:",
            "SQLITE_LOCK_TIMEOUT": "30",
            "CREATE_TABLE": "false",  # the schema is psledger/store/migrations.py's
            "APPLICATION_RECORDER_TOPIC": "psledger.store.sqlite:LedgerSQLiteRecorder",
        }
    if parts.scheme in ("postgresql", "postgres"):
        if not parts.path.strip("/"):
            raise InputError(f"store URL {redact(store)!r} names no database")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parts.path.strip("/")),
            "POSTGRES_HOST": parts.hostname or "localhost",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_LOCK_TIMEOUT": "30",
            "POSTGRES_POOL_SIZE": "4",
            # check a pooled connection before use: after a server restart the
            # pool replaces the dead ones instead of failing once with each
            "POSTGRES_PRE_PING": "y",
            "CREATE_TABLE": "false",  # the schema is psledger/store/migrations.py's
            "APPLICATION_RECORDER_TOPIC": "psledger.store.postgres:LedgerPostgresRecorder",
        }
    raise InputError(
        f"store {redact(store)!r}: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
    )


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
