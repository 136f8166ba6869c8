"""Vending: validate what a caller asks for, then serve a cached token or fetch a new one.

The aim is one upstream request per (region, scope) per token lifetime, whatever the number of
callers and Lambda instances, with callers almost never waiting for VCC:

- an in-memory copy per execution environment, at most `memory_cache_seconds` old, in front of
  DynamoDB;
- single-flight across instances: only the holder of a key's lease (a DynamoDB conditional
  write) fetches; the others poll a consistent read and take the holder's token, or take the
  lease over once it expires (its holder died);
- refresh-ahead: inside the refresh margin the valid token is still served while one instance
  renews it; a failed renewal fails nobody while the token is valid;
- the scheduled refresher renews keys before callers see them inside the margin.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeGuard
from urllib.parse import unquote

from vcc_tokens.cache import CachedToken, CacheEntry, TokenCache
from vcc_tokens.config import REGIONS, Settings
from vcc_tokens.credentials import CredentialStore
from vcc_tokens.errors import (
    InvalidRequest,
    UnknownRegion,
    UnknownScope,
    UpstreamError,
    UpstreamRejectedCredentials,
    UpstreamUnavailable,
)
from vcc_tokens.observability import MetricUnit, logger, metrics
from vcc_tokens.upstream import IssuedToken, TokenEndpoint

_MAX_ECHO = 64  # how much of a caller's bad value an error message repeats
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
TOUCH_INTERVAL = 60  # how often an instance records that a key is still being asked for


class CacheOutcome(StrEnum):
    HIT = "hit"
    MISS = "miss"  # nothing cached for the key
    EXPIRED = "expired"  # cached but past expires_at (DynamoDB TTL had not removed it yet)
    BELOW_MIN_TTL = "below_min_ttl"  # cached and valid, but with less than min_ttl left
    REFRESHED = "refreshed"  # replaced on a caller's request (POST .../refresh)
    CURRENT = "current"  # a refresh was asked for, but the cached token is already newer


class Source(StrEnum):
    MEMORY = "memory"
    DYNAMODB = "dynamodb"
    UPSTREAM = "upstream"  # this request fetched the token
    LEASE_WAIT = "lease_wait"  # another instance fetched it while this one waited


@dataclass(frozen=True)
class TokenRequest:
    region: str
    scope: str
    min_ttl: int


@dataclass(frozen=True)
class Vend:
    token: CachedToken
    outcome: CacheOutcome
    source: Source


def parse_token_request(
    region: str, scope: str, min_ttl: str | None, settings: Settings
) -> TokenRequest:
    """Check a caller's region, scope (raw or percent-encoded) and min_ttl against the settings."""
    if region not in REGIONS:
        raise UnknownRegion(f"unknown region {_echo(region)}; allowed: {', '.join(REGIONS)}")
    # Allowed scopes never contain '%', so one decoding accepts both `a:b` and `a%3Ab`.
    scope = unquote(scope)
    if scope not in settings.allowed_scopes:
        allowed = ", ".join(sorted(settings.allowed_scopes))
        raise UnknownScope(f"unknown scope {_echo(scope)}; allowed: {allowed}")
    return TokenRequest(region, scope, _parse_min_ttl(min_ttl, settings))


def check_query(query: dict[str, list[str]] | None, allowed: frozenset[str]) -> None:
    """Refuse query parameters the route does not take, and repeated ones."""
    for name, values in (query or {}).items():
        if name not in allowed:
            takes = ", ".join(sorted(allowed)) or "none"
            raise InvalidRequest(f"unknown query parameter {_echo(name)}; allowed: {takes}")
        if len(values) > 1:
            raise InvalidRequest(f"query parameter {_echo(name)} is given more than once")


def check_no_body(body: str | None, method: str) -> None:
    if body:
        raise InvalidRequest(f"{method} takes no body")


