"""(i) DynamoDB writes per token fetched from VCC: what a cold key costs the table (taking the
key's lease, storing the token, giving the lease back), counted on moto's server."""

from __future__ import annotations

import os
from typing import Any

from bench.report import counting_aws_calls
from local.vcc_emulator import DEMO_SCOPES, VccEmulator
from vcc_tokens import wiring
from vcc_tokens.values.config import Settings
from vcc_tokens.values.token_request import TokenRequest
from vcc_tokens.values.tokens import Key

WRITES = ("UpdateItem", "PutItem", "DeleteItem")


def writes_per_fetched_token(emulator: VccEmulator, dynamodb: Any, table: str) -> dict[str, float]:
    """Every scope the demo client has, in one region, asked for once, from an empty cache, by one
    instance: DynamoDB writes and reads per token VCC issued."""
    settings = Settings.from_env(os.environ)
    keys = [Key("nam", scope) for scope in sorted(DEMO_SCOPES)]
    for key in keys:
        dynamodb.delete_item(TableName=table, Key={"cache_key": {"S": key.cache_key}})
    emulator.reset()
    with counting_aws_calls() as calls:
        vendor = wiring.build_vendor(settings)
        for key in keys:
            vendor.vend(TokenRequest(key.region, key.scope, 60))
    fetched = emulator.token_requests
    return {
        "tokens": fetched,
        "writes": calls.of("dynamodb", *WRITES) / fetched,
        "reads": calls.of("dynamodb", "GetItem") / fetched,
    }


def print_writes(measured: dict[str, float]) -> None:
    print("\n(i) DynamoDB per token fetched from VCC (cold keys, one instance)")
    print("| tokens fetched | writes per token | reads per token |\n|---:|---:|---:|")
    print(f"| {measured['tokens']:.0f} | {measured['writes']:.2f} | {measured['reads']:.2f} |")
