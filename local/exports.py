"""The shell lines `make run` prints when it is ready: what the README's examples and the
runbook read (the stack's URLs, a demo caller's keys, its names)."""

from __future__ import annotations

from typing import Any

from local.inputs import ENTITLEMENTS_PARAMETER, SECRET_PREFIX, TABLE
from local.lambda_runtime import LOCAL_REFRESHER
from local.stack import LOCAL_AWS_ENV, LOCAL_STACK_NAME

DEMO_CALLER = "LOCALORDERSSERVICE01"  # orders-service in local/callers.json: the examples' caller


def export_block(
    service_url: str,
    aws_endpoint: str,
    emulator_url: str | None,
    dead_letters_url: str,
    callers: dict[str, Any],
) -> str:
    """The shell lines that set what the README's examples and the runbook use, for the ports
    this stack runs on: printed when it is ready, pasted into another shell."""
    names = exported(service_url, aws_endpoint, emulator_url, dead_letters_url, callers)
    return "\n".join(f"export {name}={value}" for name, value in names.items())


def exported(
    service_url: str,
    aws_endpoint: str,
    emulator_url: str | None,
    dead_letters_url: str,
    callers: dict[str, Any],
) -> dict[str, str]:
    """What export_block sets, by name."""
    caller = callers.get(DEMO_CALLER) or next(iter(callers.values()))
    names = {
        "VCC_TOKEN_SERVICE_URL": service_url,
        **({"VCC_EMULATOR_URL": emulator_url} if emulator_url else {}),
        "LOCAL_AWS_ENDPOINT": aws_endpoint,
        "AWS_ACCESS_KEY_ID": caller.access_key_id,
        "AWS_SECRET_ACCESS_KEY": caller.secret_access_key,
        "AWS_DEFAULT_REGION": LOCAL_AWS_ENV["AWS_REGION"],
        "LOCAL_STACK": LOCAL_STACK_NAME,
        "LOCAL_TABLE": TABLE,
        "LOCAL_SECRET_PREFIX": SECRET_PREFIX,
        "LOCAL_ENTITLEMENTS_PARAMETER": ENTITLEMENTS_PARAMETER,
        "LOCAL_REFRESHER": LOCAL_REFRESHER,
        "LOCAL_DEAD_LETTERS": dead_letters_url,
    }
    return names
