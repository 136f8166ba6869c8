"""The token cache, the engine's only way to its tokens: the table (DynamoDB, behind
vcc_tokens.aws.table.TokenTable) and this execution environment's copy of what it read there.

The copy is trusted for `memory_cache_seconds`; a valid token it holds is also the last resort
when DynamoDB cannot be read, and it keeps a token fetched but not stored (with the failure that
keeps other instances from fetching again). Once DynamoDB answers that it no longer holds a
copied token (purged, or replaced), the copy is not served again: a purge reaches every instance
within `memory_cache_seconds`. Cache faults never reach VCC: releasing a lease and
recording that a key is still asked for are best effort (the lease expires, the next touch will
do), and are counted where they happen (vcc_tokens.aws.clients).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from vcc_tokens.aws.table import TokenTable
from vcc_tokens.values.backoff import Failure
from vcc_tokens.values.errors import DependencyError
from vcc_tokens.values.tokens import CachedToken, CacheEntry, Key, Lease
from vcc_tokens.values.ttl_cache import TtlCache

TOUCH_INTERVAL = 60  # how often an instance records that a key is still being asked for


class MemoryCache:
    """This execution environment's copies of cache entries, each trusted for `max_age` s."""

    def __init__(self, max_age: float) -> None:
        self._entries: TtlCache[Key, CacheEntry] = TtlCache(max_age)

    def get(self, key: Key, now: float) -> CacheEntry | None:
        return self._entries.get(key, now)

    def valid_copy(self, key: Key, now: float) -> CachedToken | None:
        """The token this environment keeps for the key, whatever its copy's age, if valid."""
        entry = self._entries.any_age(key)
        token = entry.token if entry else None
        return token if token is not None and token.seconds_left(now) > 0 else None

    def put(self, entry: CacheEntry, now: float) -> None:
        self._entries.put(entry.key, entry, now)

    def clear(self) -> None:
        self._entries.clear()


@dataclass
class TokenCache:
    table: TokenTable
    memory: MemoryCache
    clock: Callable[[], float]
    skew: float = 0.0  # a lease is taken over (or a failure ends) only this much after expiry
    _touched: dict[Key, float] = field(default_factory=dict)
    _unstored: dict[Key, str] = field(default_factory=dict)  # sha256 of a token kept, not stored

    def recent(self, key: Key, now: float) -> CacheEntry | None:
        """The entry read within the memory's max age, without asking DynamoDB."""
        return self.memory.get(key, now)

    def valid_copy(self, key: Key, now: float) -> CachedToken | None:
        """A valid token this environment keeps for the key, however old its copy."""
        return self.memory.valid_copy(key, now)

    def still_current(
        self, copy: CachedToken | None, read: CacheEntry | None
    ) -> CachedToken | None:
        """`copy` (this environment's, taken before DynamoDB answered `read`), unless DynamoDB
        no longer has it: a purged or replaced token is not served from memory again. A token
        DynamoDB never took (keep_unstored) stays."""
        if copy is None or self._unstored.get(copy.key) == copy.sha256:
            return copy
        return copy if read is not None and read.replaced_sha256() == copy.sha256 else None

    def read(self, key: Key, now: float) -> CacheEntry | None:
        """The key's entry from DynamoDB (eventually consistent); the caller still wants it."""
        entry = self.table.get(key)
        if entry is not None:
            self.memory.put(entry, now)
            self._touch(key, now)
        return entry

    def latest(self, key: Key) -> CacheEntry | None:
        """The key's entry, read consistently."""
        entry = self.table.get(key, consistent=True)
        if entry is not None:
            self.memory.put(entry, self.clock())
        return entry

    def take(self, lease: Lease) -> bool:
        """The lease, if the one before it expired, and the key's remembered failure passed,
        by every clock that may be `skew` behind this one."""
        return self.table.acquire_lease(lease, self.clock() - self.skew)

    def claim(self, handed: Lease, claimed: Lease) -> bool:
        """`handed` passed on as `claimed`, while it is held by every clock that may be `skew`
        behind this one."""
        return self.table.claim_lease(handed, claimed, self.clock() - self.skew)

    def blocking(self, entry: CacheEntry | None, now: float) -> Failure | None:
        """The entry's remembered failure while it forbids fetching, by every clock that may
        be `skew` behind this one."""
        return entry.blocking(now - self.skew) if entry is not None else None

    def lease_free(self, entry: CacheEntry | None, now: float) -> bool:
        """Whether a take of the key's lease may succeed, as far as `entry` (the last read)
        tells; with no read yet, try."""
        return entry is None or entry.lease is None or not entry.lease.held(now, self.skew)

    def release(self, lease: Lease, failure: Failure | None = None) -> None:
        with suppress(DependencyError):  # counted where it happened; the lease expires
            self.table.release_lease(lease, failure)

    def save(
        self,
        token: CachedToken,
        lease: Lease,
        *,
        replacing: str | None = None,
        requested_at: float | None = None,
    ) -> CachedToken:
        """Cache the new token and give the key's lease back, in one write (as Powertools'
        idempotency records its result); the cached token instead if it expires later (or a
        refresh replaced the rejected one already)."""
        how: dict[str, Any] = {"replacing": replacing, "requested_at": requested_at}
        if not self.table.put(token, releasing=lease, **how):
            token = self._refused(token, lease, how)
        self.memory.put(CacheEntry.of_token(token), self.clock())
        self._unstored.pop(token.key, None)
        return token

    def _refused(self, token: CachedToken, lease: Lease, how: dict[str, Any]) -> CachedToken:
        """The store-and-release write was refused. Still our lease: the token's own condition
        refused it (a later token is cached, or another refresh's), so the lease goes back and
        the cached token is served. Else the lease expired and was taken over: the token is
        stored alone, as any token would be. One read decides, so the rare case costs what it
        did before the two writes were one."""
        latest = self.table.get(token.key, consistent=True)
        if latest is not None and latest.leased_to(lease.owner):
            self.release(lease)
        elif self.table.put(token, **how):
            return token
        else:
            latest = self.table.get(token.key, consistent=True)
        if latest and latest.token and latest.token.seconds_left(self.clock()) > 0:
            return latest.token
        return token

    def keep_unstored(self, token: CachedToken, failure: Failure) -> None:
        """A token DynamoDB would not take: kept here, behind the failure that keeps the key's
        other instances from fetching it again."""
        self.memory.put(CacheEntry.of_token(token, failure), self.clock())
        self._unstored[token.key] = token.sha256

    def entries(self) -> Iterator[CacheEntry]:
        return self.table.entries()

    def _touch(self, key: Key, now: float) -> None:
        """Record, at most once a minute per instance, that callers still want the key."""
        if now - self._touched.get(key, 0.0) >= TOUCH_INTERVAL:
            self._touched[key] = now
            with suppress(DependencyError):  # counted where it happened; the next touch will do
                self.table.touch(key, now)
