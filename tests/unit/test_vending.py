"""The vending rules, with in-memory fakes for the cache, the secrets and VCC."""

from dataclasses import dataclass, field

import pytest

from vcc_tokens.cache import CachedToken, TokenCache
from vcc_tokens.config import Settings
from vcc_tokens.credentials import ClientCredentials, CredentialStore
from vcc_tokens.errors import InvalidRequest, UnknownRegion, UnknownScope
from vcc_tokens.upstream import IssuedToken, TokenEndpoint
from vcc_tokens.vending import (
    CacheOutcome,
    TokenRequest,
    parse_token_request,
    rfc3339,
    token_response,
    vend_token,
)

NOW = 1_800_000_000
SETTINGS = Settings(table_name="t", secret_prefix="p/")


class MemoryCache(TokenCache):
    def __init__(self) -> None:
        self.items: dict[str, CachedToken] = {}

    def get(self, region: str, scope: str) -> CachedToken | None:
        return self.items.get(f"{region}#{scope}")

    def put(self, token: CachedToken) -> None:
        self.items[token.key] = token


class FixedCredentials(CredentialStore):
    def get(self, region: str) -> ClientCredentials:
        return ClientCredentials(f"{region}-id", "secret")


@dataclass
class CountingEndpoint(TokenEndpoint):
    expires_in: int = 900
    calls: list[tuple[str, str]] = field(default_factory=list)

    def fetch(self, region: str, scope: str, credentials: ClientCredentials) -> IssuedToken:
        self.calls.append((region, scope))
        return IssuedToken(f"token-{len(self.calls)}", self.expires_in)


def vend(request: TokenRequest, cache: MemoryCache, upstream: CountingEndpoint, now: float = NOW):
    return vend_token(
        request, now=now, cache=cache, credentials=FixedCredentials(), upstream=upstream
    )


def cached(expires_in_seconds: int) -> CachedToken:
    return CachedToken("emea", "stats", "old", "Bearer", NOW - 100, NOW + expires_in_seconds)


def test_a_miss_fetches_and_stores_with_expiry_from_expires_in() -> None:
    cache, upstream = MemoryCache(), CountingEndpoint(expires_in=3600)
    result = vend(TokenRequest("emea", "stats", 60), cache, upstream)
    assert result.outcome is CacheOutcome.MISS
    assert upstream.calls == [("emea", "stats")]
    assert cache.items["emea#stats"] == CachedToken(
        "emea", "stats", "token-1", "Bearer", NOW, NOW + 3600
    )


@pytest.mark.parametrize(
    ("left", "min_ttl", "outcome"),
    [
        (61, 60, CacheOutcome.HIT),
        (60, 60, CacheOutcome.HIT),
        (59, 60, CacheOutcome.BELOW_MIN_TTL),
        (1, 0, CacheOutcome.HIT),
        (0, 0, CacheOutcome.EXPIRED),
        (-3600, 0, CacheOutcome.EXPIRED),
    ],
)
def test_a_cached_token_is_served_only_with_min_ttl_left_and_never_expired(
    left: int, min_ttl: int, outcome: CacheOutcome
) -> None:
    cache, upstream = MemoryCache(), CountingEndpoint()
    cache.put(cached(left))
    result = vend(TokenRequest("emea", "stats", min_ttl), cache, upstream)
    assert result.outcome is outcome
    assert (result.token.access_token == "old") == (outcome is CacheOutcome.HIT)
    assert len(upstream.calls) == (0 if outcome is CacheOutcome.HIT else 1)


def test_response_counts_seconds_left_and_formats_rfc3339() -> None:
    body = token_response(cached(300), NOW + 0.5)
    assert body == {
        "access_token": "old",
        "token_type": "Bearer",
        "expires_in": 299,
        "expires_at": rfc3339(NOW + 300),
        "region": "emea",
        "scope": "stats",
    }
    assert rfc3339(0) == "1970-01-01T00:00:00Z"


def test_raw_and_percent_encoded_scopes_parse_alike() -> None:
    raw = parse_token_request("emea", "agents-availability:read", None, SETTINGS)
    encoded = parse_token_request("emea", "agents-availability%3Aread", None, SETTINGS)
    assert raw == encoded == TokenRequest("emea", "agents-availability:read", 60)


@pytest.mark.parametrize(
    ("region", "scope", "min_ttl", "error", "allowed"),
    [
        ("EMEA", "stats", None, UnknownRegion, "allowed: emea, nam, apac"),
        ("eu", "stats", None, UnknownRegion, "allowed: emea, nam, apac"),
        ("emea", "stats:read", None, UnknownScope, "allowed: admin:read, admin:write"),
        ("emea", "stats%2520", None, UnknownScope, "allowed: "),
        ("emea", "stats", "61.0", InvalidRequest, "from 0 to 600"),
        ("emea", "stats", "٣", InvalidRequest, "from 0 to 600"),  # a non-ASCII digit
    ],
)
def test_bad_requests_say_what_is_allowed(
    region: str, scope: str, min_ttl: str | None, error: type[Exception], allowed: str
) -> None:
    with pytest.raises(error, match=allowed):
        parse_token_request(region, scope, min_ttl, SETTINGS)
