"""The one place logger, tracer and metrics are created; every module imports them from here.

Service name, metrics namespace and log level come from the POWERTOOLS_* environment variables
that template.yaml sets once in Globals.

Tracing: Lambda's active tracing (`Tracing: Active`) records every invocation without any SDK in
the function. X-Ray subsegments for the handler, the routes and the AWS and VCC calls need the
X-Ray SDK, whose import costs about 150 ms of every cold start; so Powertools' Tracer (and with
it the SDK) is created only when XRAY_SUBSEGMENTS=true. Otherwise its decorators do nothing.
"""

import logging
import os
from collections.abc import Callable
from functools import cached_property
from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

type _Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class OptionalTracer:
    """The Tracer decorators this service uses, active only when subsegments are asked for."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @cached_property
    def _tracer(self) -> Any:
        from aws_lambda_powertools import Tracer  # imports the X-Ray SDK

        return Tracer()

    def capture_lambda_handler(self, *, capture_response: bool) -> _Decorator:
        if not self.enabled:
            return _unchanged
        decorator: _Decorator = self._tracer.capture_lambda_handler(
            capture_response=capture_response
        )
        return decorator

    def capture_method(self, *, capture_response: bool) -> _Decorator:
        if not self.enabled:
            return _unchanged
        decorator: _Decorator = self._tracer.capture_method(capture_response=capture_response)
        return decorator


def _unchanged(function: Callable[..., Any]) -> Callable[..., Any]:
    return function


logger = Logger()
tracer = OptionalTracer(os.environ.get("XRAY_SUBSEGMENTS", "").lower() == "true")
metrics = Metrics()


def count_for_credential(name: str, region: str, credential: str) -> None:
    """One count of `name` with the credential as a dimension (a series, and an alarm row, per
    credential), flushed at once."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="Credential", value=f"{region}/{credential}")


# At DEBUG, botocore logs whole response bodies (GetSecretValue included) and urllib3 logs
# requests; keep them quiet whatever level the Lambda runtime gives the root logger.
for _library in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_library).setLevel(logging.WARNING)

__all__ = ["MetricUnit", "count_for_credential", "logger", "metrics", "tracer"]
