"""What every scenario of the bench shares: the local stack it runs on, the key it asks for,
and the small helpers to time and count."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from subprocess import run  # nosec B404
from typing import Any

from local.lambda_runtime import LambdaContext
from local.stack import ROOT, LocalDeployment, start_moto_server, stop_server
from local.vcc_emulator import DEMO_CLIENTS, VccEmulator
from vcc_tokens.aws.credentials import ClientCredentials
from vcc_tokens.aws.table import MAX_TOKEN_BYTES
from vcc_tokens.values.backoff import Retries
from vcc_tokens.values.config import Settings
from vcc_tokens.values.errors import VendError
from vcc_tokens.values.token_request import TokenRequest
from vcc_tokens.values.tokens import Key
from vcc_tokens.vcc.upstream import VccTokenEndpoint
from vcc_tokens.vending import TokenVendor

TABLE = "vcc-tokens-bench"

PREFIX = "vcc/bench/"

SCOPE = "agents-availability:read"

STORM_SCOPE = "users:read"  # removed after (f): (e) asks for it again

LIFETIME = 900

KEY = Key("emea", SCOPE)
EVENT = ROOT / "events" / "get_token_emea_agents_availability.json"


@contextmanager
def bench_stack(latency: float) -> Iterator[tuple[VccEmulator, str]]:
    """moto's server and the VCC emulator, seeded as a deployment whose rules allow everyone;
    (the emulator, moto's endpoint). The process's environment points the service at them."""
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
            {**deployment.seed(endpoint), "VCC_TOKEN_URL_TEMPLATE": emulator.token_url_template}
        )
        yield emulator, endpoint
    finally:
        emulator.stop()
        stop_server(moto)


def vend_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(EVENT.read_text())
    return event


def ask(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    """One request through the vending function's handler."""
    answer: dict[str, Any] = handler(event, LambdaContext("bench"))
    return answer


def forget(dynamodb: Any, key: Key = KEY) -> None:
    """Remove the key's item from the table."""
    dynamodb.delete_item(TableName=TABLE, Key={"cache_key": {"S": key.cache_key}})


def demo_credentials() -> ClientCredentials:
    client = DEMO_CLIENTS[0]
    return ClientCredentials(client.client_id, client.client_secret)


DIRECT_BUDGET = 8.0  # seconds a caller without the service gives one fetch, retries included


def direct_endpoint(settings: Settings) -> VccTokenEndpoint:
    """VCC's token endpoint as a caller without this service would use it."""
    return VccTokenEndpoint(
        settings.token_url,
        connect_timeout=3,
        read_timeout=5,
        fallback_expires_in=LIFETIME,
        max_token_bytes=MAX_TOKEN_BYTES,
        lifetimes=(settings.min_token_lifetime, settings.max_token_lifetime),
        retries=Retries(attempts=settings.upstream_max_attempts),
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


def status_of(vendor: TokenVendor, request: TokenRequest) -> str:
    """The HTTP status the request would be answered with."""
    try:
        vendor.vend(request)
    except VendError as error:
        return str(error.status)
    return "200"


def counted(answers: list[str]) -> str:
    """`503 x5, 504` for a list of answers."""
    return ", ".join(
        f"{answer} x{answers.count(answer)}" if answers.count(answer) > 1 else answer
        for answer in sorted(set(answers))
    )


def fresh_process(command: list[str], env: dict[str, str]) -> str:
    """Run this interpreter on our own script; its standard output."""
    done = run(command, cwd=ROOT, env=env, capture_output=True, check=True, text=True)  # noqa: S603  # nosec B603
    return done.stdout
