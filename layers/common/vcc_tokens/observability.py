"""The one place logger, tracer and metrics are created; every module imports them from here.

Service name, metrics namespace and log level come from the POWERTOOLS_* environment variables
that template.yaml sets once in Globals.
"""

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# At DEBUG, botocore logs whole response bodies (GetSecretValue included) and urllib3 logs
# requests; keep them quiet whatever level the Lambda runtime gives the root logger.
for _library in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_library).setLevel(logging.WARNING)

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]
