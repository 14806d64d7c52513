"""API keys -> principals, and the rule that a tenant key only ever acts on its own tenant.

Keys are configured as SHA-256 hashes, so the settings never hold a usable secret. Tenancy is
decided here only (`Principal.tenant_for`): a tenant key naming another tenant gets 403 rather
than a silent redirect, so a misconfigured caller finds out.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from hybrid_search.errors import AuthError, ConfigError, ForbiddenError, InvalidFilterError
from hybrid_search.settings import ApiKey, hash_api_key
from schemas.collection import TENANT_FIELD
from schemas.filters import filter_cost_problem

__all__ = [
    "Authenticator",
    "Principal",
    "PrincipalDep",
    "check_filter_scope",
    "current_principal",
    "is_loopback_host",
    "principal_for",
]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. `tenant` is the key's tenant (for an admin key, its default, maybe None)."""

    tenant: str | None
    admin: bool
    name: str
    write: bool = True

    def check_write(self) -> None:
        if not self.write:
            raise ForbiddenError("this API key is read-only", details={"field": "api_key"})

    def tenant_for(self, requested: str | None, default: str) -> str:
        """The tenant a request naming `requested` acts on (`default`: an admin key's fallback)."""
        if self.admin:
            return requested or self.tenant or default
        assert self.tenant is not None  # Authenticator only builds tenant-less admins
        if requested is not None and requested != self.tenant:
            raise ForbiddenError(
                "this API key is bound to one tenant and may not name another; leave 'tenant' out",
                details={"field": "tenant"},
            )
        return self.tenant


class Authenticator:
    """Maps presented keys to principals. With no keys configured the service is single-tenant
    and every request acts as `default_tenant` (loopback-only; see `create_app`)."""

    def __init__(self, keys: Sequence[ApiKey], default_tenant: str) -> None:
        seen: set[str] = set()
        for i, key in enumerate(keys):
            label = key.name or f"api_keys[{i}]"
            if key.tenant is None and not key.admin:
                raise ConfigError(f"API key {label} has neither a tenant nor admin=true")
            if key.sha256 in seen:
                raise ConfigError(f"API key {label} is configured twice")
            seen.add(key.sha256)
        self._keys = list(keys)
        self.default_tenant = default_tenant

    @property
    def open(self) -> bool:
        return not self._keys

    def authenticate(self, authorization: str | None, x_api_key: str | None) -> Principal:
        """The principal for the request's headers; AuthError for a missing or unknown key."""
        if self.open:
            return Principal(tenant=self.default_tenant, admin=False, name="anonymous")
        presented = _bearer(authorization)
        if presented is not None and x_api_key is not None and presented != x_api_key:
            raise AuthError("Authorization and X-API-Key carry different keys; send one")
        presented = presented if presented is not None else x_api_key
        if not presented:
            raise AuthError("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'")
        digest = hash_api_key(presented)
        match: ApiKey | None = None
        for key in self._keys:  # no early exit: constant work whichever key matches
            if hmac.compare_digest(key.sha256, digest):
                match = key
        if match is None:
            raise AuthError("invalid API key")
        return Principal(match.tenant, match.admin, match.name, match.write)


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthError("Authorization header must be 'Bearer <key>'")
    return value.strip()


def check_filter_scope(flt: Any) -> None:
    """Refuse filters over the cost bounds of `schemas.filters` (422) or naming the tenant field
    anywhere (403); the searcher also ANDs the tenant into every expression."""
    problem = filter_cost_problem(flt)
    if problem is not None:
        path, message = problem
        raise InvalidFilterError(f"{path}: {message}", details={"field": "filter", "path": path})
    stack = [flt]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("field") == TENANT_FIELD:
                raise ForbiddenError(
                    "filters may not use the 'tenant' field; the tenant comes from the API key",
                    details={"field": "filter"},
                )
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses; 0.0.0.0 and :: listen everywhere."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# OpenAPI security schemes: they only document the headers (and give /docs its Authorize
# button); `current_principal` parses the headers itself so every failure is our 401 body.
_bearer_scheme = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")


async def current_principal(
    request: Request,
    _bearer_doc: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
    _key_doc: Annotated[str | None, Depends(_key_scheme)],
) -> Principal:
    checked = getattr(request.state, "principal", None)
    if isinstance(checked, Principal):  # the body guard checked the key before the body came
        return checked
    return principal_for(request.app.state, request.headers)


def principal_for(state: Any, headers: Mapping[str, str]) -> Principal:
    """The principal for a request's headers, charged one request of its key's rate limit."""
    auth: Authenticator = state.auth
    principal = auth.authenticate(headers.get("authorization"), headers.get("x-api-key"))
    limiter = getattr(state, "rate_limiter", None)
    if limiter is not None:
        limiter.check(f"{principal.tenant}|{principal.name}|{principal.admin}")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]
