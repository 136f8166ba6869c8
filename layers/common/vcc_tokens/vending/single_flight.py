"""Who may fetch: one instance at a time per key, across every execution environment.

Only the holder of the key's lease (a conditional write in DynamoDB:
vcc_tokens.values.tokens.Lease) fetches; the others poll a consistent read and take the holder's
token, or take the lease over once it expires (its holder died). After VCC fails for a key, the
failure is remembered in the key's item (vcc_tokens.values.backoff) and nobody can take the lease
before it passes: waiters learn of it at once. A token fetched but not stored is kept in this
instance's memory behind the same failure memory, so a cache fault never turns into VCC traffic.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from vcc_token_contract.metrics import Metric
from vcc_token_contract.names import new_lease_owner
from vcc_tokens.aws.clients import time_left_after_calls
from vcc_tokens.observability import MetricUnit, logger, metrics
from vcc_tokens.values.backoff import Failure, jittered
from vcc_tokens.values.config import Settings
from vcc_tokens.values.errors import DependencyError, UpstreamError, UpstreamUnavailable, VendError
from vcc_tokens.values.tokens import CachedToken, CacheEntry, Key, Lease
from vcc_tokens.vending.cache import TokenCache
from vcc_tokens.vending.fallback import backoff_answer
from vcc_tokens.vending.minting import Minter
from vcc_tokens.vending.outcome import Obtained, Source

MIN_FETCH_SECONDS = 1.0  # a fetch is not started with less of the request's deadline left

Satisfied = Callable[[CachedToken | None], bool]


POLL_FIRST, POLL_CAP = 0.2, 1.0  # seconds between a waiter's reads: doubling, jittered


def _poll_pause(attempt: int) -> float:
    """How long a waiter pauses before its next read: up to 0.2 s, doubling with each read up
    to 1 s, at least a quarter of that, so fifty waiters do not keep DynamoDB busy while one
    fetches."""
    return jittered(attempt, POLL_FIRST, POLL_CAP, least=0.25)


@dataclass
class SingleFlight:
    cache: TokenCache
    minter: Minter
    settings: Settings
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    new_owner: Callable[[], str] = new_lease_owner
    pause: Callable[[int], float] = _poll_pause

    def lease(self, key: Key, owner: str | None = None) -> Lease:
        """A lease on `key` from now, for `owner` (a new one by default)."""
        return Lease(key, owner or self.new_owner(), self.clock() + self.settings.lease_seconds)

    def take(self, key: Key, owner: str | None = None) -> Lease | None:
        """The key's lease, if nobody holds it and no remembered failure forbids fetching."""
        lease = self.lease(key, owner)
        return lease if self.cache.take(lease) else None

    def obtain(
        self,
        key: Key,
        satisfied: Satisfied,
        *,
        replacing: str | None = None,
        requested_at: float | None = None,
    ) -> Obtained:
        """A token that `satisfied` accepts, fetched by exactly one instance at a time: the
        others wait for it, or take the lease over once it expires. If the key backs off after
        a failure, the remembered error at once."""
        owner = self.new_owner()
        deadline = self.clock() + self.settings.wait_seconds
        latest: CacheEntry | None = None
        for attempt in itertools.count():
            # A waiter only reads while the holder's lease runs: a refused conditional write
            # would cost DynamoDB a write for nothing
            free = self.cache.lease_free(latest, self.clock())
            lease = self.take(key, owner) if free else None
            if lease is None:
                latest, accepted = self._latest_accepted(key, satisfied)
                if accepted is not None:
                    return Obtained(accepted, Source.LEASE_WAIT)
                lease = _ours(latest, owner)
            if lease is not None:
                return self.fetch_under(
                    lease, satisfied, replacing=replacing, requested_at=requested_at
                )
            self._wait(key, latest, attempt, deadline)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, key: Key, latest: CacheEntry | None, attempt: int, deadline: float) -> None:
        """Wait a little for the lease's holder; the remembered failure at once if the key
        backs off, or UpstreamUnavailable once the wait is over."""
        now = self.clock()
        failure = self.cache.blocking(latest, now)
        if failure is not None:
            raise backoff_answer(failure, now)
        if attempt == 0:
            metrics.add_metric(name=Metric.LEASE_WAITS, unit=MetricUnit.Count, value=1)
        if now > deadline or time_left_after_calls(2) < MIN_FETCH_SECONDS:
            raise UpstreamUnavailable(
                f"{key.describe()} is being fetched by another instance and did not arrive in time",
                retry_after=1,
            )
        self.sleep(self.pause(attempt))

    def fetch_under(
        self,
        lease: Lease,
        satisfied: Satisfied,
        *,
        replacing: str | None = None,
        requested_at: float | None = None,
        budget: float | None = None,
    ) -> Obtained:
        """With the key's lease: the token the previous holder stored if it will do, else a new
        one from VCC (within `budget`, by default the whole upstream budget). The lease is given
        back either way: in the same write that stores a new token, else with the failure to
        remember if VCC failed or the new token could not be cached (then this instance keeps
        it in memory)."""
        try:
            latest, accepted = self._latest_accepted(lease.key, satisfied)
        except BaseException:
            self.cache.release(lease)
            raise
        if accepted is not None:
            self.cache.release(lease)
            return Obtained(accepted, Source.LEASE_WAIT)
        previous = latest.failure if latest else None
        token = self._mint(lease, previous, budget)
        try:
            stored = self.cache.save(token, lease, replacing=replacing, requested_at=requested_at)
            return Obtained(stored, Source.UPSTREAM)
        except DependencyError as fault:
            failure = self.remember(fault, previous)
            self.cache.keep_unstored(token, failure)
            metrics.add_metric(name=Metric.UNCACHED_TOKENS, unit=MetricUnit.Count, value=1)
            self.cache.release(lease, failure)
            return Obtained(token, Source.UPSTREAM)
        except BaseException:  # anything else: the lease goes back (refused if it already went)
            self.cache.release(lease)
            raise

    def _mint(self, lease: Lease, previous: Failure | None, budget: float | None) -> CachedToken:
        """A new token from VCC; if none comes, the lease is given back, with the failure to
        remember if VCC failed (not if this request ran out of time first)."""
        failure = None
        try:
            budget = fetch_budget(lease.key, budget or self.settings.upstream_budget)
            try:
                return self.minter.mint(lease.key, budget)
            except UpstreamError as error:
                failure = self.remember(error, previous)
                error.retry_after = failure.wait(self.clock())  # what the memory will enforce
                raise
        except BaseException:
            self.cache.release(lease, failure)
            raise

    def remember(self, error: VendError, previous: Failure | None) -> Failure:
        failure = self.settings.failure_backoff.failure(error, previous, self.clock())
        logger.warning(
            "nobody fetches this key again before its backoff passes",
            extra={
                "error": error.code,
                "failures_in_a_row": failure.count,
                "retry_in": round(failure.retry_at - self.clock(), 1),
            },
        )
        return failure

    def _latest_accepted(
        self, key: Key, satisfied: Satisfied
    ) -> tuple[CacheEntry | None, CachedToken | None]:
        """The key's latest entry, and its token if `satisfied` takes it."""
        latest = self.cache.latest(key)
        token = latest.token if latest else None
        return latest, token if token is not None and satisfied(token) else None


def fetch_budget(key: Key, budget: float) -> float:
    """The time a fetch may take: `budget`, less the room kept to store the token within this
    request's deadline."""
    budget = min(budget, time_left_after_calls(2))
    if budget < MIN_FETCH_SECONDS:  # this request's deadline, not VCC: not remembered
        raise UpstreamUnavailable(
            f"no time is left in this request to fetch {key.describe()}", retry_after=1
        )
    return budget


def _ours(latest: CacheEntry | None, owner: str) -> Lease | None:
    """The lease, if `owner` holds it after all: the SDK retried a take that had gone through
    (a read timeout), and our own lease refused the retry."""
    return latest.lease if latest is not None and latest.leased_to(owner) else None
