"""What to answer when something keeps us from a better token: one rule for every failure kind
(VCC failing or backing off, AWS faltering, another instance's fetch not arriving in time).

A valid token, though short of what was asked, is better than an error: the candidate with the
most time left is served (outcome `fallback`, counted); with none, the error. While a key backs
off after a failure, its callers get the error its failure memory holds at once (`backoff_answer`).
"""

from __future__ import annotations

from collections.abc import Iterable

from vcc_token_contract.metrics import Metric
from vcc_tokens.observability import MetricUnit, logger, metrics
from vcc_tokens.values.backoff import Failure
from vcc_tokens.values.errors import VendError
from vcc_tokens.values.tokens import CachedToken
from vcc_tokens.vending.outcome import CacheOutcome, Source, Vend


def best_valid(
    error: VendError,
    candidates: Iterable[tuple[CachedToken | None, Source]],
    now: float,
    skew: float = 0.0,
) -> Vend:
    """The candidate with the most time left, if it has more than `skew` left; else `error`
    is raised."""
    valid = [(t, s) for t, s in candidates if t is not None and t.seconds_left(now) > skew]
    if not valid:
        raise error
    token, source = max(valid, key=lambda candidate: candidate[0].expires_at)
    metrics.add_metric(name=Metric.FALLBACK_ANSWERS, unit=MetricUnit.Count, value=1)
    logger.warning(
        "serving a valid token short of what was asked",
        extra={"error": error.code, "seconds_left": token.seconds_left(now)},
    )
    return Vend(token, CacheOutcome.FALLBACK, source)


def backoff_answer(failure: Failure, now: float) -> VendError:
    """The answer the key's failure memory gives while it backs off (counted)."""
    metrics.add_metric(name=Metric.BACKOFF_ANSWERS, unit=MetricUnit.Count, value=1)
    return failure.error(now)
