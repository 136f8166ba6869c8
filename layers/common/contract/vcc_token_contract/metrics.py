"""The service's CloudWatch metrics: one name each, for the code that emits them (vcc_tokens) and
for what reads them, the template's alarms and its dashboard (rendered from this module by
`make docs`: generators/dashboard.py). Each one is on the dashboard or in an alarm (a test
holds it): a custom metric costs $0.30 a month, and what nobody looks at is a log line instead
(requests by source, rotations asked for).

Every metric is a count in the namespace below with the `service` dimension, but for
`UPSTREAM_LATENCY` (milliseconds) and the per-credential counts (`PER_CREDENTIAL`), which carry a
`Credential` dimension (`<region>/<credential>`) instead: one series, and one alarm row, per
credential. `UpstreamErrors` and `DependencyFaults` are also counted per kind (`by_kind`).
"""

from __future__ import annotations

from enum import StrEnum

NAMESPACE = "VccTokenVending"  # the functions' POWERTOOLS_METRICS_NAMESPACE
SERVICE = "vcc-token-vending"  # their POWERTOOLS_SERVICE_NAME: the `service` dimension


class Metric(StrEnum):
    # the vending function. Requests, and where each one's token came from, are not metrics: the
    # ledger line of every request says so (`source`), and the dashboard counts them from it
    # (a Logs Insights widget), so a cached answer emits no metric line at all
    UPSTREAM_FETCHES = "UpstreamFetches"
    UPSTREAM_LATENCY = "UpstreamLatency"
    FALLBACK_ANSWERS = "FallbackAnswers"  # a valid token short of what was asked
    BACKOFF_ANSWERS = "BackoffAnswers"  # the key's failure memory answered
    # what went wrong, and what kept going
    UPSTREAM_ERRORS = "UpstreamErrors"
    DEPENDENCY_FAULTS = "DependencyFaults"
    LEASE_WAITS = "LeaseWaits"
    UNCACHED_TOKENS = "UncachedTokens"
    CACHE_DECRYPT_FAILURES = "CacheDecryptFailures"
    ENTITLEMENTS_STALE = "EntitlementsStale"
    # renewal before expiry
    RENEW_AHEAD_FAILURES = "RenewAheadFailures"
    RENEWALS_HANDED_OVER = "RenewalsHandedOver"
    SCHEDULED_RUNS = "ScheduledRuns"
    SCHEDULER_RENEWALS = "SchedulerRenewals"
    RENEWAL_EVENTS_REFUSED = "RenewalEventsRefused"
    # per credential
    CREDENTIAL_REJECTIONS = "CredentialRejections"
    PREVIOUS_SECRET_USED = "PreviousSecretUsed"
    ROTATIONS_REFUSED = "RotationsRefused"
    RENEWAL_FAILURES = "RenewalFailures"


PER_CREDENTIAL = frozenset(
    {
        Metric.CREDENTIAL_REJECTIONS,
        Metric.PREVIOUS_SECRET_USED,
        Metric.ROTATIONS_REFUSED,
        Metric.RENEWAL_FAILURES,
    }
)


# What a healthy deployment emits every month: tokens fetched and their latency, the schedule's
# runs and renewals, renewals handed over and lease waits. Every other metric (faults, fallbacks,
# backoff, rejections, rotations refused, renewal failures, every per-credential count) is only
# emitted, and only billed (EMF makes a series on its first datapoint), in a month it happens.
ROUTINE = frozenset(
    {
        Metric.UPSTREAM_FETCHES,
        Metric.UPSTREAM_LATENCY,
        Metric.SCHEDULED_RUNS,
        Metric.SCHEDULER_RENEWALS,
        Metric.RENEWALS_HANDED_OVER,
        Metric.LEASE_WAITS,
    }
)


def by_kind(metric: Metric, kind: str) -> str:
    """The count of one kind of `metric`: `UpstreamErrors_timeout`, `DependencyFaults_KMS`."""
    return f"{metric}_{kind.replace(' ', '')}"
