"""Access configuration of the HTTP app: API tokens, webhook secrets, limits.

Read from the TOML file named by ``PSLEDGER_CONFIG_FILE`` (``Settings.config_file``)
and, for webhook secrets, from the environment. The format::

    [http]
    max_body_bytes = 1048576      # webhook bodies above this are refused (413)
    tolerance_seconds = 300       # webhook-timestamp may be this far off now

    # One table per API user; the table name is the user name that finance
    # actions are recorded under (e.g. the approver of an amendment).
    # Only the SHA-256 of the bearer token is stored, as 64 hex digits:
    #     printf %s "$TOKEN" | sha256sum
    [tokens.alice]
    sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    roles = ["auditor"]           # auditor, finance, operator

    # Standard Webhooks secrets ("whsec_" + base64), several per source so a
    # secret can be rotated: every listed secret is accepted. An entry is a
    # string or a table naming the key id recorded in each event's provenance
    # (a string's key id is "<source>:<first 12 hex digits of its SHA-256>").
    [webhooks.crm]
    secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", {id = "crm-2026", secret = "whsec_..."}]
    [webhooks.hr]
    secrets = ["whsec_..."]
    [webhooks.erp]
    secrets = ["whsec_..."]

``PSLEDGER_WEBHOOK_SECRETS_CRM`` (and ``_HR``, ``_ERP``) add secrets for a
source, separated by commas or spaces. A source without a secret refuses
every delivery (401); no token file means every API call is refused (401).

Errors name the file and the field, never a token or a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.errors import InputError
from psledger.settings import Settings

Role = Literal["auditor", "finance", "operator"]
ROLES: tuple[Role, ...] = ("auditor", "finance", "operator")
SOURCES: tuple[str, ...] = ("crm", "hr", "erp")
SECRET_PREFIX = "whsec_"
PLACEHOLDER = "REPLACE_ME"  # what the example file holds instead of a secret or a hash
NEW_SECRET = (
    "python -c 'import base64,os; print(\"whsec_\" + base64.b64encode(os.urandom(24)).decode())'"
)
TOKEN_HASH = 'printf %s "$TOKEN" | sha256sum'
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_TOLERANCE = 300


@dataclass(frozen=True)
class User:
    """Who a bearer token belongs to."""

    name: str
    roles: frozenset[str]


@dataclass(frozen=True)
class WebhookKey:
    """One secret of a webhook source; `repr` never shows the key."""

    key_id: str
    key: bytes = field(repr=False)


@dataclass(frozen=True)
class AccessConfig:
    users_by_token_hash: dict[str, User] = field(default_factory=dict, repr=False)
    webhook_keys: dict[str, list[WebhookKey]] = field(default_factory=dict, repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY
    tolerance_seconds: int = DEFAULT_TOLERANCE

    def user_for(self, token: str) -> User | None:
        return self.users_by_token_hash.get(token_hash(token))

    def keys_for(self, source: str) -> list[WebhookKey]:
        return self.webhook_keys.get(source, [])


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# -- the file's schema ------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _HttpSection(_Strict):
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY, ge=1, le=64 * 1024 * 1024)
    tolerance_seconds: int = Field(default=DEFAULT_TOLERANCE, ge=1, le=3600)


class _Token(_Strict):
    sha256: str
    roles: list[Role] = Field(min_length=1)

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        if PLACEHOLDER in value:
            raise ValueError(f"replace the placeholder with the token's SHA-256 ({TOKEN_HASH})")
        if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise ValueError("must be the 64 hex digits of the token's SHA-256")
        return value.lower()


class _KeyEntry(_Strict):
    id: str = Field(min_length=1, max_length=100)
    secret: str


class _Source(_Strict):
    secrets: list[str | _KeyEntry] = []


class _File(_Strict):
    http: _HttpSection = _HttpSection()
    tokens: dict[str, _Token] = {}
    webhooks: dict[Literal["crm", "hr", "erp"], _Source] = {}


# -- loading -----------------------------------------------------------------------


def decode_secret(secret: str, where: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret ("whsec_" + base64)."""
    text = secret.strip()
    if PLACEHOLDER in text or text == SECRET_PREFIX + "...":
        raise InputError(
            f"{where}: replace the placeholder {text!r} with a real secret ({NEW_SECRET})"
        )
    if not text.startswith(SECRET_PREFIX):
        raise InputError(f"{where}: a webhook secret must start with {SECRET_PREFIX!r}")
    encoded = text[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{where}: a webhook secret is not valid base64") from None
    if len(key) < 16:
        raise InputError(f"{where}: a webhook secret must decode to at least 16 bytes")
    return key


def _fingerprint_id(source: str, key: bytes) -> str:
    return f"{source}:{hashlib.sha256(key).hexdigest()[:12]}"


def _read_file(path: Path) -> _File:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"config file {path} is not TOML: {exc}") from exc
    try:
        return _File.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise InputError(f"config file {path}: {where}: {msg}{more}") from None


