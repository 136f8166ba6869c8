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
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.logging.formatter import (
    RESERVED_LOG_ATTRS,
    THREAD_LOCAL_KEYS,
    LambdaPowertoolsFormatter,
)
from aws_lambda_powertools.metrics import MetricUnit

from vcc_token_contract.metrics import Metric

RECORD_ATTRIBUTES = frozenset(RESERVED_LOG_ATTRS)  # Powertools' list is a tuple, scanned per key
JSON_LIKE = frozenset({"true", "false", "null", "NaN", "Infinity"})


class LineFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON line, the same keys in the same order (a test compares them), built in
    one pass for the lines this service writes: a plain-text message, the appended keys and the
    extras. Anything else (arguments, an exception, thread-local keys, a message that could be
    JSON) is built by Powertools itself. On a memory hit, Powertools' general formatter cost
    about a sixth of the request."""

    def __init__(self) -> None:
        super().__init__()
        # Powertools' serializer, with its encoder made once rather than once per line
        self.json_serializer = json.JSONEncoder(
            default=self.json_default,
            separators=(",", ":"),
            indent=self.json_indent,
            ensure_ascii=False,
        ).encode
        self._second: int | None = None
        self._around_msecs = ("", "")
        self._base: dict[str, Any] | None = None

    def keep_base(self) -> None:
        """What every line starts from (level, message, timestamp, service): kept once the
        Logger has set it, for `begin`."""
        self._base = dict(self.log_format)

    def begin(self, **keys: Any) -> None:
        """A request's lines from now on: the base and `keys`, nothing a previous request
        appended. What Logger.clear_state and append_keys do, in one step."""
        if self._base is None:
            raise RuntimeError("keep_base() first")
        self.log_format = {**self._base, **keys}

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """Powertools' default timestamp (2021-05-03 10:20:19,650+0200), its date and zone
        worked out once a second."""
        if datefmt or self.datefmt or self.use_rfc3339_iso8601:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            moment = self.converter(record.created)
            self._around_msecs = (
                time.strftime("%Y-%m-%d %H:%M:%S,", moment),
                time.strftime("%z", moment),
            )
            self._second = second
        before, after = self._around_msecs
        return f"{before}{int(record.msecs):03d}{after}"

    def format(self, record: logging.LogRecord) -> str:
        message = record.msg
        plain = isinstance(message, str) and message[:1].isalpha() and message not in JSON_LIKE
        if not plain or record.args or record.exc_info or THREAD_LOCAL_KEYS.get():
            return super().format(record)
        fields = _RecordFields(record, self)
        line: dict[str, Any] = {}
        for key, value in self.log_format.items():
            if value and key in RECORD_ATTRIBUTES:
                line[key] = value % fields  # "%(levelname)s", "%(asctime)s"
            else:
                line[key] = value
        line["message"] = message
        for key, value in record.__dict__.items():
            if key not in RECORD_ATTRIBUTES:
                line[key] = value
        trace = os.environ.get("_X_AMZN_TRACE_ID")
        line["xray_trace_id"] = trace.split(";")[0].replace("Root=", "") if trace else None
        return self.serialize({key: value for key, value in line.items() if value is not None})


class _RecordFields:
    """A record's attributes for "%(name)s" formats, `asctime` formatted only when asked."""

    def __init__(self, record: logging.LogRecord, formatter: logging.Formatter) -> None:
        self._record, self._formatter = record, formatter

    def __getitem__(self, name: str) -> object:
        if name == "asctime":
            return self._formatter.formatTime(self._record)
        return getattr(self._record, name)


# Where a line was written, by which thread and process: none of it is on this service's lines,
# and the logging module's documented switches spare every record working it out (a frame walk)
logging._srcfile = None
logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # Python 3.12's; typeshed lacks it

# No `location` ("lambda_handler:214"): each message says where it comes from, and on the served
# token's line, the ledger, it was 32 of every ~550 bytes logged per token
lines = LineFormatter()
logger = Logger(location=None, logger_formatter=lines)
lines.keep_base()
metrics = Metrics()


def count_for_credential(name: Metric, region: str, credential: str) -> None:
    """One count of `name` with the credential as a dimension (a series, and an alarm row, per
    credential), flushed at once."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="Credential", value=f"{region}/{credential}")


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def flushes_metrics(handler: Handler) -> Handler:
    """Powertools' `log_metrics`, but an invocation that counted nothing prints nothing and
    warns of nothing: a cached answer counts nothing by design (its ledger line does), and
    Powertools would raise and filter a warning on each one."""

    @functools.wraps(handler)
    def flushed(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return handler(event, context)
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()

    return flushed


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
            lines.begin(
                function_request_id=getattr(context, "aws_request_id", None),
                correlation_id=request.get("requestId"),
                **{caller: (request.get("identity") or {}).get("userArn")},
            )
            return handler(event, context)

        return with_ids

    return wrap


# At DEBUG, botocore logs whole response bodies (GetSecretValue included) and urllib3 logs
# requests; keep them quiet whatever level the Lambda runtime gives the root logger.
for _library in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_library).setLevel(logging.WARNING)

__all__ = [
    "MetricUnit", "count_for_credential", "flushes_metrics", "logger", "metrics", "request_ids",
]  # fmt: skip
