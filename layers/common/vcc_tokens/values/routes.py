"""Which credential serves which scope of a region (VCC_CREDENTIALS, the template's
CredentialRoutes parameter).

VCC credentials belong to a VCC user and carry that user's scopes, so a region may hold several:
read scopes from a supervisor's credential, the sensitive ones from an admin's. The routes are
JSON, one object per region that has named credentials, each credential listing its scopes:

    {"emea": {"supervisor": ["users:read", "interaction-content:read"],
              "admin": ["users:write", "interaction-content:delete", "admin:write"]}}

Credential `NAME` of region `R` is the secret `<prefix>R/NAME`. A region without routes keeps
one credential, `default`: the secret `<prefix>R`, serving every allowed scope. Each scope of a
region is routed to exactly one credential; a scope of a routed region that no credential lists
is not served there (the caller gets a 400 naming the scopes the region serves).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from vcc_token_contract.names import DEFAULT_CREDENTIAL

CREDENTIAL_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
ALLOWED_NAMES = "1 to 32 lower-case letters, digits or '-', starting with a letter or digit"


class RouteError(ValueError):
    """The routes do not parse or contradict themselves (the message says where)."""


@dataclass(frozen=True)
class CredentialRoutes:
    # region -> scope -> credential name, for regions with named credentials only
    by_region: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def credential_for(self, region: str, scope: str) -> str | None:
        """The credential serving `scope` in `region`; None if the region does not serve it."""
        routes = self.by_region.get(region)
        if routes is None:
            return DEFAULT_CREDENTIAL
        return routes.get(scope)

    def served(self, region: str) -> frozenset[str] | None:
        """The scopes the region serves; None: every allowed scope (its default credential)."""
        routes = self.by_region.get(region)
        return None if routes is None else frozenset(routes)

    def credentials(self, region: str) -> tuple[str, ...]:
        routes = self.by_region.get(region)
        return (DEFAULT_CREDENTIAL,) if routes is None else tuple(sorted(set(routes.values())))

    def scopes_of(self, region: str, credential: str) -> tuple[str, ...]:
        """The scopes routed to the credential (empty for the default credential: any)."""
        routes = self.by_region.get(region, {})
        return tuple(sorted(scope for scope, name in routes.items() if name == credential))


NO_ROUTES = CredentialRoutes()  # one credential per region, `default`


def parse_routes(
    raw: str | None, regions: Iterable[str], allowed: frozenset[str]
) -> CredentialRoutes:
    """The routes in `raw` (JSON, or None/empty for none), checked against the regions and the
    allowed scopes; RouteError naming what is wrong."""
    if not raw or not raw.strip():
        return NO_ROUTES
    try:
        document = json.loads(raw)
    except ValueError:
        raise RouteError('is not JSON like {"emea": {"admin": ["users:write"]}}') from None
    if not isinstance(document, dict):
        raise RouteError('must be an object of regions, like {"emea": {"admin": ["users:write"]}}')
    known = tuple(regions)
    by_region: dict[str, Mapping[str, str]] = {}
    for region, credentials in document.items():
        if region not in known:
            raise RouteError(f"names the unknown region {region!r}; allowed: {', '.join(known)}")
        by_region[region] = MappingProxyType(_region_routes(region, credentials, allowed))
    return CredentialRoutes(MappingProxyType(by_region))


def _region_routes(region: str, credentials: object, allowed: frozenset[str]) -> dict[str, str]:
    if not isinstance(credentials, dict) or not credentials:
        raise RouteError(f"region {region!r} must map credential names to lists of scopes")
    routes: dict[str, str] = {}
    for name, scopes in credentials.items():
        if not CREDENTIAL_NAME.fullmatch(name):
            raise RouteError(f"credential {name[:40]!r} of {region}: names are {ALLOWED_NAMES}")
        if (
            not isinstance(scopes, list)
            or not scopes
            or not all(isinstance(scope, str) for scope in scopes)
        ):
            raise RouteError(f"credential {name!r} of {region} must list its scopes as strings")
        for scope in scopes:
            if scope not in allowed:
                raise RouteError(
                    f"credential {name!r} of {region} lists {scope[:64]!r}, which is not an "
                    f"allowed scope; allowed: {', '.join(sorted(allowed))}"
                )
            if scope in routes and routes[scope] != name:
                first, second = sorted((routes[scope], name))
                raise RouteError(
                    f"scope {scope!r} of {region} is routed to both {first!r} and {second!r}; "
                    "route each scope to one credential"
                )
            routes[scope] = name
    return routes
