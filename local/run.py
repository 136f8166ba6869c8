"""`make run`: one vend through the real handler against local servers, printed.

Starts moto in server mode (the AWS side) and the VCC emulator on loopback, creates the table
from template.yaml, seeds one secret per region, then sends the events/ GET event to the vend
function twice: the first answer comes from VCC, the second from the cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3

from local.stack import (
    LOCAL_AWS_ENV,
    REGIONS,
    ROOT,
    LambdaContext,
    create_table_from_template,
    function_environment,
    load_function,
    put_region_secret,
    start_moto_server,
)
from local.vcc_emulator import DEMO_CLIENTS, VccEmulator

TABLE = "vcc-tokens-local"
SECRET_PREFIX = "vcc/local/"
EVENT = ROOT / "events" / "get_token_emea_agents_availability.json"


def shown(body: dict[str, object]) -> dict[str, object]:
    """The answer as printed: the token shortened, as any output of this project does."""
    token = body.get("access_token")
    if isinstance(token, str):
        body = {**body, "access_token": f"{token[:10]}... ({len(token)} characters)"}
    return body


def main() -> None:
    moto, endpoint = start_moto_server()
    emulator = VccEmulator(DEMO_CLIENTS).start()
    try:
        os.environ.update(
            {
                **LOCAL_AWS_ENV,
                **function_environment(),
                "AWS_ENDPOINT_URL": endpoint,
                "TOKEN_TABLE_NAME": TABLE,
                "VCC_SECRET_PREFIX": SECRET_PREFIX,
                "VCC_TOKEN_URL_TEMPLATE": emulator.token_url_template,
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )
        create_table_from_template(boto3.client("dynamodb"), TABLE)
        secretsmanager = boto3.client("secretsmanager")
        client = DEMO_CLIENTS[0]
        for region in REGIONS:
            put_region_secret(
                secretsmanager, SECRET_PREFIX + region, client.client_id, client.client_secret, None
            )
        print(f"moto server (AWS) at {endpoint}; VCC emulator at {emulator.base_url}")
        handler = load_function("vend").lambda_handler
        event = json.loads(Path(EVENT).read_text(encoding="utf-8"))
        for attempt in ("first", "second"):
            result = handler(event, LambdaContext(f"local-{attempt}"))
            body = json.loads(result["body"])
            print(f"\n{attempt} GET {event['path']} -> {result['statusCode']}")
            print(json.dumps(shown(body), indent=2))
        print(
            f"\nVCC token requests served: {emulator.token_requests} (the second vend was cached)"
        )
    finally:
        emulator.stop()
        moto.stop()


if __name__ == "__main__":
    main()
