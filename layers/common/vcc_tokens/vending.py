"""Vending: validate what a caller asks for, then serve a cached token or fetch a new one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import unquote

from vcc_tokens.cache import CachedToken, TokenCache
from vcc_tokens.config import REGIONS, Settings
from vcc_tokens.credentials import CredentialStore
from vcc_tokens.errors import InvalidRequest, UnknownRegion, UnknownScope
from vcc_tokens.upstream import TokenEndpoint

_MAX_ECHO = 64  # how much of a caller's bad value an error message repeats


class CacheOutcome(StrEnum):
    HIT = "hit"
    MISS = "miss"  # nothing cached for the key
    EXPIRED = "expired"  # cached but past expires_at (DynamoDB TTL had not removed it yet)
    BELOW_MIN_TTL = "below_min_ttl"  # cached and valid, but with less than min_ttl left


@dataclass(frozen=True)
class TokenRequest:
    region: str
    scope: str
    min_ttl: int


@dataclass(frozen=True)
class Vend:
    token: CachedToken
    outcome: CacheOutcome


def parse_token_request(
    region: str, scope: str, min_ttl: str | None, settings: Settings
) -> TokenRequest:
    """Check a caller's region, scope (raw or percent-encoded) and min_ttl against the settings."""
    if region not in REGIONS:
        raise UnknownRegion(f"unknown region {_echo(region)}; allowed: {', '.join(REGIONS)}")
    # Allowed scopes never contain '%', so one decoding accepts both `a:b` and `a%3Ab`.
    scope = unquote(scope)
    if scope not in settings.allowed_scopes:
        allowed = ", ".join(sorted(settings.allowed_scopes))
        raise UnknownScope(f"unknown scope {_echo(scope)}; allowed: {allowed}")
    return TokenRequest(region, scope, _parse_min_ttl(min_ttl, settings))


def vend_token(
    request: TokenRequest,
    *,
    now: float,
    cache: TokenCache,
    credentials: CredentialStore,
    upstream: TokenEndpoint,
) -> Vend:
    """Serve the cached token if it has at least min_ttl left; otherwise fetch and cache one."""
    cached = cache.get(request.region, request.scope)
    if cached is None:
        outcome = CacheOutcome.MISS
    elif cached.seconds_left(now) <= 0:
        outcome = CacheOutcome.EXPIRED
    elif cached.seconds_left(now) < request.min_ttl:
        outcome = CacheOutcome.BELOW_MIN_TTL
    else:
        return Vend(cached, CacheOutcome.HIT)
    issued = upstream.fetch(request.region, request.scope, credentials.get(request.region))
    fetched_at = int(now)  # taken before the request: the token expires no earlier than we say
    token = CachedToken(
        region=request.region,
        scope=request.scope,
        access_token=issued.access_token,
        token_type="Bearer",
        fetched_at=fetched_at,
        expires_at=fetched_at + issued.expires_in,
    )
    cache.put(token)
    return Vend(token, outcome)


def token_response(token: CachedToken, now: float) -> dict[str, object]:
    """The JSON body a caller receives for a token."""
    return {
        "access_token": token.access_token,
        "token_type": "Bearer",
        "expires_in": token.seconds_left(now),
        "expires_at": rfc3339(token.expires_at),
        "region": token.region,
        "scope": token.scope,
    }


def rfc3339(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_min_ttl(raw: str | None, settings: Settings) -> int:
    if raw is None:
        return settings.default_min_ttl
    allowed = f"a whole number of seconds from 0 to {settings.max_min_ttl}"
    if not (raw.isascii() and raw.isdigit()) or int(raw) > settings.max_min_ttl:
        raise InvalidRequest(f"min_ttl must be {allowed}, got {_echo(raw)}")
    return int(raw)


def _echo(value: str) -> str:
    """A caller's value, quoted and shortened, for an error message."""
    return repr(value[:_MAX_ECHO] + ("..." if len(value) > _MAX_ECHO else ""))
