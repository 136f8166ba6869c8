"""What a caller asked for, validated: the engine (vcc_tokens.vending) takes only these values.

Every refusal is an InvalidRequest (400) that says what is wrong and what is allowed, repeating
at most _MAX_ECHO characters of the caller's value; no input, however long or odd, gets past
these checks as anything but a 400.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import unquote

from vcc_token_contract.names import DEFAULT_CREDENTIAL
from vcc_token_contract.vcc import REGIONS
from vcc_tokens.values.config import Settings
from vcc_tokens.values.errors import InvalidRequest, ScopeNotServed, UnknownRegion, UnknownScope
from vcc_tokens.values.tokens import Key

_MAX_ECHO = 64  # how much of a caller's bad value an error message repeats
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_MAX_REFRESH_BODY = 256  # the one body a refresh takes is 92 characters
_MAX_MIN_TTL_DIGITS = 6  # more digits than any allowed min_ttl: refused before int() reads them


@dataclass(frozen=True)
class TokenRequest:
    region: str
    scope: str
    min_ttl: int
    credential: str = DEFAULT_CREDENTIAL  # the one the scope is routed to (values.routes)

    @property
    def key(self) -> Key:
        return Key(self.region, self.scope, self.credential)


def parse_token_request(
    region: str, scope: str, min_ttl: str | None, settings: Settings
) -> TokenRequest:
    """Check a caller's region, scope (raw or percent-encoded) and min_ttl against the settings."""
    check_region(region)
    # Allowed scopes never contain '%', so one decoding accepts both `a:b` and `a%3Ab`.
    scope = unquote(scope)
    if scope not in settings.allowed_scopes:
        allowed = ", ".join(sorted(settings.allowed_scopes))
        raise UnknownScope(f"unknown scope {_echo(scope)}; allowed: {allowed}")
    credential = settings.credential_routes.credential_for(region, scope)
    if credential is None:
        served = ", ".join(sorted(settings.credential_routes.served(region) or ()))
        raise ScopeNotServed(f"region {region} does not serve scope {scope!r}; it serves: {served}")
    return TokenRequest(region, scope, _parse_min_ttl(min_ttl, settings), credential)


def check_region(region: str) -> None:
    if region not in REGIONS:
        raise UnknownRegion(f"unknown region {_echo(region)}; allowed: {', '.join(REGIONS)}")


def check_query(query: dict[str, list[str]] | None, allowed: frozenset[str]) -> None:
    """Refuse query parameters the route does not take, and repeated ones."""
    for name, values in (query or {}).items():
        if name not in allowed:
            takes = ", ".join(sorted(allowed)) or "none"
            raise InvalidRequest(f"unknown query parameter {_echo(name)}; allowed: {takes}")
        if len(values) > 1:
            raise InvalidRequest(f"query parameter {_echo(name)} is given more than once")


def check_no_body(body: str | None, method: str) -> None:
    if body:
        raise InvalidRequest(f"{method} takes no body")


def parse_rejected_token(body: str | None) -> str | None:
    """The refresh body: nothing, or {"rejected_token_sha256": "<64 lower-case hex>"}."""
    if body is None or not body.strip():
        return None
    expected = 'the body must be empty or {"rejected_token_sha256": "<64 hex characters>"}'
    if len(body) > _MAX_REFRESH_BODY:
        raise InvalidRequest(f"the body is longer than {_MAX_REFRESH_BODY} characters; {expected}")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidRequest(f"the body is not JSON; {expected}") from None
    if not isinstance(document, dict) or set(document) != {"rejected_token_sha256"}:
        raise InvalidRequest(expected)
    digest = document["rejected_token_sha256"]
    if not isinstance(digest, str) or not _SHA256_HEX.match(digest.lower()):
        raise InvalidRequest(f"rejected_token_sha256 must be 64 hex characters; {expected}")
    return digest.lower()


def _parse_min_ttl(raw: str | None, settings: Settings) -> int:
    if raw is None:
        return settings.default_min_ttl
    allowed = f"a whole number of seconds from 0 to {settings.max_min_ttl}"
    if (
        not (raw.isascii() and raw.isdigit())
        or len(raw) > _MAX_MIN_TTL_DIGITS
        or int(raw) > settings.max_min_ttl
    ):
        raise InvalidRequest(f"min_ttl must be {allowed}, got {_echo(raw)}")
    return int(raw)


def _echo(value: str) -> str:
    """A caller's value, quoted and shortened, for an error message."""
    return repr(value[:_MAX_ECHO] + ("..." if len(value) > _MAX_ECHO else ""))
