"""Bearer API tokens and roles.

    role       may
    auditor    read: invoices, ERP payloads, history, entity state, quarantine
    finance    read as auditor; approve amendments; run billing
    operator   read the quarantine; replay and discard quarantined records

Webhook sources hold no token: a delivery authenticates by its Standard
Webhooks signature, made with a secret of that source only, so a source
reaches its own endpoint and nothing else (see `routes_webhooks`).

No token is 401 with ``WWW-Authenticate: Bearer``; a token without a role
the endpoint needs is 403. Tokens are compared by their SHA-256 and never
appear in an answer or a log line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from psledger.http.config import Role, User
from psledger.http.errors import ApiError
from psledger.http.service import service_of

READ: tuple[Role, ...] = ("auditor", "finance")
READ_QUARANTINE: tuple[Role, ...] = ("auditor", "finance", "operator")
FINANCE: tuple[Role, ...] = ("finance",)
OPERATOR: tuple[Role, ...] = ("operator",)

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token from the config file; its user's roles decide what it may do.",
)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def authorize(*roles: Role) -> Callable[..., Awaitable[User]]:
    """A dependency: the caller's user, if it holds one of `roles`."""
    allowed = frozenset(roles)

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> User:
        if credentials is None:
            raise ApiError(
                401,
                "missing_token",
                "an Authorization: Bearer token is required",
                headers=_CHALLENGE,
            )
        user = service_of(request).access.user_for(credentials.credentials)
        if user is None:
            raise ApiError(
                401, "invalid_token", "the bearer token is not known", headers=_CHALLENGE
            )
        if not allowed & user.roles:
            needed = " or ".join(sorted(allowed))
            raise ApiError(403, "forbidden", f"user {user.name} needs the role {needed}")
        return user

    return dependency
