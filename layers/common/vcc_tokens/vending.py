"""Vending: serve a cached token or fetch a new one, for a validated request
(vcc_tokens.token_request).

The aim is one upstream request per (region, scope) per token lifetime, whatever the number of
callers and Lambda instances, with callers almost never waiting for VCC:

- an in-memory copy per execution environment, at most `memory_cache_seconds` old, in front of
  DynamoDB;
- single-flight across instances: only the holder of a key's lease (a DynamoDB conditional
  write) fetches; the others poll a consistent read and take the holder's token, or take the
  lease over once it expires (its holder died);
- failure memory (vcc_tokens.backoff): after VCC fails for a key, nobody fetches it again until
  the backoff has passed; meanwhile a valid token is served and a caller with none gets the
  remembered error at once, with Retry-After;
- refresh-ahead: inside the refresh margin the valid token is still served while one instance
  renews it; a failed renewal fails nobody while the token is valid;
- refreshes after a 401 fetch at most once per key per `forced_refresh_interval`;
- the scheduled refresher renews keys before callers see them inside the margin;
- when AWS falters (vcc_tokens.aws), degrade instead of failing: a valid token this instance
  holds or can read is served even when renewing, storing, touching or leasing fails; with none,
  the fault's 503 with Retry-After. A token fetched but not cached is still returned and kept in
  memory, and the key's failure memory keeps others from fetching again until its backoff passes:
  a cache fault never turns into VCC traffic.

Short lifetimes: the refresh margin and a caller's min_ttl are both capped at half the token's
lifetime, so whatever VCC issues and whatever callers ask, a key is fetched at most twice per
lifetime (once per 0.8 lifetimes with the default margin), never once per request.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeGuard

from vcc_tokens.aws import time_left_after_calls
from vcc_tokens.backoff import Backoff, Failure
from vcc_tokens.cache import NOTHING_CACHED, CachedToken, CacheEntry, TokenCache
from vcc_tokens.config import Settings
from vcc_tokens.credentials import CredentialStore
from vcc_tokens.errors import (
    DependencyError,
    UpstreamError,
    UpstreamRejectedCredentials,
    UpstreamUnavailable,
    VendError,
)
from vcc_tokens.observability import MetricUnit, logger, metrics
from vcc_tokens.renewal import Renewer
from vcc_tokens.token_request import TokenRequest
from vcc_tokens.upstream import IssuedToken, TokenEndpoint

TOUCH_INTERVAL = 60  # how often an instance records that a key is still being asked for
SHORT_LIFETIME_CAP = 0.5  # margin and min_ttl never exceed this fraction of a token's lifetime
MIN_FETCH_SECONDS = 1.0  # a fetch is not started with less of the request's deadline left


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


class MemoryCache:
    """This execution environment's copies of cache entries, each trusted for `max_age` s."""

    def __init__(self, max_age: float) -> None:
        self._max_age = max_age
        self._entries: dict[tuple[str, str], tuple[float, CacheEntry]] = {}

    def get(self, region: str, scope: str, now: float) -> CacheEntry | None:
        remembered = self._entries.get((region, scope))
        if remembered is None or now - remembered[0] >= self._max_age:
            return None
        return remembered[1]

    def held(self, region: str, scope: str, now: float) -> CachedToken | None:
        """The token this environment holds for the key, whatever its age, if still valid."""
        remembered = self._entries.get((region, scope))
        token = remembered[1].token if remembered else None
        return token if token is not None and token.seconds_left(now) > 0 else None

    def put(self, entry: CacheEntry, now: float) -> None:
        self._entries[(entry.region, entry.scope)] = (now, entry)

    def clear(self) -> None:
        self._entries.clear()


