"""When a token will do: plain functions of a token, the time and the policy's numbers.

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

from vcc_tokens.tokens import CachedToken

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
