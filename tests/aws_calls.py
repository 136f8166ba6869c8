"""Every AWS call the service's code makes during the tests, for the offline IAM proof.

botocore's one entry point for API calls is wrapped (the call still goes to moto over HTTP):
each call is recorded with who made it, read from the call stack: the vending function's or the
refresher's handler (functions/<name>/app.py), or `vcc-token admin` (the operator). Calls made
by the tests themselves (creating tables, seeding secrets) have no such frame and are not
recorded: they stand for what CloudFormation and operators set up, not for the service.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.client import BaseClient

from iam.calls import AwsCall

ROOT = Path(__file__).resolve().parent.parent
ACTORS = {
    str(ROOT / "functions" / "vend" / "app.py"): "VendFunction",
    str(ROOT / "functions" / "refresher" / "app.py"): "RefreshFunction",
    str(ROOT / "client" / "vcc_token_client" / "admin" / "rules.py"): "Operator",
    str(ROOT / "client" / "vcc_token_client" / "admin" / "status.py"): "Operator",
    str(ROOT / "client" / "vcc_token_client" / "admin" / "smoke.py"): "Operator",
    str(ROOT / "client" / "vcc_token_client" / "admin" / "dead_letters.py"): "Operator",
    str(ROOT / "client" / "vcc_token_client" / "admin" / "ledger.py"): "Operator",
    str(ROOT / "client" / "vcc_token_client" / "admin" / "rotate.py"): "Rotator",
}
NAMING_PARAMETERS = (
    "TableName",
    "KeyId",
    "SecretId",
    "VersionStage",
    "Name",
    "FunctionName",
    "AlarmNames",
    "AlarmNamePrefix",
    "logGroupName",
    "QueueUrl",
)

RECORDED: set[AwsCall] = set()


def actor() -> str | None:
    frame = sys._getframe(2)
    while frame is not None:
        name = ACTORS.get(frame.f_code.co_filename)
        if name is not None:
            return name
        frame = frame.f_back  # type: ignore[assignment]
    return None


def recorded_call(client: BaseClient, operation: str, params: dict[str, Any]) -> AwsCall | None:
    who = actor()
    if who is None:
        return None
    names = [(k, _text(params[k])) for k in NAMING_PARAMETERS if k in params]
    names += [(f"EncryptionContext:{k}", v) for k, v in params.get("EncryptionContext", {}).items()]
    service = client.meta.service_model.signing_name
    return AwsCall(who, service, operation, tuple(names))


def _text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


@contextmanager
def recording() -> Iterator[set[AwsCall]]:
    original = BaseClient._make_api_call

    def make_api_call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        call = recorded_call(self, operation, params)
        if call is not None:
            RECORDED.add(call)
        return original(self, operation, params)

    BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
    try:
        yield RECORDED
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]
