"""(b) p50/p99 latency of a vend through the handler, served from memory, from DynamoDB, after
a miss, and of a direct upstream fetch; and a cached token's item size (for (h))."""

from __future__ import annotations

import os
from typing import Any

from bench.common import (
    DIRECT_BUDGET,
    KEY,
    SCOPE,
    TABLE,
    ask,
    demo_credentials,
    direct_endpoint,
    forget,
    percentile,
    timed,
    vend_event,
)
from vcc_tokens import wiring
from vcc_tokens.values.config import Settings

BARE_GET_ITEM = "bare GetItem of the same item (boto3)"


def latencies(handler: Any, dynamodb: Any) -> dict[str, list[float]]:
    """Milliseconds per vend through the handler, by where the token came from."""
    event = vend_event()

    def vend() -> None:
        status = ask(handler, event)["statusCode"]
        if status != 200:
            raise RuntimeError(f"vend answered {status}")

    def miss() -> None:
        forget(dynamodb)
        wiring.token_vendor().memory.clear()

    vend()
    results = {"vend from memory": timed(vend, 2000)}
    os.environ["MEMORY_CACHE_SECONDS"] = "0"
    wiring.reset()
    vend()
    results["vend from DynamoDB"], results[BARE_GET_ITEM] = [], []
    key = {"cache_key": {"S": KEY.cache_key}}
    for _ in range(10):  # alternated batches: the floor of a DynamoDB hit, on the same server
        results["vend from DynamoDB"] += timed(vend, 30)
        results[BARE_GET_ITEM] += timed(lambda: dynamodb.get_item(TableName=TABLE, Key=key), 30)
    results["vend after a miss"] = timed(vend, 40, before=miss)
    os.environ.pop("MEMORY_CACHE_SECONDS")
    wiring.reset()
    endpoint = direct_endpoint(Settings.from_env(os.environ))
    credentials = demo_credentials()
    results["direct upstream fetch"] = timed(
        lambda: endpoint.fetch("emea", SCOPE, credentials, DIRECT_BUDGET), 40
    )
    return results


def item_kb(dynamodb: Any) -> float:
    """A cached token's item size, as DynamoDB counts it (attribute names and values)."""
    item = dynamodb.get_item(TableName=TABLE, Key={"cache_key": {"S": KEY.cache_key}})["Item"]
    size = 0
    for name, value in item.items():
        ((kind, content),) = value.items()
        size += len(name) + (len(content) if kind == "B" else len(str(content).encode()))
    return size / 1024


def print_latencies(by_source: dict[str, list[float]]) -> None:
    print("\n(b) latency per request, milliseconds")
    print("| served | n | p50 | p99 |\n|---|---:|---:|---:|")
    for source, samples in by_source.items():
        print(
            f"| {source} | {len(samples)} | {percentile(samples, 0.5):.2f} | "
            f"{percentile(samples, 0.99):.2f} |"
        )
    hit, floor = (
        percentile(by_source[name], 0.5) for name in ("vend from DynamoDB", BARE_GET_ITEM)
    )
    print(f"a DynamoDB hit, p50, is {hit / floor:.2f}x a bare GetItem of the same item")
