"""When AWS falters, the service degrades instead of failing, shown through a fault-injecting
proxy in front of moto server (local/aws_faults.py): a valid token is served whenever one can be
had, otherwise a 503 with Retry-After well inside the deadline, and a cache fault never becomes
VCC traffic."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.aws_faults import WRITES, AwsFaultProxy, Fault
from local.vcc_emulator import VccEmulator
from tests.conftest import Observed, Service
from tests.support import api_event, invoke, timed
from vcc_tokens import wiring
from vcc_tokens.values.config import Settings

pytestmark = pytest.mark.integration

SCOPE = "agents-availability:read"
BUDGET = Settings.request_budget


@pytest.fixture(scope="session")
def proxy(aws_endpoint: str) -> Iterator[AwsFaultProxy]:
    proxy = AwsFaultProxy(aws_endpoint).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def faults(
    service: Service, proxy: AwsFaultProxy, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AwsFaultProxy]:
    """The function's AWS clients go through the proxy (the test's own clients do not)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    proxy.clear()
    wiring.reset()
    yield proxy
    proxy.clear()


def first_token_with_memory_always_stale(vend_handler: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A token fetched by this instance, whose in-memory copy is never fresh enough to serve
    without reading DynamoDB (it is still held, as the fallback)."""
    monkeypatch.setenv("MEMORY_CACHE_SECONDS", "0")
    wiring.reset()
    token: str = invoke(vend_handler, api_event("emea", SCOPE)).body["access_token"]
    return token


def assert_unavailable(response: Any, seconds: float, service_name: str) -> None:
    assert (response.status, response.body["error"]) == (503, "dependency_unavailable")
    assert int(response.headers["Retry-After"]) >= 1
    assert service_name in response.body["message"]
    assert "Rate exceeded" not in response.body["message"]  # AWS's text is never echoed
    # nor an ARN, account id, table or key alias: callers may sit in other accounts
    for internal in ("arn:", "123456789012", "vcc-tokens-", "alias/", "/entitlements"):
        assert internal not in response.body["message"], internal
    assert seconds < BUDGET


@pytest.mark.parametrize("kind", ["throttle", "refuse", "fail"])
def test_dynamodb_faults_on_a_key_not_in_memory_are_a_quick_503(
    faults: AwsFaultProxy, emulator: VccEmulator, vend_handler: Any, kind: str
) -> None:
    faults.inject(Fault("dynamodb", kind))  # type: ignore[arg-type]
    response, seconds = timed(vend_handler, api_event("emea", SCOPE))
    assert_unavailable(response, seconds, "DynamoDB")
    assert emulator.token_requests == 0
    assert faults.requests["dynamodb.GetItem"] == 2  # standard retry mode: two attempts


def test_a_dependency_faults_line_names_the_aws_operation_and_code_and_keeps_the_service(
    faults: AwsFaultProxy, emulator: VccEmulator, vend_handler: Any, observed: Observed
) -> None:
    faults.inject(Fault("dynamodb", "throttle"))
    invoke(vend_handler, api_event("emea", SCOPE))
    lines = [json.loads(line) for line in observed.log_lines if "AWS dependency fault" in line]
    assert lines
    assert {
        (line["service"], line["aws_service"], line["aws_operation"], line["aws_error_code"])
        for line in lines
    } == {("vcc-token-vending", "DynamoDB", "GetItem", "ProvisionedThroughputExceededException")}


def test_a_slow_dynamodb_ends_inside_the_deadline(
    faults: AwsFaultProxy, emulator: VccEmulator, vend_handler: Any
) -> None:
    faults.inject(Fault("dynamodb", "delay", seconds=10))
    response, seconds = timed(vend_handler, api_event("emea", SCOPE))
    assert_unavailable(response, seconds, "DynamoDB")
    assert seconds < 6  # one call's worst case (2 attempts x 2 s + backoff), not 10 s or 20 s


def test_a_token_held_in_memory_is_served_when_dynamodb_is_down(
    faults: AwsFaultProxy,
    emulator: VccEmulator,
    vend_handler: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a token this instance fetched, and an in-memory copy past its staleness bound
    first = first_token_with_memory_always_stale(vend_handler, monkeypatch)
    # When DynamoDB refuses every connection
    faults.inject(Fault("dynamodb", "refuse"))
    response, seconds = timed(vend_handler, api_event("emea", SCOPE))
    # Then the valid token it holds is served at once
    assert (response.status, response.body["access_token"]) == (200, first)
    assert seconds < 6
    assert emulator.token_requests == 1


def test_when_kms_cannot_seal_the_fetched_token_vcc_is_asked_once_per_backoff(
    faults: AwsFaultProxy, emulator: VccEmulator, vend_handler: Any, service: Service
) -> None:
    # Given KMS throttling every GenerateDataKey, and a cold key
    faults.inject(Fault("kms", "throttle", frozenset({"GenerateDataKey"})))
    # When five requests arrive, on this instance and on fresh ones
    first = invoke(vend_handler, api_event("emea", SCOPE))
    same_instance = [invoke(vend_handler, api_event("emea", SCOPE)) for _ in range(2)]
    others = []
    for _ in range(2):
        wiring.reset()
        others.append(timed(vend_handler, api_event("emea", SCOPE)))
    # Then VCC granted one token: its caller and this instance's later callers get it ...
    assert emulator.token_requests == 1
    assert first.status == 200
    assert all(r.body["access_token"] == first.body["access_token"] for r in same_instance)
    # ... and other instances are told to come back, by the key's failure memory
    for response, seconds in others:
        assert_unavailable(response, seconds, "KMS")
        assert "VCC is not asked again" in response.body["message"]
    item = service.cached_item("emea", SCOPE) or {}
    assert item["failure_code"]["S"] == "dependency_unavailable"
    assert "access_token_ciphertext" not in item


def test_a_cached_token_is_served_from_memory_when_kms_cannot_open_items(
    faults: AwsFaultProxy,
    emulator: VccEmulator,
    vend_handler: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = first_token_with_memory_always_stale(vend_handler, monkeypatch)
    wiring.reset()  # a fresh instance: holds nothing, must open the item
    faults.inject(Fault("kms", "throttle", frozenset({"Decrypt"})))
    response, seconds = timed(vend_handler, api_event("emea", SCOPE))
    assert_unavailable(response, seconds, "KMS")
    faults.clear()
    assert invoke(vend_handler, api_event("emea", SCOPE)).body["access_token"] == first
    faults.inject(Fault("kms", "throttle", frozenset({"Decrypt"})))
    held = invoke(vend_handler, api_event("emea", SCOPE))  # memory is 0 s fresh; it holds one
    assert (held.status, held.body["access_token"]) == (200, first)
    assert emulator.token_requests == 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault("kms", "throttle", frozenset({"GenerateDataKey"})),
        Fault("dynamodb", "throttle", WRITES),
        Fault("dynamodb", "refuse", WRITES),
    ],
    ids=["kms-seal", "dynamodb-writes-throttled", "dynamodb-writes-refused"],
)
def test_a_valid_token_due_for_renewal_is_served_when_renewing_cannot_be_cached(
    faults: AwsFaultProxy, emulator: VccEmulator, vend_handler: Any, service: Service, fault: Fault
) -> None:
    # Given a valid token inside its renewal margin (140 s of 900 s left)
    cached = service.put_token("emea", SCOPE, "valid-cached-token", int(time.time()) + 140)
    faults.inject(fault)
    answers = [timed(vend_handler, api_event("emea", SCOPE)) for _ in range(3)]
    # Then every caller gets a valid token at once: the cached one, or (KMS down) the renewal
    # that could not be cached, which this instance keeps; VCC is asked once at most
    renewed = set(emulator.issued)
    for response, seconds in answers:
        assert response.status == 200
        assert response.body["access_token"] in {cached.access_token, *renewed}
        assert seconds < BUDGET
    assert emulator.token_requests == (1 if fault.service == "kms" else 0)


def test_secrets_manager_faults_are_a_503_without_aws_text_unless_the_secret_was_read(
    faults: AwsFaultProxy,
    emulator: VccEmulator,
    vend_handler: Any,
    monkeypatch: pytest.MonkeyPatch,
    observed: Observed,
) -> None:
    monkeypatch.setenv("SECRET_MAX_AGE", "0")  # every fetch reads the secret again
    wiring.reset()
    faults.inject(Fault("secretsmanager", "throttle"))
    response, seconds = timed(vend_handler, api_event("emea", SCOPE))
    assert_unavailable(response, seconds, "Secrets Manager")
    assert emulator.token_requests == 0
    # Once read, the secret last read is used through an outage
    faults.clear()
    assert invoke(vend_handler, api_event("emea", "stats")).status == 200
    faults.inject(Fault("secretsmanager", "refuse"))
    assert invoke(vend_handler, api_event("emea", "users:read")).status == 200
    assert any("using the secret last read" in line for line in observed.log_lines)


def test_ssm_faults_keep_the_last_rules_for_the_grace_period_then_503(
    faults: AwsFaultProxy,
    emulator: VccEmulator,
    vend_handler: Any,
    monkeypatch: pytest.MonkeyPatch,
    observed: Observed,
) -> None:
    monkeypatch.setenv("ENTITLEMENTS_MAX_AGE", "0")  # every request reads the rules again
    wiring.reset()
    assert invoke(vend_handler, api_event("emea", SCOPE)).status == 200
    faults.inject(Fault("ssm", "throttle"))
    assert invoke(vend_handler, api_event("emea", SCOPE)).status == 200  # within the grace
    assert any("using the entitlements last read" in line for line in observed.log_lines)
    monkeypatch.setenv("ENTITLEMENTS_GRACE_SECONDS", "0")
    wiring.reset()
    response, seconds = timed(vend_handler, api_event("emea", SCOPE))
    assert_unavailable(response, seconds, "SSM")


def test_rules_that_do_not_validate_refuse_at_once_despite_the_grace(
    faults: AwsFaultProxy,
    emulator: VccEmulator,
    vend_handler: Any,
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENTITLEMENTS_MAX_AGE", "0")
    wiring.reset()
    assert invoke(vend_handler, api_event("emea", SCOPE)).status == 200
    service.set_entitlements(json.dumps({"version": 1, "rules": "everyone"}))
    refused = invoke(vend_handler, api_event("emea", SCOPE))
    assert (refused.status, refused.body["error"]) == (500, "entitlements_unavailable")
    faults.inject(Fault("ssm", "throttle"))  # and the broken rules are not "last good" either
    assert invoke(vend_handler, api_event("emea", SCOPE)).status == 503
