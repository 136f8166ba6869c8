"""What the credential tests share: emea's read scopes from a supervisor's credential, the
sensitive ones from an admin's (the `routed` fixture), on moto over HTTP and the VCC emulator."""

from __future__ import annotations

import io
import json
import secrets
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from vcc_token_client.cli import main as vcc_token

from local.lambda_runtime import LambdaContext, load_function
from local.vcc_emulator import Client, VccEmulator
from tests.conftest import GUARDED_SECRETS, Service
from tests.support import load_event
from vcc_tokens import wiring

SUPERVISOR = Client(
    "emea-supervisor",
    "sup-" + secrets.token_urlsafe(24),
    frozenset({"users:read", "interaction-content:read"}),
)
ADMIN = Client(
    "emea-admin",
    "adm-" + secrets.token_urlsafe(24),
    frozenset({"users:write", "interaction-content:delete", "admin:write"}),
)
REISSUED = "reissued-" + secrets.token_urlsafe(24)  # VCC's new secret for ADMIN
WRONG = "not-the-reissued-" + secrets.token_urlsafe(24)
GUARDED_SECRETS.update(
    {
        "the supervisor's secret": SUPERVISOR.client_secret,
        "the admin's secret": ADMIN.client_secret,
        "the re-issued secret": REISSUED,
        "a wrong pending secret": WRONG,
    }
)
ROUTES = {
    "emea": {
        "supervisor": ["users:read", "interaction-content:read"],
        "admin": ["users:write", "interaction-content:delete"],
    }
}
REFRESHER = "vcc-token-vending-refresher"


def put_credential(service: Service, name: str, client: Client, scopes: list[str]) -> None:
    document = {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "scopes": scopes,
    }
    secret = f"{service.secret_prefix}emea/{name}"
    try:
        service.secretsmanager.create_secret(Name=secret, SecretString=json.dumps(document))
    except service.secretsmanager.exceptions.ResourceExistsException:
        service.secretsmanager.put_secret_value(SecretId=secret, SecretString=json.dumps(document))


def stage(service: Service, name: str, label: str) -> dict[str, Any]:
    answer = service.secretsmanager.get_secret_value(
        SecretId=f"{service.secret_prefix}emea/{name}", VersionStage=label
    )
    return json.loads(answer["SecretString"])  # type: ignore[no-any-return]


def client_of(emulator: VccEmulator, access_token: str) -> str:
    return emulator.issued[access_token].client_id


@pytest.fixture
def routed(
    service: Service,
    emulator: VccEmulator,
    lambda_functions: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Service]:
    """emea's read scopes from a supervisor's credential, the sensitive ones from an admin's;
    nam and apac keep their one default credential. The refresher answers Lambda's Invoke."""
    emulator.clients.update({client.client_id: client for client in (SUPERVISOR, ADMIN)})
    for name, scopes in ROUTES["emea"].items():
        put_credential(service, name, SUPERVISOR if name == "supervisor" else ADMIN, scopes)
    monkeypatch.setenv("VCC_CREDENTIALS", json.dumps(ROUTES))
    lambda_functions[REFRESHER] = load_function("refresher").lambda_handler
    wiring.reset()
    yield service
    for name in ROUTES["emea"]:
        service.secretsmanager.delete_secret(
            SecretId=f"{service.secret_prefix}emea/{name}", ForceDeleteWithoutRecovery=True
        )


def emitted(text: str, name: str) -> list[str]:
    """The Credential dimension of each `name` metric in the EMF lines of `text`."""
    lines = [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]
    return [line["Credential"] for line in lines if name in line]


def rotate(service: Service, stdin: str, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    command = ["admin", "rotate", "--region", "emea", "--credential", "admin"]
    command += ["--function", REFRESHER, "--secret-prefix", service.secret_prefix, *extra]
    return vcc_token(command)


def store_pending(service: Service, secret: str, document: dict[str, object]) -> None:
    """What an operator does with the AWS CLI instead of `admin rotate`."""
    service.secretsmanager.put_secret_value(
        SecretId=service.secret_prefix + secret,
        SecretString=json.dumps(document),
        VersionStages=["AWSPENDING"],
    )


def scheduled_run() -> dict[str, Any]:
    refresher = load_function("refresher").lambda_handler
    summary: dict[str, Any] = refresher(
        load_event("scheduled_renewal.json"), LambdaContext("scheduled")
    )
    return summary
