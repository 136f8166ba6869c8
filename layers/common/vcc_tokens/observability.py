"""The one place logger and metrics are created; every module imports them from here.

Service name, metrics namespace and log level come from the POWERTOOLS_* environment variables
that template.yaml sets once in Globals.

Tracing is Lambda's own (the template's Tracing parameter): with Tracing=Active, Lambda and API
Gateway record each sampled invocation without any SDK in the function, so no tracer is created
here and no X-Ray SDK ships in the layer (docs/design-tracing.md: the X-Ray SDKs reach end of
support on 2027-02-25; the measured costs of the other paths). A trace therefore holds what
Lambda and API Gateway record (timings, status), never a token or a secret.
"""

import logging

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from vcc_token_contract.metrics import Metric

logger = Logger()
metrics = Metrics()


def count_for_credential(name: Metric, region: str, credential: str) -> None:
    """One count of `name` with the credential as a dimension (a series, and an alarm row, per
    credential), flushed at once."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="Credential", value=f"{region}/{credential}")


# At DEBUG, botocore logs whole response bodies (GetSecretValue included) and urllib3 logs
# requests; keep them quiet whatever level the Lambda runtime gives the root logger.
for _library in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_library).setLevel(logging.WARNING)

__all__ = ["MetricUnit", "count_for_credential", "logger", "metrics"]
