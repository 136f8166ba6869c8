"""The one place logger and metrics are created; every module imports them from here.

Service name, metrics namespace and log level come from the POWERTOOLS_* environment variables
that template.yaml sets once in Globals.

Tracing is Lambda's own (the template's Tracing parameter): with Tracing=Active, Lambda and API
Gateway record each sampled invocation without any SDK in the function, so no tracer is created
here and no X-Ray SDK ships in the layer (docs/design-tracing.md: the X-Ray SDKs reach end of
support on 2027-02-25; the measured costs of the other paths). A trace therefore holds what
Lambda and API Gateway record (timings, status), never a token or a secret.
"""

import functools
import logging
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from vcc_token_contract.metrics import Metric

# No `location` ("lambda_handler:214"): each message says where it comes from, and on the served
# token's line, the ledger, it was 32 of every ~550 bytes logged per token
logger = Logger(location=None)
metrics = Metrics()


def count_for_credential(name: Metric, region: str, credential: str) -> None:
    """One count of `name` with the credential as a dimension (a series, and an alarm row, per
    credential), flushed at once."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="Credential", value=f"{region}/{credential}")


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def request_ids(caller: str) -> Callable[[Handler], Handler]:
    """For a function behind API Gateway whose INFO line per request is a ledger (the vend
    function's): each invocation starts from a clean state, and its lines carry the request's
    two ids, Lambda's (`function_request_id`) and API Gateway's (`correlation_id`), and the
    verified IAM caller (under the key `caller`), appended at once. Powertools'
    inject_lambda_context would add the function's name, ARN, memory size and cold start to every
    line: the same on every line of the function's log group, about 250 bytes a served token."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def with_ids(event: dict[str, Any], context: Any) -> dict[str, Any]:
            request = event.get("requestContext") or {}
            logger.clear_state()
            logger.append_keys(
                function_request_id=getattr(context, "aws_request_id", None),
                correlation_id=request.get("requestId"),
                **{caller: (request.get("identity") or {}).get("userArn")},
            )
            return handler(event, context)

        return with_ids

    return wrap


# A cached answer emits no metric by design (its ledger line counts it): Powertools would warn of
# that on every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

# At DEBUG, botocore logs whole response bodies (GetSecretValue included) and urllib3 logs
# requests; keep them quiet whatever level the Lambda runtime gives the root logger.
for _library in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_library).setLevel(logging.WARNING)

__all__ = ["MetricUnit", "count_for_credential", "logger", "metrics", "request_ids"]
