"""The access configuration file: tokens by SHA-256, secrets per source,
limits; errors name the field, never the secret."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import SecretStr

from domain.errors import InputError
from psledger.http.config import load_access
from psledger.settings import Settings

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2"
EXAMPLE = Path(__file__).parents[3] / "compose" / "psledger.example.toml"


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def load(tmp_path: Path, text: str, **settings: object) -> object:
    path = tmp_path / "psledger.toml"
    path.write_text(text, encoding="utf-8")
    return load_access(Settings(config_file=path, **settings))  # type: ignore[arg-type]


def test_tokens_secrets_and_limits_are_read(tmp_path: Path) -> None:
    access = load(
        tmp_path,
        f"""
[http]
max_body_bytes = 2048
tolerance_seconds = 60
[tokens.alice]
sha256 = "{sha("tok-a")}"
roles = ["auditor", "finance"]
[webhooks.crm]
secrets = ["{SECRET}", {{id = "crm-next", secret = "{OTHER}"}}]
""",
    )
    user = access.user_for("tok-a")  # type: ignore[attr-defined]
    assert user.name == "alice" and user.roles == {"auditor", "finance"}
    assert access.user_for("tok-b") is None  # type: ignore[attr-defined]
    ids = [k.key_id for k in access.keys_for("crm")]  # type: ignore[attr-defined]
    assert ids[0].startswith("crm:") and len(ids[0]) == 16 and ids[1] == "crm-next"
    assert access.keys_for("hr") == []  # type: ignore[attr-defined]
    assert (access.max_body_bytes, access.tolerance_seconds) == (2048, 60)  # type: ignore[attr-defined]


def test_secrets_from_the_environment_add_to_the_files(tmp_path: Path) -> None:
    access = load(
        tmp_path,
        f'[webhooks.hr]\nsecrets = ["{SECRET}"]\n',
        webhook_secrets_hr=SecretStr(f"{OTHER}, "),
        webhook_secrets_erp=SecretStr(SECRET),
    )
    assert len(access.keys_for("hr")) == 2  # type: ignore[attr-defined]
    assert len(access.keys_for("erp")) == 1  # type: ignore[attr-defined]


def test_no_file_means_no_tokens_and_no_secrets() -> None:
    access = load_access(Settings(config_file=None))
    assert access.users_by_token_hash == {}
    assert all(access.keys_for(s) == [] for s in ("crm", "hr", "erp"))


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('[tokens.a]\nsha256 = "abc"\nroles = ["auditor"]\n', "tokens.a.sha256"),
        (f'[tokens.a]\nsha256 = "{"0" * 64}"\nroles = ["root"]\n', "tokens.a.roles"),
        (f'[tokens.a]\nsha256 = "{"0" * 64}"\nroles = []\n', "tokens.a.roles"),
        ("[webhooks.psa]\nsecrets = []\n", "webhooks.psa"),
        ("[http]\nmax_body_bytes = 0\n", "http.max_body_bytes"),
        ("[tokenz]\n", "tokenz"),
        ("not toml = = =\n", "is not TOML"),
    ],
)
def test_a_bad_file_names_the_field(tmp_path: Path, text: str, names: str) -> None:
    with pytest.raises(InputError) as caught:
        load(tmp_path, text)
    assert names in str(caught.value)


@pytest.mark.parametrize(
    "bad", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2hvcnQ=", "whsec_not*base64*at*all*!"]
)
def test_a_bad_secret_is_refused_without_being_echoed(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InputError) as caught:
        load(tmp_path, f'[webhooks.erp]\nsecrets = ["{bad}"]\n')
    assert "webhooks.erp.secrets.0" in str(caught.value)
    assert bad not in str(caught.value)


def test_two_users_with_one_token_are_refused(tmp_path: Path) -> None:
    text = "".join(
        f'[tokens.{name}]\nsha256 = "{sha("same")}"\nroles = ["auditor"]\n' for name in "ab"
    )
    with pytest.raises(InputError, match="same token"):
        load(tmp_path, text)


def test_the_example_file_loads_once_its_secrets_are_filled_in(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("whsec_REPLACE_ME", SECRET)
    access = load(tmp_path, text)
    assert {u.name for u in access.users_by_token_hash.values()} == {"audit-team", "jdoe", "ops"}  # type: ignore[attr-defined]
    with pytest.raises(InputError):
        load_access(Settings(config_file=EXAMPLE))  # the placeholders are refused
