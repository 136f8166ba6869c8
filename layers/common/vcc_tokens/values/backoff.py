"""Failure memory: after VCC fails for a key, until when nobody may ask it again for that key.
(Also after a fetched token could not be cached, so a cache fault never becomes VCC traffic.)

The memory lives in the key's cache item, so every execution environment obeys it: the lease
that guards every fetch cannot be taken before `retry_at` (see `TokenTable.acquire_lease`).
Until then a caller with a valid token gets it, and a caller with none gets the remembered
error at once, with Retry-After; waiting is the backoff's job, never a caller's.

How long: what VCC's Retry-After asked for when it gave one; otherwise exponential backoff with
"equal jitter" (between half and all of base x 2^(n-1) after the n-th failure in a row), capped
at `cap` for failures that may pass by themselves (429, 5xx, timeouts, connection errors) and at
the shorter `rejected_cap` for answers that need an operator (invalid_client after the secret
was re-read, invalid_scope, a malformed or oversized answer), so a fix is picked up soon.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from vcc_tokens.values.errors import (
    DependencyUnavailable,
    UpstreamTimeout,
    UpstreamUnavailable,
    VendError,
    error_for_code,
)

MAX_DOUBLINGS = 20  # 2**20 x base is past any cap
FULL_JITTER, EQUAL_JITTER = 0.0, 0.5  # the share of the ceiling a delay is at least


def jittered(attempt: int, base: float, cap: float, least: float = FULL_JITTER) -> float:
    """The one exponential backoff with jitter (the AWS Architecture Blog's "full" and "equal"
    jitter): a random delay between `least` and all of min(cap, base x 2^attempt), the first
    attempt being 0. Used for VCC retries within a request, the failure memory and a waiter's
    reads."""
    ceiling = min(cap, base * 2 ** min(attempt, MAX_DOUBLINGS))
    return random.uniform(ceiling * least, ceiling)  # noqa: S311  # nosec B311


@dataclass(frozen=True)
class Retries:
    """How one VCC fetch retries within a request (429, 5xx, connection errors only): at most
    `attempts` in all; between them the jittered backoff from `base` to `cap`, or VCC's
    Retry-After when longer, but only while that is at most `longest_retry_after` (a longer one
    ends the fetch: the failure memory then keeps everyone off VCC, and no caller sleeps through
    it); and no retry with less than `least_budget` left of the fetch's budget. One value, built
    in wiring from the settings."""

    attempts: int
    base: float = 0.2
    cap: float = 2.0
    least_budget: float = 0.5
    longest_retry_after: float = 1.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """The wait before the next attempt after attempt `attempt` (the first is 1) failed and
        VCC asked for `retry_after` seconds (or nothing); None: no more attempts. Whether the
        fetch's budget still holds the wait and `least_budget` is the caller's to check."""
        if attempt >= self.attempts:
            return None
        if retry_after is not None and retry_after > self.longest_retry_after:
            return None
        return max(jittered(attempt - 1, self.base, self.cap), retry_after or 0.0)


@dataclass(frozen=True)
class Failure:
    """A key's remembered upstream failure."""

    code: str  # the UpstreamError's code, so callers get the same answer it gave
    message: str  # its message (never holds a token or a secret)
    retry_at: float  # epoch seconds; no fetch for the key before then
    count: int  # failures in a row

    def blocks(self, now: float) -> bool:
        return now < self.retry_at

    def wait(self, now: float) -> int:
        """The Retry-After this failure enforces: whole seconds until it passes, at least 1."""
        return max(1, math.ceil(self.retry_at - now))

    def error(self, now: float) -> VendError:
        """The answer for a caller who has no valid token while the key backs off."""
        wait = self.wait(now)
        return error_for_code(
            self.code, f"{self.message}; VCC is not asked again for this token for {wait} s", wait
        )


@dataclass(frozen=True)
class Backoff:
    """The failure memory's schedule (BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS,
    REJECTED_BACKOFF_CAP_SECONDS)."""

    base: float
    cap: float
    rejected_cap: float

    def failure(self, error: VendError, previous: Failure | None, now: float) -> Failure:
        """What to remember after `error`, given the key's previous failure (if any)."""
        count = (previous.count if previous else 0) + 1
        transient = isinstance(error, UpstreamUnavailable | UpstreamTimeout | DependencyUnavailable)
        asked = error.upstream_retry_after if isinstance(error, UpstreamUnavailable) else None
        if asked is not None:
            delay = float(asked)
        else:
            cap = self.cap if transient else self.rejected_cap
            delay = jittered(count - 1, self.base, cap, EQUAL_JITTER)
        # What callers will be told while it is remembered: the public message
        return Failure(error.code, error.public_message, now + delay, count)
