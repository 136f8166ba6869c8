"""(g) What the one INFO line per served token costs: bytes logged, and memory-hit latency with
the line and with logging above INFO."""

from __future__ import annotations

import contextlib
import io
import logging
import os
from typing import Any

from bench.common import ask, percentile, timed, vend_event
from vcc_tokens.observability import logger


def logging_cost(handler: Any) -> tuple[float, dict[str, list[float]]]:
    """The bytes a served token logs at INFO (its one line, and the metrics' EMF line), and
    memory-hit latency with that line and with logging above INFO, batches alternated."""
    event = vend_event()
    ask(handler, event)  # in memory from now on
    sink = io.StringIO()
    previous = logger.registered_handler.setStream(sink)  # type: ignore[attr-defined]
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"
    logger.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(sink):
            for _ in range(200):
                ask(handler, event)
        bytes_per_token = len(sink.getvalue().encode()) / 200
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
        samples: dict[str, list[float]] = {"INFO": [], "WARNING": []}
        for _ in range(10):
            for level, batch in samples.items():
                logger.setLevel(level)
                with contextlib.redirect_stdout(io.StringIO()):
                    batch += timed(lambda: ask(handler, event), 200)
                sink.seek(0)
                sink.truncate()
    finally:
        logger.setLevel(logging.CRITICAL)
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]
    return bytes_per_token, samples


def print_logging(bytes_per_token: float, samples: dict[str, list[float]]) -> None:
    with_line, without = (percentile(samples[level], 0.5) for level in ("INFO", "WARNING"))
    print("\n(g) logging: one INFO line per served token")
    print("| memory hit, p50 ms, INFO (one line) | above INFO (none) | ratio | bytes per token |")
    print("|---:|---:|---:|---:|")
    print(
        f"| {with_line:.3f} | {without:.3f} | {with_line / without:.2f} | {bytes_per_token:.0f} |"
    )
