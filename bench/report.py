"""`make bench`'s picture and cost table, from the bench's own counts.

The cost table prices one million served tokens from what the bench measured: the mix of
sources (memory, DynamoDB, VCC) and the AWS calls of the strategy run, the handler's time per
source, and the bytes each request logs; at the AWS list prices below, with their date.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcc_tokens.aws.clients import aws_session

PRICES_AS_OF = (
    "AWS list prices, us-east-1, as published in November 2024 (DynamoDB on-demand after its "
    "November 2024 reduction); check the pricing pages for your region and date"
)
API_GATEWAY_REST_PER_MILLION = 3.50  # REST API requests, first 333 million a month
LAMBDA_REQUESTS_PER_MILLION = 0.20
LAMBDA_ARM64_PER_GB_SECOND = 0.0000133334
DYNAMODB_WRITE_UNIT_PER_MILLION = 0.625  # on-demand write request units
DYNAMODB_READ_UNIT_PER_MILLION = 0.125  # on-demand read request units
KMS_PER_MILLION_REQUESTS = 3.00  # $0.03 per 10,000 requests
SECRETS_MANAGER_PER_MILLION_CALLS = 5.00  # $0.05 per 10,000 API calls
CLOUDWATCH_LOGS_PER_GB_INGESTED = 0.50
XRAY_PER_MILLION_TRACES = 5.00  # traces recorded
# Not measured here: Lambda's START/END/REPORT lines and API Gateway's access log line per request
PLATFORM_LOG_BYTES = 300 + 400


@dataclass
class AwsCalls:
    """Every AWS call made by the code under measurement, by (service, operation)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def of(self, service: str, *operations: str) -> int:
        return sum(self.counts[(service, operation)] for operation in operations)


@contextmanager
def counting_aws_calls() -> Iterator[AwsCalls]:
    """Counts the calls of every client the service makes meanwhile (from its one botocore
    session, vcc_tokens.aws.clients.aws_session): the bench's own calls are not counted."""
    calls = AwsCalls()

    def count(**kwargs: Any) -> None:
        model = kwargs["model"]
        calls.counts[(model.service_model.service_name, model.name)] += 1

    session = aws_session()
    session.register("before-call", count)
    try:
        yield calls
    finally:
        session.unregister("before-call", count)


@dataclass(frozen=True)
class Measured:
    served: int  # tokens served during the strategy run
    sources: Counter[str]  # how many of them came from memory, DynamoDB, VCC
    calls: AwsCalls
    handler_ms: dict[str, float]  # mean handler time per source
    log_bytes: float  # the service's log and metric lines per served token
    item_kb: float  # a cache item's size
    memory_mb: int = 512


def cost_rows(measured: Measured) -> list[tuple[str, str, float]]:
    """(item, how it is counted, dollars per million served tokens)."""
    return [*_request_rows(measured), *_call_rows(measured)]


Row = tuple[str, str, float]


def _request_rows(measured: Measured) -> list[Row]:
    """What every request costs: API Gateway, the invocation and its duration."""
    mix = {source: count / measured.served for source, count in measured.sources.items()}
    mean_ms = sum(share * measured.handler_ms[source] for source, share in mix.items())
    gb_seconds = 1_000_000 * (measured.memory_mb / 1024) * (math.ceil(mean_ms) / 1000)
    share = ", ".join(f"{source} {100 * value:.0f}%" for source, value in sorted(mix.items()))
    return [
        ("API Gateway REST", "1 request per token", API_GATEWAY_REST_PER_MILLION),
        ("Lambda requests", "1 invocation per token", LAMBDA_REQUESTS_PER_MILLION),
        (
            f"Lambda arm64 duration, {measured.memory_mb} MB",
            f"{math.ceil(mean_ms)} ms billed per token (mean over {share})",
            gb_seconds * LAMBDA_ARM64_PER_GB_SECOND,
        ),
    ]


