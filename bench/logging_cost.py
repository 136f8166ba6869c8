"""(g) What the one INFO line per served token costs: bytes logged, and memory-hit latency with
the line, with logging above INFO, and against a bare Powertools REST resolver that logs one INFO
line and answers a constant (the floor of a Lambda function behind API Gateway)."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.api_gateway import APIGatewayRestResolver
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from bench.common import ask, percentile, timed, vend_event
from vcc_token_contract.ledger import SERVED
from vcc_tokens.observability import lines, logger

BATCHES, BATCH = 10, 200
BARE = "bare resolver, INFO"
BEFORE = "INFO, Powertools' format"  # the same line, formatted as before LineFormatter


@contextlib.contextmanager
def kind_of(kind: str) -> Iterator[None]:
    """Logging as `kind` measures it: at INFO or above it, with the line formatted by
    LineFormatter or, for BEFORE, by Powertools' own format on the same keys."""
    logger.setLevel(logging.WARNING if kind == "WARNING" else logging.INFO)
    if kind == BEFORE:
        lines.format = functools.partial(LambdaPowertoolsFormatter.format, lines)  # type: ignore[method-assign]
    try:
        yield
    finally:
        vars(lines).pop("format", None)


def bare_handler(sink: io.StringIO) -> Any:
    """Powertools' own REST resolver, the same route, a constant answer and one INFO line, the
    way Powertools' docs write a handler (inject_lambda_context)."""
    bare_logger = Logger(service="bare", level="INFO", logger_handler=logging.StreamHandler(sink))
    app = APIGatewayRestResolver()

    @app.get("/tokens/<region>/<scope>")
    def constant(region: str, scope: str) -> dict[str, Any]:
        return {"access_token": "constant", "token_type": "Bearer", "region": region}

    @bare_logger.inject_lambda_context
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        answer = app.resolve(event, context)
        bare_logger.info(SERVED, extra={"status": answer["statusCode"]})
        return answer

    return handler


def logging_cost(handler: Any) -> tuple[float, dict[str, list[float]]]:
    """The bytes a served token logs at INFO (its one line, and any metric line), and
    memory-hit latency with that line, with logging above INFO, and of the bare resolver, the
    three alternated batch by batch."""
    event = vend_event()
    ask(handler, event)  # in memory from now on
    sink = io.StringIO()
    previous = logger.registered_handler.setStream(sink)  # type: ignore[attr-defined]
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"
    logger.setLevel(logging.INFO)
    bare = bare_handler(sink)
    try:
        with contextlib.redirect_stdout(sink):
            for _ in range(BATCH):
                ask(handler, event)
        bytes_per_token = len(sink.getvalue().encode()) / BATCH
        sink.seek(0)
        sink.truncate()
        samples: dict[str, list[float]] = {"INFO": [], "WARNING": [], BARE: [], BEFORE: []}
        for _ in range(BATCHES):
            for kind, batch in samples.items():
                served = bare if kind == BARE else handler
                with contextlib.redirect_stdout(sink), kind_of(kind):
                    batch += timed(lambda: ask(served, event), BATCH)  # noqa: B023
                logged, expected = sink.getvalue().count(SERVED), 0 if kind == "WARNING" else BATCH
                if logged != expected:  # a handler that does not log would look cheap
                    raise RuntimeError(f"{kind}: {logged} lines logged, {expected} expected")
                sink.seek(0)
                sink.truncate()
    finally:
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # as the rest of the bench runs
        logger.setLevel(logging.CRITICAL)
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]
    return bytes_per_token, samples


def print_logging(bytes_per_token: float, samples: dict[str, list[float]]) -> None:
    kinds = ("INFO", "WARNING", BARE, BEFORE)
    with_line, without, bare, before = (percentile(samples[k], 0.5) for k in kinds)
    print("\n(g) logging: one INFO line per served token; a memory hit against a bare resolver")
    print(
        "| memory hit, p50 ms, INFO (one line) | above INFO (none) | bare Powertools resolver, "
        "INFO | ratio to the bare resolver | the line formatted by Powertools (before) | "
        "bytes per token |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {with_line:.3f} | {without:.3f} | {bare:.3f} | {with_line / bare:.2f} | "
        f"{before:.3f} ({before / bare:.2f}x) | {bytes_per_token:.0f} |"
    )