def load_access(settings: Settings) -> AccessConfig:
    """Tokens and webhook secrets from the config file and the environment."""
    parsed = _read_file(settings.config_file) if settings.config_file else _File()
    users: dict[str, User] = {}
    for name, token in parsed.tokens.items():
        other = users.get(token.sha256)
        if other is not None:
            raise InputError(
                f"config file {settings.config_file}: tokens.{other.name} and tokens.{name} "
                "have the same token"
            )
        users[token.sha256] = User(name, frozenset(token.roles))
    keys: dict[str, list[WebhookKey]] = {source: [] for source in SOURCES}
    for source, section in parsed.webhooks.items():
        for i, entry in enumerate(section.secrets):
            where = f"config file {settings.config_file}: webhooks.{source}.secrets.{i}"
            if isinstance(entry, str):
                key = decode_secret(entry, where)
                keys[source].append(WebhookKey(_fingerprint_id(source, key), key))
            else:
                keys[source].append(WebhookKey(entry.id, decode_secret(entry.secret, where)))
    from_env = {
        "crm": settings.webhook_secrets_crm,
        "hr": settings.webhook_secrets_hr,
        "erp": settings.webhook_secrets_erp,
    }
    for name, secret in from_env.items():
        if secret is None:
            continue
        env = f"PSLEDGER_WEBHOOK_SECRETS_{name.upper()}"
        for text in re.split(r"[,\s]+", secret.get_secret_value()):
            if text:
                key = decode_secret(text, env)
                keys[name].append(WebhookKey(_fingerprint_id(name, key), key))
    return AccessConfig(users, keys, parsed.http.max_body_bytes, parsed.http.tolerance_seconds)


def gaps(access: AccessConfig) -> list[str]:
    """What the configuration leaves refused, each with how to configure it."""
    found = []
    if not access.users_by_token_hash:
        found.append(
            "no API tokens configured; every API call is refused. Add [tokens.NAME] "
            f"tables (sha256 = the token's SHA-256: {TOKEN_HASH}; roles) to a TOML file "
            "given by --config or PSLEDGER_CONFIG_FILE (see compose/psledger.example.toml)"
        )
    for source in SOURCES:
        if not access.keys_for(source):
            found.append(
                f"no webhook secret for {source}; its deliveries are refused. Add "
                f"[webhooks.{source}] secrets to the config file or set "
                f"PSLEDGER_WEBHOOK_SECRETS_{source.upper()} (new secret: {NEW_SECRET})"
            )
    return found


def summary(access: AccessConfig) -> list[str]:
    """What the configuration allows, naming no token or secret."""
    users = sorted(access.users_by_token_hash.values(), key=lambda u: u.name)
    lines = [f"API users: {len(users)}"]
    lines.extend(f"  {u.name}: {', '.join(sorted(u.roles))}" for u in users)
    lines.append(
        "webhook secrets: "
        + ", ".join(f"{source} {len(access.keys_for(source))}" for source in SOURCES)
    )
    lines.append(
        f"limits: bodies up to {access.max_body_bytes} bytes, "
        f"timestamps within {access.tolerance_seconds} s"
    )
    return lines
