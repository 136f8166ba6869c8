"""The one observability module: its lines are Powertools' lines, key for key, and an
invocation that counted nothing prints and warns of nothing."""

from __future__ import annotations

import io
import itertools
import json
import logging
import warnings
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from vcc_tokens.observability import LineFormatter, flushes_metrics, logger, metrics

LOGGERS = itertools.count()
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def both_lines(
    write: Any, keys: dict[str, Any], monkeypatch: pytest.MonkeyPatch, trace: str | None
) -> tuple[str, str]:
    """What Powertools' formatter and ours write for the same call, on loggers set up alike."""
    if trace:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", trace)
    else:
        monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    written = []
    for formatter in (LambdaPowertoolsFormatter(), LineFormatter()):
        sink = io.StringIO()
        handler = logging.StreamHandler(sink)
        handler.addFilter(at_one_moment)
        service = f"svc-{next(LOGGERS)}"  # a logging.Logger of its own (Powertools names it so)
        line_logger = Logger(
            service=service,
            level="INFO",  # whatever POWERTOOLS_LOG_LEVEL the session has
            location=None,
            logger_formatter=formatter,
            logger_handler=handler,
        )
        line_logger.append_keys(**keys)
        write(line_logger)
        written.append(sink.getvalue().replace(service, "svc"))
    return written[0], written[1]


def at_one_moment(record: logging.LogRecord) -> bool:
    """Both formatters' records written at the same moment, so only formatting differs."""
    record.created, record.msecs = 1_800_000_000.25, 250.0
    return True


def failing() -> None:
    raise ValueError("boom")


def with_exception(log: Logger) -> None:
    try:
        failing()
    except ValueError:
        log.exception("unexpected error")


CALLS = {
    "served": lambda log: log.info("request completed", extra={"status": 200, "none": None}),
    "warning": lambda log: log.warning("SSM unavailable", extra={"age_seconds": 12}),
    "non-ascii": lambda log: log.info("refusé", extra={"scope": "Ünïcode"}),
    "not serializable": lambda log: log.info("odd", extra={"value": {1, 2}.__class__}),
    "json message": lambda log: log.info('{"a": 1}'),
    "json word": lambda log: log.info("true"),
    "arguments": lambda log: log.info("%s requests", 3),
    "exception": with_exception,
}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("trace", [None, TRACE])
def test_our_line_is_powertools_line(
    call: str, trace: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = {"caller": "arn:aws:iam::123456789012:role/r", "region": "emea", "entitled": True}
    powertools, ours = both_lines(CALLS[call], keys, monkeypatch, trace)
    parsed = json.loads(ours)
    assert ours == powertools
    assert parsed["caller"] == keys["caller"]
    assert ("xray_trace_id" in parsed) is bool(trace)


def test_the_timestamp_is_powertools_across_seconds_and_milliseconds() -> None:
    ours, powertools = LineFormatter(), LambdaPowertoolsFormatter()
    for created in (1_800_000_000.0, 1_800_000_000.999, 1_800_000_001.0005, 1_800_003_600.25):
        record = logging.LogRecord("n", logging.INFO, __file__, 1, "m", None, None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.formatTime(record) == powertools.formatTime(record)


def test_a_request_begins_from_the_base_keys_only() -> None:
    formatter = LineFormatter()
    formatter.append_keys(service="svc")
    formatter.keep_base()
    formatter.append_keys(token_sha256="a" * 64, cache="hit")
    formatter.begin(correlation_id="c-1")
    assert formatter.log_format["service"] == "svc"
    assert formatter.log_format["correlation_id"] == "c-1"
    assert "token_sha256" not in formatter.log_format
    assert "cache" not in formatter.log_format


def test_an_invocation_without_metrics_prints_and_warns_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    quiet = flushes_metrics(lambda event, context: {"statusCode": 200})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert quiet({}, None) == {"statusCode": 200}
    assert capsys.readouterr().out == ""

    def counting(event: dict[str, Any], context: Any) -> dict[str, Any]:
        metrics.add_metric(name="UpstreamFetches", unit="Count", value=1)
        raise RuntimeError("after counting")

    with pytest.raises(RuntimeError):
        flushes_metrics(counting)({}, None)
    emitted = json.loads(capsys.readouterr().out)  # flushed even when the handler failed
    assert emitted["UpstreamFetches"] == [1.0]
    assert not metrics.metric_set


def test_records_skip_working_out_where_they_were_written() -> None:
    assert logging._srcfile is None  # no frame walk per line: no line shows a location
    assert not logging.logThreads
    assert not logging.logProcesses
    assert not logging.logMultiprocessing
    assert isinstance(logger.registered_formatter, LineFormatter)