def parse_rejected_token(body: str | None) -> str | None:
    """The refresh body: nothing, or {"rejected_token_sha256": "<64 lower-case hex>"}."""
    if body is None or not body.strip():
        return None
    expected = 'the body must be empty or {"rejected_token_sha256": "<64 hex characters>"}'
    try:
        document = json.loads(body)
    except ValueError:
        raise InvalidRequest(f"the body is not JSON; {expected}") from None
    if not isinstance(document, dict) or set(document) != {"rejected_token_sha256"}:
        raise InvalidRequest(expected)
    digest = document["rejected_token_sha256"]
    if not isinstance(digest, str) or not _SHA256_HEX.match(digest.lower()):
        raise InvalidRequest(f"rejected_token_sha256 must be 64 hex characters; {expected}")
    return digest.lower()


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
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    _touched: dict[tuple[str, str], float] = field(default_factory=dict)

    # --- the rules ---------------------------------------------------------------------------
    def margin(self, token: CachedToken) -> float:
        """Renew once less than this many seconds are left."""
        return max(
            self.settings.refresh_margin_seconds,
            self.settings.refresh_margin_fraction * token.lifetime,
        )

    @staticmethod
    def usable(token: CachedToken | None, min_ttl: int, now: float) -> TypeGuard[CachedToken]:
        if token is None:
            return False
        left = token.seconds_left(now)
        return left > 0 and left >= min_ttl

    def due(self, token: CachedToken, now: float, horizon: float = 0.0) -> bool:
        """Inside the refresh margin now, or by `now + horizon`."""
        return token.expires_at - self.margin(token) <= now + horizon

    # --- GET /tokens/{region}/{scope} ---------------------------------------------------------
    def vend(self, request: TokenRequest) -> Vend:
        now = self.clock()
        remembered = self.memory.get(request.region, request.scope, now)
        token = remembered.token if remembered else None
        if self.usable(token, request.min_ttl, now) and not self.due(token, now):
            return Vend(token, CacheOutcome.HIT, Source.MEMORY)

        entry = self._read(request.region, request.scope, now)
        token = entry.token if entry else None
        if self.usable(token, request.min_ttl, now):
            if self.due(token, now):
                token = self._renew_ahead(token)
            return Vend(token, CacheOutcome.HIT, Source.DYNAMODB)

        if token is None:
            outcome = CacheOutcome.MISS
        elif token.seconds_left(now) <= 0:
            outcome = CacheOutcome.EXPIRED
        else:
            outcome = CacheOutcome.BELOW_MIN_TTL
        token, source = self._single_flight(
            request.region,
            request.scope,
            satisfied=lambda t: self.usable(t, request.min_ttl, self.clock()),
            requested_at=now,
        )
        return Vend(token, outcome, source)

    # --- POST /tokens/{region}/{scope}/refresh --------------------------------------------------
    def refresh(self, region: str, scope: str, rejected_sha256: str | None) -> Vend:
        """Replace the cached token after VCC rejected it, once, however many callers ask.

        With `rejected_sha256`, only if the cached token is still that one; without, a forced
        refresh, at most once per key per `forced_refresh_interval`."""
        now = self.clock()
        entry = self.cache.get(region, scope, consistent=True)
        current = entry.token if entry else None
        interval = self.settings.forced_refresh_interval

        def satisfied(token: CachedToken | None) -> bool:
            if not self.usable(token, 0, self.clock()):
                return False
            if rejected_sha256 is not None:
                return token.sha256 != rejected_sha256
            return token.fetched_at > now - interval

        if satisfied(current) and current is not None:
            return Vend(current, CacheOutcome.CURRENT, Source.DYNAMODB)
        replacing = rejected_sha256 or (current.sha256 if current else None)
        token, source = self._single_flight(region, scope, satisfied, replacing=replacing)
        outcome = CacheOutcome.REFRESHED if source is Source.UPSTREAM else CacheOutcome.CURRENT
        return Vend(token, outcome, source)

    # --- the scheduled refresher --------------------------------------------------------------
    def renew_due(self) -> RenewalReport:
        """Renew every key inside its margin or that will be before the next scheduled run,
        unless nobody asked for it within `idle_seconds`."""
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
            try:
                self._single_flight(
                    entry.region,
                    entry.scope,
                    satisfied=lambda t: t is not None and not self.due(t, self.clock(), horizon),
                )
            except UpstreamError as error:
                report.failed.append(f"{entry.region} {entry.scope}: {error.kind}")
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
            self.cache.touch(region, scope, now)
            self._touched[(region, scope)] = now

    def _renew_ahead(self, current: CachedToken) -> CachedToken:
        """One instance renews a token inside its margin; the valid token is served meanwhile."""
        owner = uuid.uuid4().hex
        if not self._take_lease(current.region, current.scope, owner):
            return current  # someone is renewing it
        try:
            renewed, _ = self._fetch_holding_lease(
                current.region,
                current.scope,
                owner,
                lambda t: t is not None and not self.due(t, self.clock()),
            )
        except UpstreamError as error:
            metrics.add_metric(name="RenewAheadFailures", unit=MetricUnit.Count, value=1)
            logger.warning(
                "refresh-ahead failed; serving the current token",
                extra={"error": error.code, "seconds_left": current.seconds_left(self.clock())},
            )
            return current
        return renewed

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
        others wait for it, or take the lease over once it expires (its holder died)."""
        owner = uuid.uuid4().hex
        deadline = self.clock() + self.settings.wait_seconds
        waited = False
        while True:
            if self._take_lease(region, scope, owner):
                return self._fetch_holding_lease(
                    region, scope, owner, satisfied, replacing, requested_at
                )
            if not waited:
                waited = True
                metrics.add_metric(name="LeaseWaits", unit=MetricUnit.Count, value=1)
            if self.clock() > deadline:
                raise UpstreamUnavailable(
                    f"the {region} token for {scope!r} is being fetched by another instance "
                    f"and did not arrive in {self.settings.wait_seconds:.0f} s",
                    retry_after=1,
                )
            self.sleep(random.uniform(0.05, 0.2))  # jitter  # noqa: S311  # nosec B311
            accepted = self._accepted(region, scope, satisfied)
            if accepted is not None:
                return accepted, Source.LEASE_WAIT

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
    ) -> tuple[CachedToken, Source]:
        """With the key's lease: the token the previous holder stored if it will do, else a new
        one from VCC; the lease is given back either way."""
        try:
            accepted = self._accepted(region, scope, satisfied)
            if accepted is not None:
                return accepted, Source.LEASE_WAIT
            token = self._fetch_and_store(region, scope, replacing, requested_at)
            return token, Source.UPSTREAM
        finally:
            self.cache.release_lease(region, scope, owner)

    def _accepted(
        self, region: str, scope: str, satisfied: Callable[[CachedToken | None], bool]
    ) -> CachedToken | None:
        """The cached token (consistent read) if `satisfied` accepts it."""
        latest = self.cache.get(region, scope, consistent=True)
        if latest is None or latest.token is None or not satisfied(latest.token):
            return None
        self.memory.put(latest, self.clock())
        return latest.token

    def _fetch_rotation_aware(self, region: str, scope: str) -> IssuedToken:
        """Fetch; if VCC rejects the credentials, re-read the secret past the cache and retry
        once, only if it changed (the secret was rotated since it was cached)."""
        credentials = self.credentials.get(region)
        try:
            return self.upstream.fetch(region, scope, credentials)
        except UpstreamRejectedCredentials:
            current = self.credentials.get(region, fresh=True)
            if current == credentials:
                metrics.add_metric(name="CredentialsRejected", unit=MetricUnit.Count, value=1)
                raise
            logger.info("the region's secret changed since it was cached; retrying with it")
            return self.upstream.fetch(region, scope, current)

    def _fetch_and_store(
        self, region: str, scope: str, replacing: str | None, requested_at: float | None
    ) -> CachedToken:
        fetched_at = int(self.clock())  # before the request: the token expires no earlier
        started = time.perf_counter()
        try:
            issued = self._fetch_rotation_aware(region, scope)
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
        token = CachedToken(
            region=region,
            scope=scope,
            access_token=issued.access_token,
            token_type="Bearer",
            fetched_at=fetched_at,
            expires_at=fetched_at + issued.expires_in,
        )
        if not self.cache.store(token, replacing=replacing, requested_at=requested_at):
            # A token that expires later is already cached (or the rejected one was replaced)
            latest = self.cache.get(region, scope, consistent=True)
            if latest and latest.token and latest.token.seconds_left(self.clock()) > 0:
                token = latest.token
        self.memory.put(CacheEntry(region, scope, token), self.clock())
        return token


@dataclass
class RenewalReport:
    renewed: int = 0
    fresh: int = 0  # not due before the next run
    idle: int = 0  # nobody asked for it within idle_seconds (or nothing cached)
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


def _parse_min_ttl(raw: str | None, settings: Settings) -> int:
    if raw is None:
        return settings.default_min_ttl
    allowed = f"a whole number of seconds from 0 to {settings.max_min_ttl}"
    if not (raw.isascii() and raw.isdigit()) or int(raw) > settings.max_min_ttl:
        raise InvalidRequest(f"min_ttl must be {allowed}, got {_echo(raw)}")
    return int(raw)


def _echo(value: str) -> str:
    """A caller's value, quoted and shortened, for an error message."""
    return repr(value[:_MAX_ECHO] + ("..." if len(value) > _MAX_ECHO else ""))
