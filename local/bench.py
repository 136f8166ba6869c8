"""`make bench`: what the service saves and costs, measured in one run on the local stack.

moto server stands in for AWS and the VCC emulator answers after BENCH_UPSTREAM_LATENCY seconds
(default 0.15, like a real token endpoint across a region). Prints one table:

(a) upstream token requests for N callers x M requests spread over one simulated token lifetime:
    this service (several Lambda instances, the scheduled refresher on) versus each caller caching
    its own token in process (golang.org/x/oauth2's rule: reuse until 10 s before expiry) versus
    fetching on every call;
(b) p50/p99 latency of a vend through the handler, served from memory, from DynamoDB, after a
    miss, and of a direct upstream fetch;
(c) cold start: importing each function module, and the vend function's first cached answer, in
    fresh processes alternated with a bare `import boto3` (medians of 9 rounds, as ratios), with
    peak memory (max RSS) and the built layer's unzipped size;
(d) AWS faults: with a fault-injecting proxy (local/aws_faults.py) between the function and
    moto, what callers get (status, Retry-After, time) and how many requests reach VCC;
(e) untrusted inputs against their bounds; (f) a 429 storm over time; (g) what the one INFO line
    per token costs; (h) the cost of a million served tokens (local/bench_report.py).
Writes docs/bench.png: (a) over time, (b) as distributions, and (f)'s timeline.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import run  # nosec B404
from typing import Any

import boto3

from local.aws_faults import WRITES, AwsFaultProxy, Fault
from local.bench_costs import print_monthly, tracing_choices
from local.bench_report import AwsCalls, Measured, Storm, counting_aws_calls, draw, print_costs
from local.lambda_runtime import LambdaContext, load_function
from local.odd_upstream import OddUpstream
from local.stack import (
    ROOT,
    LocalDeployment,
    function_environment,
    start_moto_server,
    stop_server,
)
from local.vcc_emulator import DEMO_CLIENTS, VccEmulator

# Powertools reads its settings when vcc_tokens is imported: the template's, quieter.
os.environ.update(
    {
        **function_environment(),
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",  # (d) makes the service log every fault
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
)

from vcc_tokens import wiring
from vcc_tokens.cache import MAX_TOKEN_BYTES
from vcc_tokens.config import Settings
from vcc_tokens.credentials import ClientCredentials
from vcc_tokens.errors import VendError
from vcc_tokens.observability import logger
from vcc_tokens.renewal import Renewer
from vcc_tokens.token_request import TokenRequest
from vcc_tokens.tokens import CachedToken, Key
from vcc_tokens.upstream import VccTokenEndpoint
from vcc_tokens.vending import TokenVendor

PICTURE = ROOT / "docs" / "bench.png"
TABLE = "vcc-tokens-bench"
PREFIX = "vcc/bench/"
SCOPE = "agents-availability:read"
STORM_SCOPE = "users:read"  # removed after (f): (e) asks for it again
LIFETIME = 900
CALLERS, REQUESTS_EACH, INSTANCES = 20, 30, 5
GO_OAUTH2_EXPIRY_DELTA = 10  # golang.org/x/oauth2 treats a token as expired 10 s early

COLD_START_CHILD = """
import time, sys, json
started = time.perf_counter()
if sys.argv[1] == "boto3":
    import boto3
    imported = served = time.perf_counter()
else:
    from local.lambda_runtime import LambdaContext, load_function
    handler = load_function(sys.argv[1]).lambda_handler
    imported = served = time.perf_counter()
    if sys.argv[1] == "vend":
        event = json.load(open("events/get_token_emea_agents_availability.json"))
        assert handler(event, LambdaContext("cold"))["statusCode"] == 200
        served = time.perf_counter()
# VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across fork and exec
status = open("/proc/self/status").read().splitlines()
peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
modules = sorted(
    m for m in sys.modules if m.split(".")[0] in ("aws_xray_sdk", "opentelemetry", "requests")
)
print(json.dumps({"import_ms": (imported - started) * 1000, "first_ms": (served - started) * 1000,
                  "max_rss_mb": peak_kb / 1024, "loaded": modules[:3]}))