def _call_rows(measured: Measured) -> list[Row]:
    """What the AWS calls and the log lines counted in the run cost, per million tokens."""
    per_token = 1 / measured.served
    calls = measured.calls
    reads = calls.of("dynamodb", "GetItem", "Scan") * per_token
    writes = calls.of("dynamodb", "UpdateItem", "PutItem", "DeleteItem") * per_token
    write_units = math.ceil(measured.item_kb)
    kms = calls.of("kms", "Decrypt", "GenerateDataKey") * per_token
    secrets = calls.of("secretsmanager", "GetSecretValue") * per_token
    log_gb = 1_000_000 * (measured.log_bytes + PLATFORM_LOG_BYTES) / 1e9
    return [
        (
            "DynamoDB on-demand reads",
            f"{reads:.3f} reads per token, 1 read unit each",
            reads * DYNAMODB_READ_UNIT_PER_MILLION,
        ),
        (
            "DynamoDB on-demand writes",
            f"{writes:.3f} writes per token, {write_units} write "
            f"unit{'s' if write_units > 1 else ''} each ({measured.item_kb:.1f} KB items)",
            writes * write_units * DYNAMODB_WRITE_UNIT_PER_MILLION,
        ),
        ("KMS", f"{kms:.4f} requests per token", kms * KMS_PER_MILLION_REQUESTS),
        (
            "Secrets Manager",
            f"{secrets:.4f} reads per token",
            secrets * SECRETS_MANAGER_PER_MILLION_CALLS,
        ),
        (
            "CloudWatch Logs ingestion",
            f"{measured.log_bytes:.0f} B logged per token + ~{PLATFORM_LOG_BYTES} B of Lambda "
            "and API Gateway access lines",
            log_gb * CLOUDWATCH_LOGS_PER_GB_INGESTED,
        ),
    ]


def print_costs(measured: Measured, tracing: list[tuple[str, float]]) -> float:
    """The per-million table, one X-Ray row per tracing choice ((name, share of requests
    traced)); returns the total without X-Ray."""
    rows = cost_rows(measured)
    print(f"\n(h) cost per million served tokens ({PRICES_AS_OF})")
    print("| item | counted from this run | $ per million tokens |\n|---|---|---:|")
    for item, basis, dollars in rows:
        print(f"| {item} | {basis} | {dollars:.3f} |")
    total = sum(dollars for _, _, dollars in rows)
    print(f"| **total, tracing off** | | **{total:.2f}** |")
    for name, share in tracing[1:]:
        traces = f"{share:g} traces per token"
        print(f"| X-Ray, tracing {name} | {traces} | +{share * XRAY_PER_MILLION_TRACES:.3f} |")
    return total


@dataclass(frozen=True)
class Storm:
    """(f): callers' answers and VCC's requests over time while VCC answers 429."""

    answers: list[tuple[float, float, int]]  # (seconds since start, latency ms, status)
    vcc_requests: list[tuple[float, int]]  # (seconds since start, requests so far)


def draw(
    path: Path,
    grants: dict[str, list[tuple[float, int]]],
    latency: dict[str, list[float]],
    storm: Storm,
) -> None:
    """The bench's picture: grants per strategy over a lifetime, latency by source, a storm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4.8))
    for strategy, points in grants.items():
        left.step([t / 60 for t, _ in points], [n for _, n in points], where="post", label=strategy)
    left.set(
        title="VCC token requests over one token lifetime",
        xlabel="minutes",
        ylabel="token requests so far",
        yscale="symlog",
    )
    left.legend(fontsize=8)
    names = list(latency)
    middle.boxplot([latency[name] for name in names], showfliers=False)
    middle.set_xticks(range(1, len(names) + 1), [n.replace(" ", "\n", 1) for n in names])
    middle.set(title="answer latency by source", ylabel="milliseconds", yscale="log")
    _draw_storm(right, storm)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)


def _draw_storm(axis: Any, storm: Storm) -> None:
    """Callers' answers over time (by status), and VCC's requests so far on a second axis."""
    colors = {200: "tab:green", 503: "tab:orange"}
    for status in sorted({status for _, _, status in storm.answers}):
        answered = [(at, ms) for at, ms, code in storm.answers if code == status]
        axis.scatter(
            [at for at, _ in answered],
            [ms for _, ms in answered],
            s=6,
            color=colors.get(status, "tab:red"),
            label=f"callers: {status}",
        )
    axis.set(title="VCC answers 429 (Retry-After 7 s) twice", xlabel="seconds", ylabel="ms")
    axis.set_yscale("log")
    requests_axis = axis.twinx()
    requests_axis.step(
        [t for t, _ in storm.vcc_requests],
        [n for _, n in storm.vcc_requests],
        where="post",
        color="black",
        label="VCC requests so far",
    )
    requests_axis.set_ylabel("VCC requests so far")
    handles = axis.get_legend_handles_labels()
    extra = requests_axis.get_legend_handles_labels()
    axis.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize=8, loc="center right")