@dataclass
class TokenVendor:
    settings: Settings
    cache: TokenCache
    credentials: CredentialStore
    upstream: TokenEndpoint
    memory: MemoryCache
    renewer: Renewer | None = None  # None: renew inline (vcc_tokens.renewal)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    backoff: Backoff = field(init=False)
    _touched: dict[tuple[str, str], float] = field(default_factory=dict)
    # Until when this instance serves a due token from memory without trying to renew it again:
    # someone holds the renewal lease, it was handed over, or it just failed (then remembered).
    _renewal_settled: dict[tuple[str, str], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.backoff = Backoff(
            base=self.settings.backoff_base_seconds,
            cap=self.settings.backoff_cap_seconds,
            rejected_cap=self.settings.rejected_backoff_cap_seconds,
        )

    # --- the rules ---------------------------------------------------------------------------
    def margin(self, token: CachedToken) -> float:
        """Renew once less than this many seconds are left."""
        wanted = max(
            self.settings.refresh_margin_seconds,
            self.settings.refresh_margin_fraction * token.lifetime,
        )
        return min(wanted, SHORT_LIFETIME_CAP * token.lifetime)

    @staticmethod
    def usable(token: CachedToken | None, min_ttl: int, now: float) -> TypeGuard[CachedToken]:
        """Valid, with min_ttl left, or half its lifetime if min_ttl asks for more: VCC issues
        nothing longer, so asking more must not mean a fetch per request."""
        if token is None:
            return False
        left = token.seconds_left(now)
        return left > 0 and left >= min(min_ttl, SHORT_LIFETIME_CAP * token.lifetime)

    def due(self, token: CachedToken, now: float, horizon: float = 0.0) -> bool:
        """Inside the refresh margin now, or by `now + horizon`."""
        return token.expires_at - self.margin(token) <= now + horizon

    # --- GET /tokens/{region}/{scope} ---------------------------------------------------------
    def vend(self, request: TokenRequest) -> Vend:
        region, scope, min_ttl = request.region, request.scope, request.min_ttl
        now = self.clock()
        remembered = self.memory.get(region, scope, now)
        token = remembered.token if remembered else None
        if self.usable(token, min_ttl, now) and (
            not self.due(token, now)
            or _blocking(remembered, now) is not None
            or self._renewal_settled.get((region, scope), 0.0) > now
        ):
            return Vend(token, CacheOutcome.HIT, Source.MEMORY)

        held = self.memory.held(region, scope, now)  # any age: the fallback if all else fails
        try:
            entry = self._read(region, scope, now)
        except DependencyError as fault:
            return self._fallback(fault, (held, Source.MEMORY), now=now)
        token = entry.token if entry else None
        if self.usable(token, min_ttl, now):
            if self.due(token, now):
                token = self._renew_ahead(token)
            return Vend(token, CacheOutcome.HIT, Source.DYNAMODB)
        if self.usable(held, min_ttl, now):  # fetched here when the cache could not store it
            return Vend(held, CacheOutcome.HIT, Source.MEMORY)
        fallbacks = ((token, Source.DYNAMODB), (held, Source.MEMORY))
        failure = _blocking(entry, now)
        if failure is not None:
            return self._fallback(self._remembered(failure, now), *fallbacks, now=now)

        if token is None:
            outcome = CacheOutcome.MISS
        elif token.seconds_left(now) <= 0:
            outcome = CacheOutcome.EXPIRED
        else:
            outcome = CacheOutcome.BELOW_MIN_TTL
        try:
            token, source = self._single_flight(
                region,
                scope,
                satisfied=lambda t: self.usable(t, min_ttl, self.clock()),
                requested_at=now,
            )
        except DependencyError as fault:
            return self._fallback(fault, *fallbacks, now=now)
        return Vend(token, outcome, source)

    # --- POST /tokens/{region}/{scope}/refresh --------------------------------------------------
    def refresh(self, region: str, scope: str, rejected_sha256: str | None) -> Vend:
        """Replace the cached token after VCC rejected it, once, however many callers ask.

        With `rejected_sha256`, only if the cached token is still that one (else the cached
        token is returned); without it (a forced refresh), only if the cached token is older
        than `forced_refresh_interval`. Either way at most one refresh fetches per key per
        interval: within it, the token the last refresh fetched is returned."""
        now = self.clock()
        entry = self.cache.get(region, scope, consistent=True)
        current = entry.token if entry else None
        interval = self.settings.forced_refresh_interval

        def satisfied(token: CachedToken | None) -> bool:
            if not self.usable(token, 0, self.clock()):
                return False
            if rejected_sha256 is None:
                return token.fetched_at > now - interval
            return token.sha256 != rejected_sha256

        refreshed_lately = entry is not None and entry.refreshed_at > now - interval
        if self.usable(current, 0, now) and (satisfied(current) or refreshed_lately):
            return Vend(current, CacheOutcome.CURRENT, Source.DYNAMODB)
        replacing = rejected_sha256 or (current.sha256 if current else NOTHING_CACHED)
        token, source = self._single_flight(region, scope, satisfied, replacing=replacing)
        outcome = CacheOutcome.REFRESHED if source is Source.UPSTREAM else CacheOutcome.CURRENT
        return Vend(token, outcome, source)

    # --- the scheduled refresher --------------------------------------------------------------
    def renew_due(self) -> RenewalReport:
        """Renew every key inside its margin or that will be before the next scheduled run,
        unless nobody asked for it within `idle_seconds` or VCC is backing off for it."""
        now = self.clock()
        horizon = self.settings.refresh_rate_seconds
        report = RenewalReport()
        for entry in self.cache.entries():
            token = entry.token
            if token is None or entry.last_requested_at < now - self.settings.idle_seconds:
                report.idle += 1
                continue
            if not self.due(token, now, horizon):
                report.fresh += 1
                continue
            if _blocking(entry, now) is not None:
                report.backing_off += 1
                continue
            try:
                self._single_flight(
                    entry.region,
                    entry.scope,
                    satisfied=lambda t: t is not None and not self.due(t, self.clock(), horizon),
                )
            except (UpstreamError, DependencyError) as error:
                report.failed.append(f"{entry.region} {entry.scope}: {error.code}")
                logger.warning(
                    "scheduled renewal failed",
                    extra={"region": entry.region, "scope": entry.scope, "error": error.code},
                )
            else:
                report.renewed += 1
                metrics.add_metric(name="SchedulerRenewals", unit=MetricUnit.Count, value=1)
        return report

    # --- the machinery ------------------------------------------------------------------------
    def _read(self, region: str, scope: str, now: float) -> CacheEntry | None:
        entry = self.cache.get(region, scope)
        if entry is not None:
            self.memory.put(entry, now)
            self._touch(region, scope, now)
        return entry

    def _touch(self, region: str, scope: str, now: float) -> None:
        """Record, at most once a minute per instance, that callers still want the key."""
        last = self._touched.get((region, scope), 0.0)
        if now - last >= TOUCH_INTERVAL:
            self._touched[(region, scope)] = now
            with suppress(DependencyError):  # counted where it happened; the next touch will do
                self.cache.touch(region, scope, now)

    @staticmethod
    def _remembered(failure: Failure, now: float) -> VendError:
        metrics.add_metric(name="BackoffAnswers", unit=MetricUnit.Count, value=1)
        return failure.error(now)

    @staticmethod
    def _fallback(
        error: VendError, *candidates: tuple[CachedToken | None, Source], now: float
    ) -> Vend:
        """The valid candidate with the most time left, though short of what was asked, when
        `error` keeps us from better; else `error`."""
        valid = [(t, source) for t, source in candidates if t is not None and t.seconds_left(now)]
        if not valid:
            raise error
        token, source = max(valid, key=lambda candidate: candidate[0].expires_at)
        metrics.add_metric(name="FallbackAnswers", unit=MetricUnit.Count, value=1)
        logger.warning(
            "serving a valid token short of what was asked",
            extra={"error": error.code, "seconds_left": token.seconds_left(now)},
        )
        return Vend(token, CacheOutcome.FALLBACK, source)

    def _renew_ahead(self, current: CachedToken) -> CachedToken:
        """One instance renews a token inside its margin; the valid token is served meanwhile.
        Nobody renews while the key backs off: its lease cannot be taken then. With a renewer,
        the refresher renews under this request's lease and the caller does not wait at all;
        without one, the caller (who holds a valid token) waits at most `renew_ahead_budget`:
        a slower VCC becomes a remembered timeout, not a caller waiting the whole fetch budget."""
        owner = uuid.uuid4().hex
        key = (current.region, current.scope)
        self._renewal_settled[key] = self.clock() + self.settings.lease_seconds
        try:
            if not self._take_lease(current.region, current.scope, owner):
                return current  # someone is renewing it, or VCC failed for it recently
            if self.renewer is not None:
                self._hand_over(current, owner, self.renewer)
                return current
            renewed, _ = self._fetch_holding_lease(
                current.region,
                current.scope,
                owner,
                lambda t: t is not None and not self.due(t, self.clock()),
                budget=self.settings.renew_ahead_budget,
            )
        except (UpstreamError, DependencyError) as error:
            metrics.add_metric(name="RenewAheadFailures", unit=MetricUnit.Count, value=1)
            logger.warning(
                "refresh-ahead failed; serving the current token",
                extra={"error": error.code, "seconds_left": current.seconds_left(self.clock())},
            )
            return current
        self._renewal_settled.pop(key, None)
        return renewed

    def _hand_over(self, current: CachedToken, owner: str, renewer: Renewer) -> None:
        try:
            renewer.request(current.region, current.scope, owner)
        except DependencyError:  # counted where it happened; the lease expires, others retry
            with suppress(DependencyError):
                self.cache.release_lease(current.region, current.scope, owner)
            raise
        metrics.add_metric(name="RenewalsHandedOver", unit=MetricUnit.Count, value=1)

    # --- a renewal handed over by a vending instance (the refresher) -------------------------
    def renew_held(self, region: str, scope: str, lease_owner: str) -> bool:
        """Renew the key under the lease a vending instance took for it; if that lease has
        expired meanwhile, under a new one, unless someone else holds it. False if VCC or AWS
        failed (remembered and counted like any failure) or someone else is renewing."""

        def satisfied(token: CachedToken | None) -> bool:
            return token is not None and not self.due(token, self.clock())

        try:
            latest = self._latest(region, scope)
            now = self.clock()
            if latest is None or latest.lease_owner != lease_owner or latest.lease_until < now:
                lease_owner = uuid.uuid4().hex
                if not self._take_lease(region, scope, lease_owner):
                    return False  # someone else is renewing it, or it backs off
            self._fetch_holding_lease(region, scope, lease_owner, satisfied)
        except (UpstreamError, DependencyError) as error:
            logger.warning(
                "renewal failed", extra={"region": region, "scope": scope, "error": error.code}
            )
            return False
        return True

    def _single_flight(
        self,
        region: str,
        scope: str,
        satisfied: Callable[[CachedToken | None], bool],
        *,
        replacing: str | None = None,
        requested_at: float | None = None,
    ) -> tuple[CachedToken, Source]:
        """A token that `satisfied` accepts, fetched by exactly one instance at a time: the
        others wait for it, or take the lease over once it expires (its holder died). If the
        key backs off after a failure, the remembered error at once."""
        owner = uuid.uuid4().hex
        deadline = self.clock() + self.settings.wait_seconds
        waited = False
        while True:
            if self._take_lease(region, scope, owner):
                return self._fetch_holding_lease(
                    region, scope, owner, satisfied, replacing, requested_at
                )
            latest = self._latest(region, scope)
            accepted = _accepted(latest, satisfied)
            if accepted is not None:
                return accepted, Source.LEASE_WAIT
            now = self.clock()
            failure = _blocking(latest, now)
            if failure is not None:
                raise self._remembered(failure, now)
            if not waited:
                waited = True
                metrics.add_metric(name="LeaseWaits", unit=MetricUnit.Count, value=1)
            if now > deadline or time_left_after_calls(2) < MIN_FETCH_SECONDS:
                raise UpstreamUnavailable(
                    f"the {region} token for {scope!r} is being fetched by another instance "
                    f"and did not arrive in time",
                    retry_after=1,
                )
            self.sleep(random.uniform(0.05, 0.2))  # jitter  # noqa: S311  # nosec B311

    def _take_lease(self, region: str, scope: str, owner: str) -> bool:
        now = self.clock()
        return self.cache.acquire_lease(
            region, scope, owner, now, now + self.settings.lease_seconds
        )

    def _fetch_holding_lease(
        self,
        region: str,
        scope: str,
        owner: str,
        satisfied: Callable[[CachedToken | None], bool],
        replacing: str | None = None,
        requested_at: float | None = None,
        budget: float | None = None,
    ) -> tuple[CachedToken, Source]:
        """With the key's lease: the token the previous holder stored if it will do, else a new
        one from VCC (within `budget`, by default the whole upstream budget); the lease is given
        back either way, with the failure to remember if VCC failed or the new token could not
        be cached (then this instance keeps it in memory)."""
        failure = None
        try:
            latest = self._latest(region, scope)
            accepted = _accepted(latest, satisfied)
            if accepted is not None:
                return accepted, Source.LEASE_WAIT
            previous = latest.failure if latest else None
            budget = min(  # room kept to store the token
                budget or self.settings.upstream_budget, time_left_after_calls(2)
            )
            if budget < MIN_FETCH_SECONDS:  # this request's deadline, not VCC: not remembered
                raise UpstreamUnavailable(
                    f"no time is left in this request to fetch the {region} token for {scope!r}",
                    retry_after=1,
                )
            try:
                token = self._fetch(region, scope, budget)
            except UpstreamError as error:
                failure = self._remember(error, previous)
                raise
            try:
                return self._store(token, replacing, requested_at), Source.UPSTREAM
            except DependencyError as fault:
                failure = self._remember(fault, previous)
                self.memory.put(CacheEntry(region, scope, token, failure=failure), self.clock())
                metrics.add_metric(name="UncachedTokens", unit=MetricUnit.Count, value=1)
                return token, Source.UPSTREAM
        finally:
            with suppress(DependencyError):  # counted where it happened; the lease expires
                self.cache.release_lease(region, scope, owner, failure)

    def _remember(self, error: VendError, previous: Failure | None) -> Failure:
        failure = self.backoff.failure(error, previous, self.clock())
        logger.warning(
            "nobody fetches this key again before its backoff passes",
            extra={
                "error": error.code,
                "failures_in_a_row": failure.count,
                "retry_in": round(failure.retry_at - self.clock(), 1),
            },
        )
        return failure

    def _latest(self, region: str, scope: str) -> CacheEntry | None:
        """The key's item, read consistently (and remembered in memory)."""
        latest = self.cache.get(region, scope, consistent=True)
        if latest is not None:
            self.memory.put(latest, self.clock())
        return latest

    def _fetch_rotation_aware(self, region: str, scope: str, budget: float) -> IssuedToken:
        """Fetch; if VCC rejects the credentials, re-read the secret past the cache and retry
        once, only if it changed (the secret was rotated since it was cached)."""
        credentials = self.credentials.get(region)
        try:
            return self.upstream.fetch(region, scope, credentials, budget)
        except UpstreamRejectedCredentials:
            current = self.credentials.get(region, fresh=True)
            if current == credentials:
                metrics.add_metric(name="CredentialsRejected", unit=MetricUnit.Count, value=1)
                raise
            logger.info("the region's secret changed since it was cached; retrying with it")
            return self.upstream.fetch(region, scope, current, budget)

    def _fetch(self, region: str, scope: str, budget: float) -> CachedToken:
        """A new token from VCC within `budget` seconds (retries included)."""
        fetched_at = int(self.clock())  # before the request: the token expires no earlier
        started = time.perf_counter()
        try:
            issued = self._fetch_rotation_aware(region, scope, budget)
        except UpstreamError as error:
            metrics.add_metric(name="UpstreamErrors", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name=f"UpstreamErrors_{error.kind}", unit=MetricUnit.Count, value=1)
            raise
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            metrics.add_metric(
                name="UpstreamLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms
            )
        metrics.add_metric(name="UpstreamFetches", unit=MetricUnit.Count, value=1)
        return CachedToken(
            region=region,
            scope=scope,
            access_token=issued.access_token,
            token_type="Bearer",
            fetched_at=fetched_at,
            expires_at=fetched_at + issued.expires_in,
        )

    def _store(
        self, token: CachedToken, replacing: str | None, requested_at: float | None
    ) -> CachedToken:
        """Cache the new token; the cached one if it expires later (or replaced the rejected
        one already)."""
        if not self.cache.store(token, replacing=replacing, requested_at=requested_at):
            latest = self.cache.get(token.region, token.scope, consistent=True)
            if latest and latest.token and latest.token.seconds_left(self.clock()) > 0:
                token = latest.token
        self.memory.put(CacheEntry(token.region, token.scope, token), self.clock())
        return token


def _blocking(entry: CacheEntry | None, now: float) -> Failure | None:
    """The entry's remembered failure, while it still forbids fetching."""
    if entry is None or entry.failure is None or not entry.failure.blocks(now):
        return None
    return entry.failure


def _accepted(
    entry: CacheEntry | None, satisfied: Callable[[CachedToken | None], bool]
) -> CachedToken | None:
    """The entry's token, if `satisfied` takes it."""
    token = entry.token if entry else None
    return token if token is not None and satisfied(token) else None


@dataclass
class RenewalReport:
    renewed: int = 0
    fresh: int = 0  # not due before the next run
    idle: int = 0  # nobody asked for it within idle_seconds (or nothing cached)
    backing_off: int = 0  # VCC failed for it recently; its failure memory says when to retry
    failed: list[str] = field(default_factory=list)


def token_response(token: CachedToken, now: float) -> dict[str, object]:
    """The JSON body a caller receives for a token."""
    return {
        "access_token": token.access_token,
        "token_type": "Bearer",
        "expires_in": token.seconds_left(now),
        "expires_at": rfc3339(token.expires_at),
        "region": token.region,
        "scope": token.scope,
    }


def rfc3339(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
