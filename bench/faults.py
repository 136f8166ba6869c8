"""(d) AWS faults: with a fault-injecting proxy (local/aws_faults.py) between the function and
moto, what callers get (status, Retry-After, time) and how many requests reach VCC."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.common import SCOPE, ask, forget, vend_event
from local.aws_faults import WRITES, AwsFaultProxy, Fault
from local.vcc_emulator import VccEmulator
from vcc_tokens import wiring
from vcc_tokens.values.tokens import CachedToken

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

REQUESTS = 5
# Every request reads AWS: nothing is fresh in memory (a token held is still a fallback)
QUICK = ("ENTITLEMENTS_MAX_AGE", "SECRET_MAX_AGE", "MEMORY_CACHE_SECONDS")


def aws_faults(
    emulator: VccEmulator, handler: Any, dynamodb: Any, endpoint: str
) -> list[tuple[object, ...]]:
    """Each scenario on a fresh key state, REQUESTS requests, each on a fresh instance unless
    the scenario is about what an instance holds."""
    rows: list[tuple[object, ...]] = []
    with fault_proxy(endpoint) as proxy:
        for name, faults, state in FAULT_SCENARIOS:
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            prepare(state, handler, dynamodb)
            os.environ["AWS_ENDPOINT_URL"] = proxy.endpoint
            if state != "held":
                wiring.reset()
            emulator.reset()
            proxy.inject(*faults)
            fresh = state == "cold" and "instances" in name
            statuses, retry_after, slowest = requests_under_fault(handler, fresh)
            proxy.clear()
            summary = ", ".join(f"{statuses.count(s)} x {s}" for s in sorted(set(statuses)))
            waits = "/".join(sorted(retry_after))
            rows.append((name, REQUESTS, summary, waits, round(slowest), emulator.token_requests))
    return rows


@contextmanager
def fault_proxy(endpoint: str) -> Iterator[AwsFaultProxy]:
    proxy = AwsFaultProxy(endpoint).start()
    os.environ.update(dict.fromkeys(QUICK, "0"))
    try:
        yield proxy
    finally:
        proxy.stop()
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        for name in QUICK:
            os.environ.pop(name)
        wiring.reset()


def prepare(state: str, handler: Any, dynamodb: Any) -> None:
    """The key's state before: cold, held (in this instance's memory), cached, due."""
    wiring.reset()
    forget(dynamodb)
    if state == "due":
        now = int(time.time())
        due = CachedToken("emea", SCOPE, "due-token", "Bearer", now - 760, now + 140)
        wiring.token_vendor().table.put(due)
    elif state != "cold":
        ask(handler, vend_event())


def requests_under_fault(handler: Any, fresh: bool) -> tuple[list[int], set[str], float]:
    """(statuses, Retry-After values, slowest ms) of REQUESTS requests, each on a fresh
    instance if `fresh`."""
    event = vend_event()
    statuses, retry_after, slowest = [], set(), 0.0
    for _ in range(REQUESTS):
        if fresh:
            wiring.reset()
        started = time.perf_counter()
        answer = ask(handler, event)
        slowest = max(slowest, (time.perf_counter() - started) * 1000)
        statuses.append(int(answer["statusCode"]))
        headers = {**answer.get("multiValueHeaders", {}), **answer.get("headers", {})}
        retry_after.add(str(headers.get("Retry-After", "-")).strip("[]'"))
    return statuses, retry_after, slowest


def print_faults(rows: list[tuple[object, ...]]) -> None:
    print("\n(d) AWS faults between the function and its AWS services (moto behind a proxy)")
    print("| fault | requests | statuses | Retry-After | slowest, ms | VCC requests |")
    print("|---|---:|---|---|---:|---:|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
