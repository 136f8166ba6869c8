"""The functions' log lines, delivered to the local stack's CloudWatch Logs (moto) as Lambda
delivers them: each function's own group (the template's names, `/aws/lambda/<stack>/vend` and
`/refresher`), one stream per execution environment, the same JSON lines. So what reads logs in
AWS (`vcc-token admin smoke`'s look at the refresher's last run) reads them locally too.

Delivery is best effort, as Lambda's is for the function: a failed PutLogEvents never fails an
invocation (it is said once on stderr).
"""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

from vcc_token_contract.names import log_group

Handler = Callable[[dict[str, Any], Any], Any]


class LogDelivery(logging.Handler):
    def __init__(self, logs: Any, stack: str, formatter: logging.Formatter) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(formatter)
        self._logs = logs
        self._stack = stack
        self._stream = f"local/{uuid.uuid4().hex}"  # one execution environment: this process
        self._current = threading.local()
        self._failed_once = False

    def group(self, function: str) -> str:
        return log_group(self._stack, function)

    def create(self, functions: list[str]) -> None:
        for function in functions:
            group = self.group(function)
            self._logs.create_log_group(logGroupName=group)
            self._logs.create_log_stream(logGroupName=group, logStreamName=self._stream)

    def delivering(self, function: str, handler: Handler) -> Handler:
        """`handler`, with the log lines of each invocation delivered to the function's group."""
        group = self.group(function)

        def invoke(event: dict[str, Any], context: Any) -> Any:
            records: list[dict[str, Any]] = []
            self._current.records = records
            try:
                return handler(event, context)
            finally:
                self._current.records = None
                self._put(group, records)

        return invoke

    def emit(self, record: logging.LogRecord) -> None:
        records = getattr(self._current, "records", None)
        if records is not None:
            records.append(
                {"timestamp": int(record.created * 1000), "message": self.format(record)}
            )

    def _put(self, group: str, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        try:
            self._logs.put_log_events(
                logGroupName=group, logStreamName=self._stream, logEvents=records
            )
        except Exception as failure:  # never the function's failure
            if not self._failed_once:
                self._failed_once = True
                print(f"log delivery to {group} failed: {failure}", file=sys.stderr, flush=True)
