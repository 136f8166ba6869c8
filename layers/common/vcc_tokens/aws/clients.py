"""The AWS side: one client configuration, one request deadline, one translation of faults.

Every AWS client (DynamoDB, KMS, Secrets Manager, SSM) gets explicit timeouts and botocore's
"standard" retry mode with few attempts, instead of the SDK's defaults (60 s timeouts; DynamoDB
retries 10 times), so one call ends within

    W = attempts x (connect + read) + backoff = 2 x (1 + 1) + at most 1 = 5 s   (the defaults)

and a request as a whole keeps to a deadline (`deadline_in`): no AWS call starts with less than
W left, lease waits end by it, and a VCC fetch gets at most what is left after room for storing
its token (2 W). So no request outlives REQUEST_BUDGET_SECONDS (18 s), inside the function's
25 s timeout (itself inside API Gateway's 29 s), and every caller gets a JSON answer. The
numbers are settings (vcc_tokens.values.config); a test reads template.yaml to check the timeout.

Faults become the service's errors here, once: throttling, 5xx, timeouts and connection errors
are DependencyUnavailable (503, Retry-After); anything else (access denied, a missing resource)
is DependencyError (500, for an operator). Messages name the service, the resource and AWS's
error code, never AWS's message text or a value; each fault is counted by service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, get_args

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from vcc_token_contract.metrics import Metric, by_kind
from vcc_tokens.observability import MetricUnit, logger, metrics
from vcc_tokens.values.errors import DependencyError, DependencyUnavailable

if TYPE_CHECKING:
    from vcc_tokens.values.config import Settings

# The AWS services the functions call, as calling() names them (a type, so no call names one
# that is not here); each fault is also counted as DependencyFaults_<service, spaces removed>
AwsService = Literal["DynamoDB", "KMS", "Lambda", "Secrets Manager", "SSM"]
SERVICES: tuple[AwsService, ...] = get_args(AwsService)
# The same services as botocore names their models: the layer ships these models and no other
# (layers/common/ship_models.py reads this line; a test derives the set from the code's clients)
BotocoreService = Literal["dynamodb", "kms", "lambda", "secretsmanager", "ssm"]
SHIPPED_MODELS: tuple[BotocoreService, ...] = get_args(BotocoreService)
RETRY_AFTER = 2  # what callers are told to wait after a transient AWS fault
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",  # KMS's request-rate throttling
        "InternalServerError",
        "InternalFailure",
        "InternalServiceError",
        "InternalServiceErrorException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSInternalException",
        "DependencyTimeoutException",
    }
)
# (monotonic deadline, the longest one AWS call can take) of the request being served
_deadline: ContextVar[tuple[float, float] | None] = ContextVar("vcc_deadline", default=None)


_session_lock = threading.Lock()


@lru_cache(maxsize=1)
def aws_session() -> botocore.session.Session:
    """This execution environment's one botocore session (boto3 adds nothing the service uses
    but import time: s3transfer and its multiprocessing, docs/bench.md (c))."""
    return botocore.session.get_session()


def aws_client(service: BotocoreService, config: Config) -> Any:
    """A client of `service` (AWS_ENDPOINT_URL and the region come from the environment, as
    for boto3). Made under a lock: a botocore session is not safe to share while it makes
    clients."""
    with _session_lock:
        return aws_session().create_client(service, config=config)


def client_config(settings: Settings) -> Config:
    return Config(
        connect_timeout=settings.aws_connect_timeout,
        read_timeout=settings.aws_read_timeout,
        # total_max_attempts counts the first attempt (max_attempts would count retries only)
        retries={"mode": "standard", "total_max_attempts": settings.aws_max_attempts},
    )


@contextmanager
def deadline_in(settings: Settings) -> Iterator[None]:
    """Everything inside belongs to one request that must end within the request budget."""
    token = _deadline.set((time.monotonic() + settings.request_budget, settings.aws_call_seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left() -> float:
    """Seconds left of the current request's deadline (infinite outside a request)."""
    current = _deadline.get()
    return float("inf") if current is None else current[0] - time.monotonic()


def time_left_after_calls(calls: int) -> float:
    """Seconds left once room is kept for `calls` AWS calls."""
    current = _deadline.get()
    return float("inf") if current is None else time_left() - calls * current[1]


@contextmanager
def calling(service: AwsService, resource: str) -> Iterator[None]:
    """One AWS call, its faults translated into our errors; refused if it might outlive the
    request's deadline."""
    if time_left_after_calls(1) < 0:
        raise _count(
            DependencyUnavailable(
                f"no time is left in this request to call {service} for {resource}",
                RETRY_AFTER,
                service=service,
                aws_code="RequestDeadline",
            )
        )
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise fault(service, resource, exc) from None


def fault(service: AwsService, resource: str, exc: BaseException) -> DependencyError:
    """The service's error for an AWS fault (counted and logged here, without AWS's text)."""
    operation = getattr(exc, "operation_name", None)  # a ClientError's: GetItem, Decrypt...
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        transient = code in _TRANSIENT_CODES or status >= 500
    else:
        code = type(exc).__name__
        transient = not isinstance(exc, NoCredentialsError | NoRegionError)
    error: DependencyError
    if transient:
        error = DependencyUnavailable(
            f"{service} is unavailable for {resource} ({code}); try again shortly",
            RETRY_AFTER,
            service=service,
            aws_code=code,
        )
    else:
        error = DependencyError(
            f"{service} refused the request for {resource} ({code}); an operator must fix it",
            service=service,
            aws_code=code,
        )
    return _count(error, operation)


def _count(error: DependencyError, operation: str | None = None) -> DependencyError:
    """Counted, and logged with the AWS service, operation and error code in fields of their
    own (the logger's `service` field stays the function's)."""
    metrics.add_metric(name=Metric.DEPENDENCY_FAULTS, unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name=by_kind(Metric.DEPENDENCY_FAULTS, error.service), unit=MetricUnit.Count, value=1
    )
    logger.warning(
        "AWS dependency fault",
        extra={
            "aws_service": error.service,
            "aws_operation": operation,
            "aws_error_code": error.aws_code,
            "error": error.code,
        },
    )
    return error
