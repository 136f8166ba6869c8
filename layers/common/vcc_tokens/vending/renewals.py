"""Renewal: replacing a token before it expires, in three ways, all under the key's lease.

- ahead: a request finds its valid token inside the margin (the advisory window). It is served
  at once; with a renewer (vcc_tokens.aws.handover), the refresher renews it under this request's
  lease and the caller does not wait at all; without one, the caller waits at most
  `renew_ahead_budget`, and a slower VCC becomes a remembered timeout. A failed renewal fails
  nobody while the token is valid. Nobody renews while the key backs off (its lease cannot be
  taken then).
- handed over: the refresher renews one key under the lease a vending instance took for it.
- scheduled: the refresher renews every key that is, or will be before its next run, inside
  the margin, unless nobody asked for it lately, VCC is backing off for it, or the routes no
  longer send its scope to its credential (an orphan: left to expire).

Faults are per key: whatever stops one key's renewal (VCC, AWS, an unusable secret, anything
unexpected) is logged and counted for that key's credential (`RenewalFailures`), and the others
go on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from vcc_token_contract.item import KeyState
from vcc_token_contract.metrics import Metric
from vcc_tokens.aws.handover import Renewer
from vcc_tokens.observability import MetricUnit, count_for_credential, logger, metrics
from vcc_tokens.values.config import Settings
from vcc_tokens.values.errors import DependencyError, VendError
from vcc_tokens.values.tokens import CachedToken, CacheEntry, Key, Lease
from vcc_tokens.vending.cache import TokenCache
from vcc_tokens.vending.freshness import RenewalMargin, key_state
from vcc_tokens.vending.single_flight import SingleFlight


@dataclass
class RenewalReport:
    renewed: int = 0
    fresh: int = 0  # not due before the next run
    idle: int = 0  # nobody asked for it within idle_seconds (or nothing cached)
    backing_off: int = 0  # VCC failed for it recently; its failure memory says when to retry
    unreadable: int = 0  # its token does not parse or open: skipped (its next request heals it)
    orphaned: int = 0  # the routes no longer send its scope to its credential: left to expire
    failed: list[str] = field(default_factory=list)  # "<key>: <reason>", one per failed key


@dataclass
class Renewals:
    cache: TokenCache
    flight: SingleFlight
    margin: RenewalMargin
    settings: Settings
    clock: Callable[[], float]
    renewer: Renewer | None = None  # None: renew inline (vcc_tokens.aws.handover)
    # Until when this instance serves a due token from memory without trying to renew it again:
    # someone holds the renewal lease, it was handed over, or it just failed (then remembered).
    _settled: dict[Key, float] = field(default_factory=dict)

    def settled(self, key: Key, now: float) -> bool:
        return self._settled.get(key, 0.0) > now

    def not_due(self, horizon: float = 0.0) -> Callable[[CachedToken | None], bool]:
        """What a renewal accepts: a token outside the margin (by `horizon` from now)."""
        return lambda t: t is not None and not self.margin.due(t, self.clock(), horizon)

    def ahead(self, current: CachedToken) -> CachedToken:
        """Renew a token found inside its margin; `current` meanwhile (see the module doc)."""
        key = current.key
        self._settled[key] = self.clock() + self.settings.lease_seconds
        try:
            lease = self.flight.take(key)
            if lease is None:
                return current  # someone is renewing it, or VCC failed for it recently
            if self.renewer is not None:
                self._hand_over(lease, self.renewer)
                return current
            renewed = self.flight.fetch_under(
                lease, self.not_due(), budget=self.settings.renew_ahead_budget
            ).token
        except VendError as error:  # the caller holds a valid token: serve it, whatever failed
            metrics.add_metric(name=Metric.RENEW_AHEAD_FAILURES, unit=MetricUnit.Count, value=1)
            logger.warning(
                "renewal ahead failed; serving the current token",
                extra={"error": error.code, "seconds_left": current.seconds_left(self.clock())},
            )
            return current
        self._settled.pop(key, None)
        return renewed

    def _hand_over(self, lease: Lease, renewer: Renewer) -> None:
        try:
            renewer.request(lease.key.region, lease.key.scope, lease.owner)
        except DependencyError:  # counted where it happened; the lease expires, others retry
            self.cache.release(lease)
            raise
        metrics.add_metric(name=Metric.RENEWALS_HANDED_OVER, unit=MetricUnit.Count, value=1)

    def handed_over(self, key: Key, lease_owner: str) -> bool:
        """Renew the key under the lease a vending instance took for it; if that lease has
        expired meanwhile, under a new one, unless someone else holds it. False if VCC or AWS
        failed (remembered and counted like any failure) or someone else is renewing."""
        try:
            latest = self.cache.latest(key)
            handed = latest.lease if latest is not None and latest.leased_to(lease_owner) else None
            if handed is None or not handed.held(self.clock(), self.settings.clock_skew_seconds):
                lease = self.flight.take(key)
            else:  # claimed first: of two deliveries of one event, one fetches
                lease = self.flight.lease(key)
                lease = lease if self.cache.claim(handed, lease) else None
            if lease is None:
                return False  # someone else is renewing it, or it backs off
            self.flight.fetch_under(lease, self.not_due())
        except Exception as error:  # one key's fault: recorded, never raised
            key_failed(key, error, "renewal failed")
            return False
        return True

    def scheduled(self) -> RenewalReport:
        """Renew every key inside its margin or that will be before the next scheduled run,
        unless nobody asked for it within `idle_seconds` or VCC is backing off for it."""
        now = self.clock()
        report = RenewalReport()
        routes = self.settings.credential_routes
        for entry in self.cache.entries():
            if entry.unreadable:
                report.unreadable += 1
            elif routes.credential_for(entry.region, entry.scope) != entry.credential:
                report.orphaned += 1
            elif entry.token is None or entry.last_requested_at < now - self.settings.idle_seconds:
                report.idle += 1
            else:
                self._by_state(entry, now, report)
        return report

    def _by_state(self, entry: CacheEntry, now: float, report: RenewalReport) -> None:
        """A wanted key: renewed if due before the next run, unless VCC is backing off for it."""
        horizon = self.settings.renew_rate_seconds
        skew = self.settings.clock_skew_seconds
        state = key_state(entry, now, min_ttl=0, margin=self.margin, skew=skew, horizon=horizon)
        if state is KeyState.FRESH:
            report.fresh += 1
        elif state in (KeyState.BACKING_OFF, KeyState.DUE_BACKING_OFF):
            report.backing_off += 1
        else:
            self._renew_scheduled(entry, report)

    def _renew_scheduled(self, entry: CacheEntry, report: RenewalReport) -> None:
        try:
            self.flight.obtain(entry.key, self.not_due(self.settings.renew_rate_seconds))
        except Exception as error:  # one key's fault: recorded, the rest go on
            report.failed.append(key_failed(entry.key, error, "scheduled renewal failed"))
        else:
            report.renewed += 1
            metrics.add_metric(name=Metric.SCHEDULER_RENEWALS, unit=MetricUnit.Count, value=1)


def key_failed(key: Key, error: Exception, what: str) -> str:
    """Log and count one key's failure; "<key>: <reason>" for the run's summary. A typed error
    says its code and message (which never hold a token or a secret); anything else only its
    type, since its message could hold anything."""
    if isinstance(error, VendError):
        reason = f"{error.code}: {error.message}"
    else:
        reason = f"unexpected {type(error).__name__}"
    count_for_credential(Metric.RENEWAL_FAILURES, key.region, key.credential)
    logger.warning(
        what,
        extra={
            "region": key.region,
            "scope": key.scope,
            "credential": key.credential,
            "error": reason,
        },
    )
    return f"{key.region} {key.scope} ({key.credential}): {reason}"