"""
COLD_START_KINDS = ("boto3", "vend", "refresher")
COLD_START_ROUNDS = 9


def direct_endpoint(settings: Settings) -> VccTokenEndpoint:
    """VCC's token endpoint as a caller without this service would use it."""
    return VccTokenEndpoint(
        settings.token_url,
        connect_timeout=3,
        read_timeout=5,
        fallback_expires_in=LIFETIME,
        max_token_bytes=MAX_TOKEN_BYTES,
    )


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed(
    action: Callable[[], Any], repeat: int, before: Callable[[], Any] = lambda: None
) -> list[float]:
    samples = []
    for _ in range(repeat):
        before()
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


@dataclass
class StrategyRun:
    """(a)'s counts, each strategy's requests over time, and what this service's run used."""

    requests: dict[str, int] = field(default_factory=dict)
    timelines: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    sources: Counter[str] = field(default_factory=Counter)
    calls: AwsCalls = field(default_factory=AwsCalls)


def upstream_requests(emulator: VccEmulator) -> StrategyRun:
    """(a): token requests reaching VCC under three strategies, same callers, same schedule."""
    rng = random.Random(7)  # a repeatable schedule  # noqa: S311  # nosec B311
    start = time.time()
    schedule = sorted(
        (start + rng.uniform(0, LIFETIME), caller)
        for caller in range(CALLERS)
        for _ in range(REQUESTS_EACH)
    )
    run = StrategyRun()
    results = run.requests

    # This service: callers spread over INSTANCES Lambda instances, the refresher every 5 min
    emulator.reset()
    now = [start]
    settings = Settings.from_env(os.environ)
    service_line = run.timelines.setdefault("this service", [(0.0, 0)])
    with counting_aws_calls() as calls:
        instances = [wiring.build_vendor(settings, lambda: now[0]) for _ in range(INSTANCES)]
        refresher = wiring.build_vendor(settings, lambda: now[0])
        next_run = start + settings.refresh_rate_seconds
        for when, caller in schedule:
            while next_run <= when:
                now[0] = next_run
                refresher.renew_due()
                next_run += settings.refresh_rate_seconds
            now[0] = when
            vend = instances[caller % INSTANCES].vend(TokenRequest("emea", SCOPE, 60))
            run.sources[vend.source.value] += 1
            service_line.append((when - start, emulator.token_requests))
    run.calls = calls
    results["this service"] = emulator.token_requests

    # Each caller caches its own token in process, as golang.org/x/oauth2 does
    emulator.reset()
    endpoint = direct_endpoint(settings)
    client = DEMO_CLIENTS[0]
    credentials = ClientCredentials(client.client_id, client.client_secret)
    expiry: dict[int, float] = {}
    own_line = run.timelines.setdefault("each caller caches its own", [(0.0, 0)])
    for when, caller in schedule:
        if expiry.get(caller, 0) - GO_OAUTH2_EXPIRY_DELTA <= when:
            expiry[caller] = when + endpoint.fetch("emea", SCOPE, credentials).expires_in
        own_line.append((when - start, emulator.token_requests))
    results["each caller caches its own"] = emulator.token_requests
    run.timelines["fetch on every call"] = [
        (when - start, number) for number, (when, _) in enumerate(schedule, start=1)
    ]

    # Fetching on every call (callers in parallel threads, so the run stays short)
    emulator.reset()

    def caller_fetches(count: int) -> None:
        for _ in range(count):
            endpoint.fetch("emea", SCOPE, credentials)

    threads = [
        threading.Thread(target=caller_fetches, args=(REQUESTS_EACH,)) for _ in range(CALLERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results["fetch on every call"] = emulator.token_requests
    return run


FAULT_SCENARIOS: list[tuple[str, tuple[Fault, ...], str]] = [
    # (what, faults, the key's state before: cold, held (in this instance's memory), cached, due)
    ("DynamoDB throttled, key not in memory", (Fault("dynamodb", "throttle"),), "cold"),
    ("DynamoDB 10 s slower", (Fault("dynamodb", "delay", seconds=10),), "cold"),
    ("DynamoDB refused, valid token held", (Fault("dynamodb", "refuse"),), "held"),
    (
        "KMS GenerateDataKey throttled, cold key, 5 instances",
        (Fault("kms", "throttle", frozenset({"GenerateDataKey"})),),
        "cold",
    ),
    (
        "KMS Decrypt throttled, cached key",
        (Fault("kms", "throttle", frozenset({"Decrypt"})),),
        "cached",
    ),
    (
        "DynamoDB writes refused, token due (140 s left)",
        (Fault("dynamodb", "refuse", WRITES),),
        "due",
    ),
    ("Secrets Manager throttled, nothing read yet", (Fault("secretsmanager", "throttle"),), "cold"),
    ("SSM throttled, rules read (grace 300 s)", (Fault("ssm", "throttle"),), "held"),
]


def aws_faults(
    emulator: VccEmulator, handler: Any, dynamodb: Any, endpoint: str
) -> list[tuple[object, ...]]:
    """(d): each scenario on a fresh key state, 5 requests, each on a fresh instance unless
    the scenario is about what an instance holds."""
    event = json.loads((ROOT / "events" / "get_token_emea_agents_availability.json").read_text())
    proxy = AwsFaultProxy(endpoint).start()
    # Every request reads AWS: nothing is fresh in memory (a token held is still a fallback)
    quick = ("ENTITLEMENTS_MAX_AGE", "SECRET_MAX_AGE", "MEMORY_CACHE_SECONDS")
    os.environ.update(dict.fromkeys(quick, "0"))
    rows: list[tuple[object, ...]] = []
    try:
        for name, faults, state in FAULT_SCENARIOS:
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            wiring.reset()
            dynamodb.delete_item(
                TableName=TABLE, Key={"cache_key": {"S": Key("emea", SCOPE).cache_key}}
            )
            if state == "due":
                now = int(time.time())
                due = CachedToken("emea", SCOPE, "due-token", "Bearer", now - 760, now + 140)
                wiring.token_vendor().cache.store(due)
            elif state != "cold":
                handler(event, LambdaContext("bench"))
            os.environ["AWS_ENDPOINT_URL"] = proxy.endpoint
            if state != "held":
                wiring.reset()
            emulator.reset()
            proxy.inject(*faults)
            statuses, retry_after, slowest = [], set(), 0.0
            for _ in range(5):
                if state == "cold" and "instances" in name:
                    wiring.reset()
                started = time.perf_counter()
                answer = handler(event, LambdaContext("bench"))
                slowest = max(slowest, (time.perf_counter() - started) * 1000)
                statuses.append(answer["statusCode"])
                headers = {**answer.get("multiValueHeaders", {}), **answer.get("headers", {})}
                retry_after.add(str(headers.get("Retry-After", "-")).strip("[]'"))
            proxy.clear()
            summary = ", ".join(f"{statuses.count(s)} x {s}" for s in sorted(set(statuses)))
            rows.append(
                (
                    name,
                    5,
                    summary,
                    "/".join(sorted(retry_after)),
                    round(slowest),
                    emulator.token_requests,
                )
            )
    finally:
        proxy.stop()
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        for name in quick:
            os.environ.pop(name)
        wiring.reset()
    return rows


def latencies(emulator: VccEmulator, handler: Any, dynamodb: Any) -> dict[str, list[float]]:
    """(b): milliseconds per vend through the handler, by where the token came from."""
    event = json.loads((ROOT / "events" / "get_token_emea_agents_availability.json").read_text())

    def vend() -> None:
        status = handler(event, LambdaContext("bench"))["statusCode"]
        if status != 200:
            raise RuntimeError(f"vend answered {status}")

    def forget() -> None:
        dynamodb.delete_item(
            TableName=TABLE, Key={"cache_key": {"S": Key("emea", SCOPE).cache_key}}
        )
        wiring.token_vendor().memory.clear()

    vend()
    results = {"vend from memory": timed(vend, 2000)}
    os.environ["MEMORY_CACHE_SECONDS"] = "0"
    wiring.reset()
    vend()
    results["vend from DynamoDB"] = timed(vend, 300)
    results["vend after a miss"] = timed(vend, 40, before=forget)
    os.environ.pop("MEMORY_CACHE_SECONDS")
    wiring.reset()
    settings = Settings.from_env(os.environ)
    endpoint = direct_endpoint(settings)
    client = DEMO_CLIENTS[0]
    credentials = ClientCredentials(client.client_id, client.client_secret)
    results["direct upstream fetch"] = timed(lambda: endpoint.fetch("emea", SCOPE, credentials), 40)
    return results


def logging_cost(handler: Any) -> tuple[float, dict[str, list[float]]]:
    """The bytes a served token logs at INFO (its one line, and the metrics' EMF line), and
    memory-hit latency with that line and with logging above INFO, batches alternated."""
    event = json.loads((ROOT / "events" / "get_token_emea_agents_availability.json").read_text())
    handler(event, LambdaContext("bench"))  # in memory from now on
    sink = io.StringIO()
    previous = logger.registered_handler.setStream(sink)  # type: ignore[attr-defined]
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"
    logger.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(sink):
            for _ in range(200):
                handler(event, LambdaContext("bench"))
        bytes_per_token = len(sink.getvalue().encode()) / 200
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
        samples: dict[str, list[float]] = {"INFO": [], "WARNING": []}
        for _ in range(10):
            for level, batch in samples.items():
                logger.setLevel(level)
                with contextlib.redirect_stdout(io.StringIO()):
                    batch += timed(lambda: handler(event, LambdaContext("bench")), 200)
                sink.seek(0)
                sink.truncate()
    finally:
        logger.setLevel(logging.CRITICAL)
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]
    return bytes_per_token, samples


def storm(emulator: VccEmulator, seconds: float = 30.0, callers: int = 3) -> Storm:
    """(f): callers ask every 100 ms for a key nobody holds while VCC answers 429 with
    Retry-After 7 s twice, then grants: what callers get, and what VCC sees, over time. Each
    refusal keeps everyone off VCC for its Retry-After plus the clock-skew tolerance (5 s)."""
    settings = Settings.from_env(os.environ)
    vendors = [wiring.build_vendor(settings) for _ in range(callers)]
    request = TokenRequest("emea", STORM_SCOPE, 60)
    emulator.reset()
    emulator.fail_next("rate_limited", 2)
    answers: list[tuple[float, float, int]] = []
    vcc: list[tuple[float, int]] = [(0.0, 0)]
    started = time.monotonic()

    def ask(vendor: TokenVendor) -> None:
        while (at := time.monotonic() - started) < seconds:
            began = time.perf_counter()
            status = int(status_of(vendor, request))
            answers.append((at, (time.perf_counter() - began) * 1000, status))
            time.sleep(0.1)

    def watch() -> None:
        while (at := time.monotonic() - started) < seconds:
            vcc.append((at, emulator.token_requests))
            time.sleep(0.05)

    threads = [threading.Thread(target=ask, args=(vendor,)) for vendor in vendors]
    threads.append(threading.Thread(target=watch))
    # The vendors run outside a handler, so nothing flushes their metrics but Powertools' own
    # flush at 100 values, which prints EMF whatever POWERTOOLS_METRICS_DISABLED says: kept
    # out of the report's tables.
    with contextlib.redirect_stdout(io.StringIO()):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 60)
    return Storm(sorted(answers), vcc)


