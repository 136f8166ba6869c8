"""When a token will do, and a key's state: plain functions of a token (or an entry), the time
and the policy's numbers.

Two windows, as botocore's RefreshableCredentials has them:
- the advisory window (`RenewalMargin.due`): less than the margin left. The token is still
  served; one instance renews it meanwhile, without anyone waiting (vending.renewals);
- the mandatory window (not `usable`): expired, or less than the caller's min_ttl left. The
  caller waits for a new token (vending.single_flight).

Short lifetimes: the margin and min_ttl are both capped at half the token's lifetime, so whatever
VCC issues and whatever callers ask, a key is fetched at most twice per lifetime (once per 0.8
lifetimes with the default margin), never once per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeGuard

from vcc_tokens.values.tokens import CachedToken, CacheEntry

SHORT_LIFETIME_CAP = 0.5  # margin and min_ttl never exceed this fraction of a token's lifetime


@dataclass(frozen=True)
class RenewalMargin:
    """Renew once less than max(seconds, fraction x lifetime) is left (capped as above)."""

    seconds: float
    fraction: float

    def of(self, token: CachedToken) -> float:
        wanted = max(self.seconds, self.fraction * token.lifetime)
        return min(wanted, SHORT_LIFETIME_CAP * token.lifetime)

    def due(self, token: CachedToken, now: float, horizon: float = 0.0) -> bool:
        """Inside the advisory window now, or by `now + horizon`."""
        return token.expires_at - self.of(token) <= now + horizon


def usable(
    token: CachedToken | None, min_ttl: int, now: float, skew: float = 0.0
) -> TypeGuard[CachedToken]:
    """Valid for more than `skew` seconds (another clock may be that far ahead: VCC's or an
    instance's), with min_ttl left, or half its lifetime if min_ttl asks for more: VCC issues
    nothing longer, so asking more must not mean a fetch per request."""
    if token is None:
        return False
    left = token.seconds_left(now)
    return left > max(skew, 0) and left >= min(min_ttl, SHORT_LIFETIME_CAP * token.lifetime)


class KeyState(Enum):
    """What a key's entry says at a time, for a caller's min_ttl: the one place the engine
    works it out, what blocks a due key included (vend, the memory shortcut and the scheduled
    renewal only dispatch on it)."""

    FRESH = "fresh"  # usable, outside the renewal margin: serve it
    DUE = "due"  # usable, inside the margin: serve it, and one instance renews it meanwhile
    # usable, inside the margin, but a remembered failure forbids renewing it for now: serve it,
    # renew nothing
    DUE_BACKING_OFF = "due, backing off"
    BACKING_OFF = "backing off"  # not usable; a remembered failure forbids fetching for now
    LEASED = "leased"  # not usable; another instance holds the lease: wait for its token
    EXPIRED = "expired"  # not usable (expired, or short of min_ttl): fetch a new one
    UNREADABLE = "unreadable"  # its token does not parse or open: fetch, replacing it
    ABSENT = "absent"  # nothing cached: fetch


def key_state(
    entry: CacheEntry | None,
    now: float,
    *,
    min_ttl: int,
    margin: RenewalMargin,
    skew: float,
    horizon: float = 0.0,
) -> KeyState:
    """The key's state from its entry (None: no item), by every clock that may be `skew`
    behind this one; `horizon`: due by then counts as due now (the scheduled renewal's)."""
    token = entry.token if entry is not None else None
    blocked = entry is not None and entry.blocking(now - skew) is not None
    if usable(token, min_ttl, now, skew):
        if not margin.due(token, now, horizon):
            return KeyState.FRESH
        return KeyState.DUE_BACKING_OFF if blocked else KeyState.DUE
    if entry is None:
        return KeyState.ABSENT
    if blocked:
        return KeyState.BACKING_OFF
    if entry.unreadable:
        return KeyState.UNREADABLE
    if entry.lease is not None and entry.lease.held(now, skew):
        return KeyState.LEASED
    return KeyState.ABSENT if token is None else KeyState.EXPIRED
