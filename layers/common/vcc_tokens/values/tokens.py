"""The domain's values: which token (`Key`), a token as cached (`CachedToken`), what the cache
holds for a key (`CacheEntry`), and the right to fetch it (`Lease`). No I/O here: the cache
(vcc_tokens.aws.table) stores these, the engine (vcc_tokens.vending) decides with them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from vcc_token_contract.names import DEFAULT_CREDENTIAL, CacheKey
from vcc_tokens.values.backoff import Failure

# What a refresh says it replaces when no token is cached (no token's SHA-256 looks like it).
NOTHING_CACHED = "nothing-cached"


class Key(NamedTuple):
    """Which token: one per region, scope and the credential that scope is routed to
    (vcc_tokens.values.routes), so tokens of different credentials never share an item."""

    region: str
    scope: str
    credential: str = DEFAULT_CREDENTIAL

    @property
    def cache_key(self) -> str:
        """The cache item's key (vcc_token_contract.names.CacheKey)."""
        return CacheKey(*self).text()

    @classmethod
    def from_cache_key(cls, cache_key: str) -> Key:
        return cls(*CacheKey.parse(cache_key))

    def describe(self) -> str:
        if self.credential == DEFAULT_CREDENTIAL:
            return f"the {self.region} token for {self.scope!r}"
        return f"the {self.region} token for {self.scope!r} (credential {self.credential!r})"


@dataclass(frozen=True)
class CachedToken:
    region: str
    scope: str
    access_token: str = field(repr=False)
    token_type: str
    fetched_at: int  # epoch seconds, taken just before the token request was sent
    expires_at: int  # fetched_at + expires_in
    credential: str = DEFAULT_CREDENTIAL

    @property
    def key(self) -> Key:
        return Key(self.region, self.scope, self.credential)

    @property
    def lifetime(self) -> int:
        return self.expires_at - self.fetched_at

    @cached_property
    def sha256(self) -> str:
        """Worked out once per token: every served token's ledger line names it."""
        return token_sha256(self.access_token)

    def seconds_left(self, now: float) -> int:
        return max(0, int(self.expires_at - now))

    @property
    def binding(self) -> bytes:
        """What the sealed token is bound to: its item and the item's expiry metadata."""
        fields = [self.key.cache_key, self.token_type, self.fetched_at, self.expires_at]
        return json.dumps(fields, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Lease:
    """The right to fetch a key's token: one owner at a time, until `until` (epoch seconds)."""

    key: Key
    owner: str
    until: float

    def held(self, now: float, skew: float = 0.0) -> bool:
        """Still held at `now`, by every clock that may be `skew` behind this one: a lease is
        only over once it is past by the tolerance too."""
        return self.until >= now - skew


@dataclass(frozen=True)
class CacheEntry:
    region: str
    scope: str
    token: CachedToken | None
    lease: Lease | None = None  # who may fetch the key's token, until when
    last_requested_at: float = 0.0
    refreshed_at: float = 0.0  # when a refresh (after a 401) last replaced the token
    failure: Failure | None = None  # the last upstream failure, until a token is stored
    # The item's token_sha256, whether its token opened or not (None: none recorded)
    stored_sha256: str | None = None
    # A token is stored but does not parse or open: never served; the next fetch replaces it,
    # whatever the item's attributes say
    unreadable: bool = False
    credential: str = DEFAULT_CREDENTIAL

    @property
    def key(self) -> Key:
        return Key(self.region, self.scope, self.credential)

    @classmethod
    def empty(cls, key: Key) -> CacheEntry:
        """A key's item before any token or lease."""
        return cls(key.region, key.scope, None, credential=key.credential)

    @classmethod
    def of_token(cls, token: CachedToken, failure: Failure | None = None) -> CacheEntry:
        return cls(token.region, token.scope, token, failure=failure, credential=token.credential)

    def replaced_sha256(self) -> str:
        """What a fetch that replaces this item's token names as replaced (TokenTable.put)."""
        if self.stored_sha256 is not None:
            return self.stored_sha256
        return self.token.sha256 if self.token is not None else NOTHING_CACHED

    def leased_to(self, owner: str) -> bool:
        """Whether `owner` holds the key's lease (whether or not it has run out)."""
        return self.lease is not None and self.lease.owner == owner

    def blocking(self, now: float) -> Failure | None:
        """The remembered failure, while it still forbids fetching the key."""
        return self.failure if self.failure is not None and self.failure.blocks(now) else None


def token_sha256(access_token: str) -> str:
    """What callers quote to say which token VCC rejected (the token itself never travels back)."""
    return hashlib.sha256(access_token.encode("utf-8")).hexdigest()
