"""`make bench`: every scenario in order on one local stack, then the report (see __init__)."""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from bench.cold_start import cold_starts, layer_size, print_cold_starts
from bench.common import STORM_SCOPE, TABLE, bench_stack, forget
from bench.costs import print_monthly, tracing_choices
from bench.faults import aws_faults, print_faults
from bench.latency import item_kb, latencies, print_latencies
from bench.logging_cost import logging_cost, print_logging
from bench.report import Measured, Storm, draw, print_costs
from bench.storm import print_storm, storm
from bench.strategies import StrategyRun, print_strategies, upstream_requests
from bench.untrusted import print_untrusted, untrusted_inputs
from bench.writes import print_writes, writes_per_fetched_token
from local.lambda_runtime import load_function
from local.stack import ROOT
from vcc_tokens.values.tokens import Key

PICTURE = ROOT / "docs" / "bench.png"


@dataclass
class Results:
    strategies: StrategyRun
    by_source: dict[str, list[float]]
    log_bytes: float
    with_and_without_line: dict[str, list[float]]
    item_size: float
    storm: Storm
    faults: list[tuple[object, ...]]
    untrusted: list[tuple[object, ...]]
    writes: dict[str, float]
    starts: dict[str, dict[str, Any]]
    layer: dict[str, float]


def measure(latency: float) -> Results:
    with bench_stack(latency) as (emulator, endpoint):
        dynamodb = boto3.client("dynamodb")
        strategies = upstream_requests(emulator)
        handler = load_function("vend").lambda_handler
        with contextlib.redirect_stdout(io.StringIO()):  # the handler's EMF metric lines
            by_source = latencies(handler, dynamodb)
        log_bytes, with_and_without_line = logging_cost(handler)
        item_size = item_kb(dynamodb)
        storm_timeline = storm(emulator)
        forget(dynamodb, Key("emea", STORM_SCOPE))  # (e) asks for it again
        faults = aws_faults(emulator, handler, dynamodb, endpoint)
        untrusted = untrusted_inputs(emulator)
        writes = writes_per_fetched_token(emulator, dynamodb, TABLE)
        starts = cold_starts()  # the vend function's first answer needs the stack up
    return Results(
        strategies, by_source, log_bytes, with_and_without_line, item_size, storm_timeline,
        faults, untrusted, writes, starts, layer_size(),
    )  # fmt: skip


def report(results: Results, latency: float) -> None:
    print(
        f"\nmake bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: VCC emulator latency "
        f"{latency * 1000:.0f} ms, moto server, Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} cores\n"
    )
    print_strategies(results.strategies)
    print_latencies(results.by_source)
    print_cold_starts(results.starts, results.layer)
    print_faults(results.faults)
    print_untrusted(results.untrusted)
    print_storm(results.storm)
    print_logging(results.log_bytes, results.with_and_without_line)
    print_monthly(
        print_costs(measured(results), [(c.name, c.traced_share) for c in tracing_choices()]),
        results.log_bytes,
    )
    print_writes(results.writes)
    drawn = ("vend from memory", "vend from DynamoDB", "vend after a miss")
    served_by = {name: results.by_source[name] for name in drawn}
    draw(PICTURE, results.strategies.timelines, served_by, results.storm)
    print(f"\npicture: {PICTURE.relative_to(ROOT)}")


def measured(results: Results) -> Measured:
    """(h)'s inputs: what the strategy run served and called, and the handler's time per source."""
    mean = {name: statistics.fmean(samples) for name, samples in results.by_source.items()}
    return Measured(
        served=sum(results.strategies.sources.values()),
        sources=results.strategies.sources,
        calls=results.strategies.calls,
        handler_ms={
            "memory": mean["vend from memory"],
            "dynamodb": mean["vend from DynamoDB"],
            "upstream": mean["vend after a miss"],
            "lease_wait": mean["vend after a miss"],
        },
        log_bytes=results.log_bytes,
        item_kb=results.item_size,
    )


def main() -> None:
    # Disabled metrics still fill up and publish every 100 values (a Powertools quirk), after
    # which the handler's own flush finds nothing and warns: noise for a benchmark.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    latency = float(os.environ.get("BENCH_UPSTREAM_LATENCY", "0.15"))
    report(measure(latency), latency)


if __name__ == "__main__":
    main()
