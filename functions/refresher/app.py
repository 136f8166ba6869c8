"""Scheduled refresher: renews every cached token that is inside its refresh margin, or will be
before the next run, so that callers almost never wait for VCC. Also renews one key when the
vending function hands it over ({"renew": {"region", "scope", "lease_owner"}}, invoked
asynchronously: vcc_tokens.renewal). Keys nobody asked for within
REFRESH_IDLE_SECONDS are left to expire. Renewals go through the same lease as the vending
function, so the two never fetch the same key at once.

Invoked asynchronously by EventBridge Scheduler; a run with failed renewals raises, so Lambda
retries it (twice) and then sends the event to the dead-letter queue, whose alarm pages someone.
The schedule's own retry policy and dead-letter queue cover failures to deliver the event.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from vcc_tokens.errors import InvalidRequest
from vcc_tokens.observability import MetricUnit, logger, metrics, tracer
from vcc_tokens.renewal import RENEW_EVENT, parse_renewal
from vcc_tokens.wiring import token_vendor


class RenewalsFailed(Exception):
    """Some keys could not be renewed; their current tokens stay valid until they expire."""


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if RENEW_EVENT in event:  # one key, handed over by the vending function
        try:
            key, lease_owner = parse_renewal(event[RENEW_EVENT], token_vendor().settings)
        except InvalidRequest as refused:
            logger.warning("renewal event refused", extra={"reason": refused.message})
            metrics.add_metric(name="RenewalEventsRefused", unit=MetricUnit.Count, value=1)
            return {"renewed": False, "refused": refused.code}  # not retried: it cannot pass
        renewed = token_vendor().renew_held(key, lease_owner)
        logger.info("background renewal finished", extra={"renewed": renewed})
        return {"renewed": renewed}  # a failure is remembered and counted; no retry wanted
    report = token_vendor().renew_due()
    summary = {
        "renewed": report.renewed,
        "fresh": report.fresh,
        "idle": report.idle,
        "unreadable": report.unreadable,
        "failed": report.failed,
    }
    logger.info("scheduled renewal finished", extra=summary)
    if report.failed:
        raise RenewalsFailed(f"{len(report.failed)} renewals failed: {', '.join(report.failed)}")
    return summary
