"""What one request got: the token, how the cache stood (`CacheOutcome`, which follows from the
key's state) and where the token came from (`Source`); what the single flight obtained
(`Obtained`). The handler logs and counts them; the engine only reports them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vcc_token_contract.item import KeyState
from vcc_tokens.values.tokens import CachedToken


class CacheOutcome(StrEnum):
    HIT = "hit"
    MISS = "miss"  # nothing cached for the key
    EXPIRED = "expired"  # cached but past expires_at (DynamoDB TTL had not removed it yet)
    BELOW_MIN_TTL = "below_min_ttl"  # cached and valid, but with less than min_ttl left
    UNREADABLE = "unreadable"  # cached, but its token does not parse or open: replaced
    FALLBACK = "fallback"  # valid but short of min_ttl, served: VCC or AWS cannot give better now
    REFRESHED = "refreshed"  # replaced on a caller's request (POST .../refresh)
    CURRENT = "current"  # a refresh was asked for, but the cached token will do

    @classmethod
    def of(cls, state: KeyState) -> CacheOutcome:
        """How the cache stood for a GET, from the key's state."""
        return OF_STATE[state]


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


OF_STATE = {
    KeyState.FRESH: CacheOutcome.HIT,
    KeyState.DUE: CacheOutcome.HIT,
    KeyState.DUE_BACKING_OFF: CacheOutcome.HIT,
    # answered by the remembered failure: a valid token if any is left, else an error
    KeyState.BACKING_OFF: CacheOutcome.FALLBACK,
    KeyState.BELOW_MIN_TTL: CacheOutcome.BELOW_MIN_TTL,
    KeyState.EXPIRED: CacheOutcome.EXPIRED,
    KeyState.UNREADABLE: CacheOutcome.UNREADABLE,
    KeyState.ABSENT: CacheOutcome.MISS,
}
