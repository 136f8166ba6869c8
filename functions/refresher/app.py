"""Scheduled refresher: renews every cached token that is inside its renewal margin, or will be
before the next run, so that callers almost never wait for VCC. Also renews one key when the
vending function hands it over ({"renew": {"region", "scope", "lease_owner"}}, invoked
asynchronously: vcc_tokens.aws.handover), and proves and promotes a credential's pending secret when
`vcc-token admin rotate` asks ({"rotate": {"region", "credential"[, "scope"]}}, invoked
synchronously: vcc_tokens.rotation). Keys nobody asked for within
RENEW_IDLE_SECONDS are left to expire. Renewals go through the same lease as the vending
function, so the two never fetch the same key at once.

Invoked asynchronously by an EventBridge schedule rule. Faults are per key and per credential:
one key's failed renewal, or one credential's unusable pending secret, is logged, counted for
that credential (`RenewalFailures`, whose alarm names it) and listed in the run's summary, and
the run goes on. The run fails, so that Lambda retries it (twice) and then sends the event to
the dead-letter queue, only when something outside one key fails (the table cannot be scanned).
The schedule's own retry policy and dead-letter queue cover failures to deliver the event.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from vcc_token_contract.events import RENEW, RENEWAL_SUMMARY, ROTATE
from vcc_token_contract.metrics import Metric
from vcc_tokens.aws.handover import parse_renewal
from vcc_tokens.observability import MetricUnit, flushes_metrics, logger, metrics
from vcc_tokens.rotation import parse_rotation
from vcc_tokens.values.config import get_settings
from vcc_tokens.values.errors import InvalidRequest, VendError
from vcc_tokens.wiring import refresher_vendor, rotation


@logger.inject_lambda_context(clear_state=True)
@flushes_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if ROTATE in event:  # an operator's rotation: the answer goes back to them
        return rotate(event[ROTATE])
    if RENEW in event:  # one key, handed over by the vending function
        try:
            key, lease_owner = parse_renewal(event[RENEW], get_settings())
        except InvalidRequest as refused:
            logger.warning("renewal event refused", extra={"reason": refused.message})
            metrics.add_metric(name=Metric.RENEWAL_EVENTS_REFUSED, unit=MetricUnit.Count, value=1)
            return {"renewed": False, "refused": refused.code}  # not retried: it cannot pass
        renewed = refresher_vendor().renew_handed_over(key, lease_owner)
        logger.info("background renewal finished", extra={"renewed": renewed})
        return {"renewed": renewed}  # a failure is remembered and counted; no retry wanted
    metrics.add_metric(name=Metric.SCHEDULED_RUNS, unit=MetricUnit.Count, value=1)
    rotations = rotation().promote_everywhere()  # first: renewals then use a promoted secret
    report = refresher_vendor().renew_due()
    summary: dict[str, Any] = {
        "renewed": report.renewed,
        "fresh": report.fresh,
        "idle": report.idle,
        "unreadable": report.unreadable,
        "orphaned": report.orphaned,
        "failed": report.failed,
    }
    if rotations:
        summary["rotations"] = rotations
    logger.info(RENEWAL_SUMMARY, extra=summary)
    return summary


def rotate(payload: object) -> dict[str, Any]:
    try:
        request = parse_rotation(payload, get_settings())
        result = rotation().promote_pending(request)
    except VendError as refused:  # a bad event, or AWS or the secret failing: say which
        logger.warning("rotation refused", extra={"error": refused.code})
        return {"rotated": False, "reason": f"{refused.code}: {refused.message}"}
    logger.info("rotation finished", extra={"rotated": result.rotated})
    return result.answer()