def item_kb(dynamodb: Any) -> float:
    """A cached token's item size, as DynamoDB counts it (attribute names and values)."""
    item = dynamodb.get_item(
        TableName=TABLE, Key={"cache_key": {"S": Key("emea", SCOPE).cache_key}}
    )["Item"]
    size = 0
    for name, value in item.items():
        ((kind, content),) = value.items()
        size += len(name) + (len(content) if kind == "B" else len(str(content).encode()))
    return size / 1024


def fresh_process(command: list[str], env: dict[str, str]) -> str:
    """Run this interpreter on our own script; its standard output."""
    done = run(command, cwd=ROOT, env=env, capture_output=True, check=True, text=True)  # noqa: S603  # nosec B603
    return done.stdout


def cold_starts(rounds: int = COLD_START_ROUNDS) -> dict[str, dict[str, Any]]:
    """(c): medians over fresh interpreters, the kinds alternated in every round."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"}
    samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in COLD_START_KINDS}
    for _ in range(rounds):
        for kind in COLD_START_KINDS:
            command = [sys.executable, "-c", COLD_START_CHILD, kind]  # our own code, fresh
            samples[kind].append(json.loads(fresh_process(command, env)))
    return {
        kind: {
            **{
                name: statistics.median(sample[name] for sample in runs)
                for name in ("import_ms", "first_ms", "max_rss_mb")
            },
            "loaded": runs[0]["loaded"],
        }
        for kind, runs in samples.items()
    }


def layer_size() -> dict[str, float]:
    """The layer as `sam build` makes it (from the lock, for arm64), unzipped: MB in all and
    MB of the AWS SDK (what taking the runtime's own boto3 would save)."""
    with tempfile.TemporaryDirectory() as out:
        fresh_process(
            [
                "make",
                "-s",
                "-C",
                "layers/common",
                "build-CommonLayer",
                f"ARTIFACTS_DIR={out}",
                f"PYTHON={sys.executable}",
            ],
            dict(os.environ),
        )
        root = Path(out) / "python"
        sizes = {
            entry.name: sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
            for entry in root.iterdir()
        }
    sdk = sum(size for name, size in sizes.items() if name.split("-")[0] in SDK_PACKAGES)
    return {"total_mb": sum(sizes.values()) / 1e6, "sdk_mb": sdk / 1e6}


SDK_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath")


class CapturingRenewer(Renewer):
    """Keeps the renewal event a vending instance hands over, for the bench to deliver."""

    def __init__(self) -> None:
        self.leases: list[tuple[str, str, str]] = []

    def request(self, region: str, scope: str, lease_owner: str) -> None:
        self.leases.append((region, scope, lease_owner))


def status_of(vendor: TokenVendor, request: TokenRequest) -> str:
    """The HTTP status the request would be answered with."""
    try:
        vendor.vend(request)
    except VendError as error:
        return str(error.status)
    return "200"


def untrusted_inputs(emulator: VccEmulator) -> list[tuple[object, ...]]:
    """(e): VCC answers and events the service must bound: grants against the bound."""
    odd = OddUpstream()
    rows: list[tuple[object, ...]] = []
    try:
        env = {**os.environ, "VCC_TOKEN_URL_TEMPLATE": odd.token_url_template}
        settings = Settings.from_env(env)
        cases = [
            ("body dripped a byte per 50 ms after the headers", "users:read", 0.05, 0.0, 900),
            ("status line and headers dripped a byte per 200 ms", "admin:read", 0.0, 0.2, 900),
            ("expires_in: 1", "stats", 0.0, 0.0, 1),
        ]
        for what, scope, drip, header_drip, lifetime in cases:
            odd.reset()
            odd.answer(access_token="eyJ" + "a" * 2000, token_type="Bearer", expires_in=lifetime)
            odd.drip_seconds, odd.header_drip_seconds = drip, header_drip
            request = TokenRequest("emea", scope, 60)
            started = time.monotonic()
            statuses = [
                status_of(vendor, request)
                for vendor in (wiring.build_vendor(settings) for _ in range(3))
                for _ in range(2)
            ]
            took = f"{time.monotonic() - started:.1f} s"
            rows.append((what, len(statuses), counted(statuses), odd.requests, "1", took))
    finally:
        odd.stop()
    rows.append(duplicate_renewal_event(emulator))
    return rows


def duplicate_renewal_event(emulator: VccEmulator) -> tuple[object, ...]:
    """One renewal event delivered twice at once to two refresher instances."""
    settings = Settings.from_env(os.environ)
    vending = wiring.build_vendor(settings)
    renewer = CapturingRenewer()
    vending.renewer = renewer
    now = int(time.time())
    scope = "interaction-content:read"
    vending.cache.store(CachedToken("emea", scope, "due-token", "Bearer", now - 760, now + 140))
    emulator.reset()
    started = time.monotonic()
    vending.vend(TokenRequest("emea", scope, 60))
    ((region, _, owner),) = renewer.leases
    refreshers = [wiring.build_vendor(settings) for _ in range(2)]
    barrier = threading.Barrier(2)
    renewed: list[bool] = []

    def deliver(refresher: TokenVendor) -> None:
        barrier.wait(timeout=30)
        renewed.append(refresher.renew_held(Key(region, scope), owner))

    threads = [threading.Thread(target=deliver, args=(refresher,)) for refresher in refreshers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    took = f"{time.monotonic() - started:.1f} s"
    outcomes = counted(["renewed" if done else "skipped" for done in renewed])
    event = "the same renewal event delivered twice at once"
    return (event, 2, outcomes, emulator.token_requests, "1", took)


def counted(answers: list[str]) -> str:
    """`503 x5, 504` for a list of answers."""
    return ", ".join(
        f"{answer} x{answers.count(answer)}" if answers.count(answer) > 1 else answer
        for answer in sorted(set(answers))
    )


def main() -> None:
    # Disabled metrics still fill up and publish every 100 values (a Powertools quirk), after
    # which the handler's own flush finds nothing and warns: noise for a benchmark.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    latency = float(os.environ.get("BENCH_UPSTREAM_LATENCY", "0.15"))
    moto, endpoint = start_moto_server()
    emulator = VccEmulator(DEMO_CLIENTS, latency=latency).start()
    try:
        client = DEMO_CLIENTS[0]
        everything = {"principals": ["*"], "regions": ["*"], "scopes": ["*"]}
        deployment = LocalDeployment(
            table=TABLE,
            secret_prefix=PREFIX,
            entitlements_parameter="/vcc-bench/entitlements",
            entitlements={"version": 1, "rules": [everything]},
            client_id=client.client_id,
            client_secret=client.client_secret,
        )
        os.environ.update(
            {
                **deployment.seed(endpoint),
                "VCC_TOKEN_URL_TEMPLATE": emulator.token_url_template,
            }
        )
        dynamodb = boto3.client("dynamodb")

        strategies = upstream_requests(emulator)
        requests_by_strategy = strategies.requests
        handler = load_function("vend").lambda_handler
        with contextlib.redirect_stdout(io.StringIO()):  # the handler's EMF metric lines
            by_source = latencies(emulator, handler, dynamodb)
        log_bytes, with_and_without_line = logging_cost(handler)
        item_size = item_kb(dynamodb)
        storm_timeline = storm(emulator)
        dynamodb.delete_item(
            TableName=TABLE, Key={"cache_key": {"S": Key("emea", STORM_SCOPE).cache_key}}
        )
        faults = aws_faults(emulator, handler, dynamodb, endpoint)
        untrusted = untrusted_inputs(emulator)
        starts = cold_starts()
        layer = layer_size()
    finally:
        emulator.stop()
        stop_server(moto)

    total = CALLERS * REQUESTS_EACH
    print(
        f"\nmake bench: VCC emulator latency {latency * 1000:.0f} ms, moto server, Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} cores\n"
    )
    print(
        f"(a) upstream token requests: {CALLERS} callers x {REQUESTS_EACH} requests "
        f"({total}) over one {LIFETIME} s token lifetime"
    )
    print("| strategy | upstream requests |\n|---|---:|")
    for strategy, count in requests_by_strategy.items():
        print(f"| {strategy} | {count} |")
    print("\n(b) latency per request, milliseconds")
    print("| served | n | p50 | p99 |\n|---|---:|---:|---:|")
    for source, samples in by_source.items():
        print(
            f"| {source} | {len(samples)} | {percentile(samples, 0.5):.2f} | "
            f"{percentile(samples, 0.99):.2f} |"
        )
    print(
        f"\n(c) cold start in fresh processes (median of {COLD_START_ROUNDS} rounds, the kinds "
        "alternated); ratios against a bare `import boto3`"
    )
    print("| process | import, ms | ratio | first cached answer, ms | ratio | peak RSS, MB |")
    print("|---|---:|---:|---:|---:|---:|")
    bare = starts["boto3"]["import_ms"]
    for kind in COLD_START_KINDS:
        start = starts[kind]
        first = (
            f"{start['first_ms']:.0f} | {start['first_ms'] / bare:.2f}"
            if kind == "vend"
            else "- | -"
        )
        print(
            f"| {kind} | {start['import_ms']:.0f} | {start['import_ms'] / bare:.2f} | {first} | "
            f"{start['max_rss_mb']:.0f} |"
        )
    loaded = starts["vend"]["loaded"]
    print(f"tracing SDK or requests loaded by the first cached answer: {loaded or 'neither'}")
    print(
        "the tracing path (Lambda's own, docs/design-tracing.md) adds no import: the vend ratio "
        "above is the chosen path's cold start against a bare `import boto3`"
    )
    print(
        f"layer, unzipped: {layer['total_mb']:.1f} MB, of which the AWS SDK (boto3, botocore, "
        f"s3transfer, jmespath) {layer['sdk_mb']:.1f} MB"
    )
    print("\n(d) AWS faults between the function and its AWS services (moto behind a proxy)")
    print("| fault | requests | statuses | Retry-After | slowest, ms | VCC requests |")
    print("|---|---:|---|---|---:|---:|")
    for row in faults:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print(
        "\n(e) untrusted inputs: what VCC grants against the bound (3 instances, 2 requests each)"
    )
    print("| input | requests | answers | VCC grants | bound | took |")
    print("|---|---:|---|---:|---|---:|")
    for row in untrusted:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print_storm(storm_timeline)
    print_logging(log_bytes, with_and_without_line)
    mean = {name: statistics.fmean(samples) for name, samples in by_source.items()}
    choices = tracing_choices()
    per_million = print_costs(
        Measured(
            served=sum(strategies.sources.values()),
            sources=strategies.sources,
            calls=strategies.calls,
            handler_ms={
                "memory": mean["vend from memory"],
                "dynamodb": mean["vend from DynamoDB"],
                "upstream": mean["vend after a miss"],
                "lease_wait": mean["vend after a miss"],
            },
            log_bytes=log_bytes,
            item_kb=item_size,
        ),
        [(choice.name, choice.traced_share) for choice in choices],
    )
    print_monthly(per_million)
    served_by = {name: by_source[name] for name in list(by_source)[:3]}
    draw(PICTURE, strategies.timelines, served_by, storm_timeline)
    print(f"\npicture: {PICTURE.relative_to(ROOT)}")


def print_storm(timeline: Storm) -> None:
    statuses = Counter(status for _, _, status in timeline.answers)
    refused = [ms for _, ms, status in timeline.answers if status != 200]
    first_token = min((at for at, _, status in timeline.answers if status == 200), default=None)
    print("\n(f) a 429 storm: 3 callers every 100 ms, VCC answers 429 (Retry-After 7 s) twice")
    print("| callers' answers | refused answers p50 / p99, ms | first token at | VCC requests |")
    print("|---|---:|---:|---:|")
    answered = ", ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))
    slow = f"{percentile(refused, 0.5):.1f} / {percentile(refused, 0.99):.1f}" if refused else "-"
    when = f"{first_token:.1f} s" if first_token is not None else "never"
    print(f"| {answered} | {slow} | {when} | {timeline.vcc_requests[-1][1]} |")


def print_logging(bytes_per_token: float, samples: dict[str, list[float]]) -> None:
    with_line, without = (percentile(samples[level], 0.5) for level in ("INFO", "WARNING"))
    print("\n(g) logging: one INFO line per served token")
    print("| memory hit, p50 ms, INFO (one line) | above INFO (none) | ratio | bytes per token |")
    print("|---:|---:|---:|---:|")
    print(
        f"| {with_line:.3f} | {without:.3f} | {with_line / without:.2f} | {bytes_per_token:.0f} |"
    )


if __name__ == "__main__":
    main()
