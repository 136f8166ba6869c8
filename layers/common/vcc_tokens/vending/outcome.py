"""What one request got: the token, how the cache stood (`CacheOutcome`) and where the token
came from (`Source`); what the single flight obtained (`Obtained`). The handler logs and counts
them; the engine only reports them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vcc_tokens.values.tokens import CachedToken


class CacheOutcome(StrEnum):
    HIT = "hit"
    MISS = "miss"  # nothing cached for the key
    EXPIRED = "expired"  # cached but past expires_at (DynamoDB TTL had not removed it yet)
    BELOW_MIN_TTL = "below_min_ttl"  # cached and valid, but with less than min_ttl left
    FALLBACK = "fallback"  # valid but short of min_ttl, served: VCC or AWS cannot give better now
    REFRESHED = "refreshed"  # replaced on a caller's request (POST .../refresh)
    CURRENT = "current"  # a refresh was asked for, but the cached token will do


class Source(StrEnum):
    MEMORY = "memory"
    DYNAMODB = "dynamodb"
    UPSTREAM = "upstream"  # this request fetched the token
    LEASE_WAIT = "lease_wait"  # another instance fetched it while this one waited


@dataclass(frozen=True)
class Vend:
    token: CachedToken
    outcome: CacheOutcome
    source: Source


@dataclass(frozen=True)
class Obtained:
    """A token the key's lease holder fetched: this instance (UPSTREAM) or another one it
    waited for (LEASE_WAIT)."""

    token: CachedToken
    source: Source


def shortfall(token: CachedToken | None, now: float) -> CacheOutcome:
    """Why a cached token (or none) was not served as it is."""
    if token is None:
        return CacheOutcome.MISS
    if token.seconds_left(now) <= 0:
        return CacheOutcome.EXPIRED
    return CacheOutcome.BELOW_MIN_TTL
