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
from typing import TypeGuard

from vcc_token_contract.item import KeyState
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
    behind this one; `horizon`: due by then counts as due now (the scheduled renewal's). The
    one place the engine works it out, what blocks a due key included: vend, the memory
    shortcut and the scheduled renewal only dispatch on it, and a request's cache outcome
    follows from it (vcc_tokens.vending.outcome). Who may fetch is the lease's (single_flight)."""
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
    if token is None:
        return KeyState.ABSENT
    return KeyState.BELOW_MIN_TTL if token.seconds_left(now) > 0 else KeyState.EXPIRED
