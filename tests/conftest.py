"""Fixtures: moto in server mode and the VCC emulator on loopback, a fresh table and fresh
secrets per test, and a guard that fails any test whose logs or output hold a secret."""

from __future__ import annotations

import io
import logging
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from local.lambda_runtime import load_function
from local.stack import (
    LOCAL_AWS_ENV,
    create_cache_key,
    create_table_from_template,
    function_environment,
    put_entitlements,
    put_region_secret,
    start_moto_server,
    stop_server,
)

# Powertools reads its settings when vcc_tokens.observability is imported: give it the
# template's Globals first, as Lambda would.
os.environ.update(function_environment())

from local.vcc_emulator import Client, VccEmulator
from tests.aws_calls import recording
from tests.support import GET_TOKEN_EVENT, OBSERVED_RESPONSES, load_event
from vcc_token_contract.names import DEFAULT_CREDENTIAL
from vcc_token_contract.vcc import SCOPES
from vcc_tokens import wiring
from vcc_tokens.aws.sealing import KmsEnvelopeCipher
from vcc_tokens.aws.table import DynamoDBTokenTable
from vcc_tokens.observability import logger, metrics
from vcc_tokens.values.tokens import CachedToken, Key

# One VCC client per region. emea lacks globalpci (to see invalid_scope); nam authenticates with
# HTTP Basic and has a secret full of characters that RFC 6749 §2.3.1 form-encodes.
GRANTED = frozenset(SCOPES) - {"globalpci"}
CLIENTS = {
    "emea": (Client("emea-client", "emea-" + secrets.token_urlsafe(24), GRANTED), None),
    "nam": (
        Client("nam client:1", "n@m:s3cret+/ " + secrets.token_urlsafe(24), GRANTED),
        "client_secret_basic",
    ),
    "apac": (
        Client("apac-client", "apac-" + secrets.token_urlsafe(24), GRANTED),
        "client_secret_post",
    ),
}
AUTHORIZATION_HEADER = load_event(GET_TOKEN_EVENT)["headers"]["Authorization"]
# Further secrets a test makes up (named credentials, re-issued secrets): guarded like CLIENTS'
GUARDED_SECRETS: dict[str, str] = {}
# The events' caller is the assumed role orders-service/orders-service; by default it may have
# every token (a rule for its role, which also exercises assumed-role matching).
TEST_CALLER_ROLE = "arn:aws:iam::210987654321:role/orders-service"
ALLOW_TEST_CALLER = {
    "version": 1,
    "rules": [{"principals": [TEST_CALLER_ROLE], "regions": ["*"], "scopes": ["*"]}],
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The offline IAM proof runs last: it judges every AWS call the suite made."""
    items.sort(key=lambda item: item.get_closest_marker("iam_proof") is not None)


@pytest.fixture(scope="session", autouse=True)
def aws_calls() -> Iterator[set[Any]]:
    """Every AWS call the service's code makes in this session (tests.aws_calls)."""
    with recording() as calls:
        yield calls


@pytest.fixture(scope="session")
def lambda_functions() -> dict[str, Any]:
    """Handlers the local Lambda Invoke API runs, by function name (local.stack)."""
    return {}


@pytest.fixture(scope="session")
def aws_endpoint(lambda_functions: dict[str, Any]) -> Iterator[str]:
    server, endpoint = start_moto_server(functions=lambda_functions)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**LOCAL_AWS_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        yield endpoint
    stop_server(server)


@pytest.fixture(scope="session")
def kms_key(aws_endpoint: str) -> str:
    """The customer-managed key the cache encrypts tokens under (one per test session)."""
    return create_cache_key(boto3.client("kms"))


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[VccEmulator]:
    with VccEmulator([client for client, _ in CLIENTS.values()]) as emulator:
        yield emulator


@pytest.fixture
def emulator(emulator_server: VccEmulator) -> VccEmulator:
    """The session's emulator, with its counters, failures and settings reset for this test
    (reset before, not after: the secrets guard still needs the tokens it issued)."""
    emulator_server.reset()
    emulator_server.clients = {client.client_id: client for client, _ in CLIENTS.values()}
    emulator_server.expires_in, emulator_server.latency = 900, 0.0
    emulator_server.token_type, emulator_server.token_size = "Bearer", None
    return emulator_server


@dataclass
class Service:
    """The deployed service as a test sees it: its table, its secrets, its handler."""

    table_name: str
    secret_prefix: str
    entitlements_parameter: str
    kms_key_id: str
    dynamodb: Any
    secretsmanager: Any
    ssm: Any
    kms: Any

    @property
    def table(self) -> DynamoDBTokenTable:
        """The service's own cache code, over the test's table and KMS key."""
        return DynamoDBTokenTable(
            self.dynamodb, self.table_name, KmsEnvelopeCipher(self.kms, self.kms_key_id)
        )

    def cached_token(self, region: str, scope: str) -> CachedToken | None:
        entry = self.table.get(Key(region, scope), consistent=True)
        return entry.token if entry else None

    def put_token(
        self,
        region: str,
        scope: str,
        access_token: str,
        expires_at: int,
        lifetime: int = 900,
        credential: str = DEFAULT_CREDENTIAL,
    ) -> CachedToken:
        """Cache a token as the service would (encrypted), replacing whatever the key held."""
        key = {"cache_key": {"S": Key(region, scope, credential).cache_key}}
        self.dynamodb.delete_item(TableName=self.table_name, Key=key)
        token = CachedToken(
            region, scope, access_token, "Bearer", expires_at - lifetime, expires_at, credential
        )
        assert self.table.put(token)
        return token

    def cached_item(self, region: str, scope: str) -> dict[str, Any] | None:
        key = {"cache_key": {"S": f"{region}#{scope}"}}
        return self.dynamodb.get_item(TableName=self.table_name, Key=key).get("Item")

    def set_entitlements(self, document: dict[str, Any] | str) -> None:
        put_entitlements(self.ssm, self.entitlements_parameter, document)

    def set_secret(
        self, region: str, client_id: str, client_secret: str, method: str | None
    ) -> None:
        put_region_secret(
            self.secretsmanager, self.secret_prefix + region, client_id, client_secret, method
        )


@pytest.fixture
def service(
    aws_endpoint: str, kms_key: str, emulator: VccEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Service]:
    """A table created from template.yaml and the three region secrets, fresh for this test."""
    suffix = uuid.uuid4().hex[:8]
    service = Service(
        table_name=f"vcc-tokens-{suffix}",
        secret_prefix=f"test-{suffix}/vcc/",
        entitlements_parameter=f"/test-{suffix}/entitlements",
        kms_key_id=kms_key,
        dynamodb=boto3.client("dynamodb"),
        secretsmanager=boto3.client("secretsmanager"),
        ssm=boto3.client("ssm"),
        kms=boto3.client("kms"),
    )
    service.set_entitlements(ALLOW_TEST_CALLER)
    create_table_from_template(service.dynamodb, service.table_name)
    for region, (client, method) in CLIENTS.items():
        service.set_secret(region, client.client_id, client.client_secret, method)
    monkeypatch.setenv("TOKEN_TABLE_NAME", service.table_name)
    monkeypatch.setenv("VCC_SECRET_PREFIX", service.secret_prefix)
    monkeypatch.setenv("ENTITLEMENTS_PARAMETER", service.entitlements_parameter)
    monkeypatch.setenv("TOKEN_KMS_KEY_ID", service.kms_key_id)
    monkeypatch.setenv("VCC_TOKEN_URL_TEMPLATE", emulator.token_url_template)
    monkeypatch.setenv("UPSTREAM_READ_TIMEOUT", "1")
    monkeypatch.setenv("UPSTREAM_BUDGET_SECONDS", "3")
    wiring.reset()
    yield service
    wiring.reset()
    service.dynamodb.delete_table(TableName=service.table_name)
    service.ssm.delete_parameter(Name=service.entitlements_parameter)
    for region in CLIENTS:
        service.secretsmanager.delete_secret(
            SecretId=service.secret_prefix + region, ForceDeleteWithoutRecovery=True
        )


@pytest.fixture(scope="session")
def vend_handler() -> Any:
    return load_function("vend").lambda_handler


@pytest.fixture(scope="session", autouse=True)
def _own_cache_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The CLI remembers failed deployments in the user's cache directory: the suite's own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(autouse=True)
def _clean_powertools() -> Iterator[None]:
    parameters.clear_caches()
    metrics.clear_metrics()
    yield
    parameters.clear_caches()
    metrics.clear_metrics()


@dataclass
class Observed:
    stream: io.StringIO

    @property
    def log_lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()


class _NotTestInfrastructure(logging.Filter):
    """The in-process moto server and its web server are the test's AWS, not the service."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(("moto", "werkzeug"))


@pytest.fixture(autouse=True)
def observed(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> Iterator[Observed]:
    """Capture every log line at DEBUG (the service's and every library's), everything printed
    (EMF metrics included) and every error body and header returned; after the test, fail if
    any client secret, issued token or Authorization header value appears in them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    handler.addFilter(_NotTestInfrastructure())
    root = logging.getLogger()
    root_level, level = root.level, logger.log_level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    service_logger = logging.getLogger(logger.name)
    if not service_logger.propagate:  # otherwise root's handler already sees its records
        logger.addHandler(handler)
    logger.setLevel("DEBUG")
    responses_before = len(OBSERVED_RESPONSES)
    observed = Observed(stream)
    yield observed
    logger.setLevel(level)
    service_logger.removeHandler(handler)
    root.setLevel(root_level)
    root.removeHandler(handler)
    captured = capsys.readouterr()
    responses = "\n".join(OBSERVED_RESPONSES[responses_before:])
    text = stream.getvalue() + captured.out + captured.err + responses
    forbidden = {"an Authorization header": AUTHORIZATION_HEADER}
    for region, (client, _) in CLIENTS.items():
        forbidden[f"the {region} client secret"] = client.client_secret
    forbidden.update(GUARDED_SECRETS)
    if "emulator_server" in request.fixturenames:
        emulator_server = request.getfixturevalue("emulator_server")
        for number, token in enumerate(emulator_server.issued):
            forbidden[f"issued token #{number}"] = token
    leaked = [name for name, value in forbidden.items() if value in text]
    assert not leaked, f"observable output holds {', '.join(leaked)}"
