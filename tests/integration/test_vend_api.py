"""GET /tokens/{region}/{scope} through the real handler, with moto server as AWS and the VCC
emulator as the token endpoint, both on loopback."""

from __future__ import annotations

import hashlib
import json
import math
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from local.vcc_emulator import VccEmulator
from tests.conftest import CLIENTS, Observed, Service
from tests.support import api_event as event
from tests.support import invoke, load_event
from vcc_tokens import wiring
from vcc_tokens.aws.credentials import ClientCredentials
from vcc_tokens.values.config import get_settings

pytestmark = pytest.mark.integration

SCOPE = "agents-availability:read"


def put_cached(service: Service, region: str, scope: str, token: str, expires_at: int) -> None:
    service.put_token(region, scope, token, expires_at)


def completed_record(observed: Observed) -> dict[str, Any]:
    records = [json.loads(line) for line in observed.log_lines]
    return next(r for r in reversed(records) if r.get("message") == "request completed")


def test_first_request_fetches_upstream_and_writes_the_cache(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    # Given an empty cache
    before = int(time.time())
    # When a caller asks for the documented example event's token
    response = invoke(vend_handler, load_event("get_token_emea_agents_availability.json"))
    # Then one token request reached VCC and its token is served and cached
    assert response.status == 200
    assert emulator.token_requests == 1
    assert response.body["access_token"] in emulator.issued
    assert response.body["token_type"] == "Bearer"
    assert (response.body["region"], response.body["scope"]) == ("emea", SCOPE)
    assert 898 <= response.body["expires_in"] <= 900  # floored fetch time, then the request
    expires_at = datetime.strptime(response.body["expires_at"], "%Y-%m-%dT%H:%M:%SZ")
    expires_epoch = int(expires_at.replace(tzinfo=UTC).timestamp())
    assert before + 900 <= expires_epoch <= int(time.time()) + 900
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    item = service.cached_item("emea", SCOPE)
    assert item is not None
    assert "access_token" not in item  # stored encrypted only
    assert response.body["access_token"].encode() not in item["access_token_ciphertext"]["B"]
    assert service.cached_token("emea", SCOPE).access_token == response.body["access_token"]  # type: ignore[union-attr]
    assert int(item["expires_at"]["N"]) == expires_epoch
    assert int(item["ttl"]["N"]) == expires_epoch
    assert int(item["expires_at"]["N"]) - int(item["fetched_at"]["N"]) == 900
    assert before <= float(item["last_requested_at"]["N"]) <= time.time()  # for the refresher


def test_second_request_within_the_lifetime_is_served_from_the_cache(
    service: Service, emulator: VccEmulator, vend_handler: Any, observed: Observed
) -> None:
    first = invoke(vend_handler, event("emea", SCOPE))
    second = invoke(vend_handler, event("emea", SCOPE))
    assert second.status == 200
    assert second.body["access_token"] == first.body["access_token"]
    assert emulator.token_requests == 1
    assert completed_record(observed)["cache"] == "hit"


def test_percent_encoded_scope_is_the_same_key(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    raw = invoke(vend_handler, event("emea", SCOPE))
    encoded = invoke(vend_handler, event("emea", SCOPE, encode=True))
    assert encoded.status == 200
    assert encoded.body["scope"] == SCOPE
    assert encoded.body["access_token"] == raw.body["access_token"]
    assert emulator.token_requests == 1


def test_an_expired_item_still_in_the_table_is_never_served(
    service: Service, emulator: VccEmulator, vend_handler: Any, observed: Observed
) -> None:
    # Given an item past expires_at that DynamoDB's TTL has not deleted yet
    put_cached(service, "emea", SCOPE, "stale-token-value", int(time.time()) - 5)
    response = invoke(vend_handler, event("emea", SCOPE))
    assert response.status == 200
    assert response.body["access_token"] != "stale-token-value"
    assert emulator.token_requests == 1
    assert completed_record(observed)["cache"] == "expired"
    assert service.cached_token("emea", SCOPE).access_token == response.body["access_token"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("seconds_left", "min_ttl", "fetches"),
    [
        (600, None, 0),  # default min_ttl 60: 600 s left is enough
        (30, None, 1),  # default min_ttl 60: 30 s left is not
        (400, "500", 1),  # the caller wants more than is left
        (400, "0", 0),
    ],
)
def test_min_ttl_decides_whether_a_cached_token_is_replaced(
    service: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    seconds_left: int,
    min_ttl: str | None,
    fetches: int,
) -> None:
    put_cached(service, "emea", SCOPE, "cached-token-value", int(time.time()) + seconds_left)
    query = {"min_ttl": min_ttl} if min_ttl is not None else None
    response = invoke(vend_handler, event("emea", SCOPE, query))
    assert response.status == 200
    assert emulator.token_requests == fetches
    assert (response.body["access_token"] == "cached-token-value") == (fetches == 0)


def test_basic_client_authentication_with_an_awkward_secret(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    # nam's secret says client_secret_basic, and its id and secret need form-encoding
    response = invoke(vend_handler, event("nam", "users:read"))
    assert response.status == 200
    assert emulator.requests_by_region == {"nam": 1}


def test_lower_case_bearer_and_a_missing_expires_in_are_accepted(
    service: Service, emulator: VccEmulator, vend_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.token_type, emulator.expires_in = "bearer", None
    monkeypatch.setenv("FALLBACK_EXPIRES_IN", "600")
    response = invoke(vend_handler, event("apac", "stats"))
    assert response.status == 200
    assert response.body["token_type"] == "Bearer"
    assert 598 <= response.body["expires_in"] <= 600


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        ("invalid_client", 502, "upstream_rejected_credentials"),
        ("unsupported_grant_type", 502, "upstream_rejected_request"),
        ("rate_limited", 503, "upstream_rate_limited"),
        ("server_error", 503, "upstream_unavailable"),
        ("bad_gateway", 503, "upstream_unavailable"),
        ("non_json", 502, "upstream_bad_response"),
        ("no_access_token", 502, "upstream_bad_response"),
        ("wrong_token_type", 502, "upstream_bad_response"),
        ("redirect", 502, "upstream_bad_response"),
    ],
)
def test_upstream_errors_map_to_their_status(
    service: Service, emulator: VccEmulator, vend_handler: Any, failure: str, status: int, code: str
) -> None:
    emulator.fail_next(failure, count=3)  # every attempt, retries included
    response = invoke(vend_handler, event("emea", SCOPE))
    assert (response.status, response.body["error"]) == (status, code)
    retried = failure in ("server_error", "bad_gateway")  # 429's Retry-After (7 s) is not waited
    assert emulator.token_requests == (3 if retried else 1)
    assert "emea" in response.body["message"]
    item = service.cached_item("emea", SCOPE) or {}
    assert "access_token_ciphertext" not in item  # nothing cached
    assert "lease_owner" not in item  # and the lease was released
    # The first caller is told the Retry-After the failure memory enforces (VCC's own for 429)
    enforced = math.ceil(float(item["retry_at"]["N"]) - time.time())
    assert 0 <= int(response.headers["Retry-After"]) - enforced <= 1
    if failure == "rate_limited":
        assert response.headers["Retry-After"] == "7"


@pytest.mark.parametrize("failure", ["server_error", "bad_gateway", "rate_limited_briefly"])
def test_a_passing_upstream_failure_is_retried(
    service: Service, emulator: VccEmulator, vend_handler: Any, failure: str
) -> None:
    # Retried inside the request: 5xx with jittered backoff, 429 whose Retry-After is 1 s
    emulator.fail_next(failure, count=2)
    response = invoke(vend_handler, event("emea", SCOPE))
    assert response.status == 200
    assert emulator.token_requests == 3


def test_a_short_retry_after_is_waited_out_before_vcc_is_asked_again(
    service: Service, emulator: VccEmulator
) -> None:
    # Given VCC answering 429 with Retry-After: 1, then granting; and a fetch whose waits are seen
    emulator.fail_next("rate_limited_briefly")
    waits: list[float] = []
    endpoint = wiring.token_endpoint(get_settings(), sleep=waits.append)
    client, _ = CLIENTS["emea"]  # its secret goes in the form: the default method
    credentials = ClientCredentials(client.client_id, client.client_secret)
    # When one token is fetched
    endpoint.fetch("emea", SCOPE, credentials, budget=8.0)
    # Then VCC was asked again only after the second it asked for (the backoff alone: 0-0.2 s)
    assert emulator.token_requests == 2
    assert len(waits) == 1
    assert waits[0] >= 1.0


def test_one_upstream_failure_counts_one_upstream_error(
    service: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.fail_next("invalid_client")
    invoke(vend_handler, event("emea", SCOPE))
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    values = [value for metrics in emitted for value in metrics.get("UpstreamErrors", [])]
    assert values == [1.0]
    counted = [m["UpstreamErrors_invalid_client"] for m in emitted if "UpstreamErrors" in m]
    assert counted == [[1.0]]


def test_upstream_timeout_is_504(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    emulator.hang_seconds = 2.0  # the service's read timeout is 1 s in tests
    emulator.fail_next("timeout")
    response = invoke(vend_handler, event("emea", SCOPE))
    assert (response.status, response.body["error"]) == (504, "upstream_timeout")


def test_unreachable_upstream_is_503(
    service: Service, vend_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vcc_tokens import wiring

    monkeypatch.setenv("VCC_TOKEN_URL_TEMPLATE", "http://127.0.0.1:9/{region}/Auth/connect/token")
    wiring.reset()
    response = invoke(vend_handler, event("emea", SCOPE))
    assert (response.status, response.body["error"]) == (503, "upstream_unavailable")
    assert "Retry-After" in response.headers  # after retrying connection errors in the budget


@pytest.mark.parametrize("region", ["emea", "nam"])  # body credentials (400) and Basic (401)
def test_rejected_credentials_name_the_region_not_the_secret(
    service: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    region: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROTATION_GRACE_SECONDS", "0")  # the previous (right) secret not tried
    client, method = CLIENTS[region]
    wrong_secret = "wrong-" + client.client_secret
    service.set_secret(region, client.client_id, wrong_secret, method)
    response = invoke(vend_handler, event(region, "users:read"))
    assert (response.status, response.body["error"]) == (502, "upstream_rejected_credentials")
    assert f"{region} client credentials" in response.body["message"]
    assert wrong_secret not in json.dumps(response.body)
    assert client.client_id not in json.dumps(response.body)


def test_a_scope_the_credentials_lack_is_403(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    response = invoke(vend_handler, event("emea", "globalpci"))
    assert (response.status, response.body["error"]) == (403, "scope_not_granted")
    assert "'globalpci'" in response.body["message"]
    assert emulator.token_requests == 1  # never retried


def test_bad_region_never_reaches_upstream(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    response = invoke(vend_handler, load_event("get_token_bad_region.json"))
    assert (response.status, response.body["error"]) == (400, "unknown_region")
    assert "emea, nam, apac" in response.body["message"]
    assert emulator.token_requests == 0


@pytest.mark.parametrize(
    "scope", ["agents-availability:write", "newvoicemedia%2Fapi%2Fstats", "stats ", "x" * 500]
)
def test_unknown_scope_never_reaches_upstream(
    service: Service, emulator: VccEmulator, vend_handler: Any, scope: str
) -> None:
    response = invoke(vend_handler, event("emea", scope))
    assert (response.status, response.body["error"]) == (400, "unknown_scope")
    assert "agents-availability:read" in response.body["message"]  # the allowed values
    assert len(response.body["message"]) < 600
    assert emulator.token_requests == 0


def test_configured_allow_list_replaces_the_documented_scopes(
    service: Service, emulator: VccEmulator, vend_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vcc_tokens import wiring

    monkeypatch.setenv("ALLOWED_SCOPES", "stats, users:read")
    wiring.reset()
    assert invoke(vend_handler, event("emea", "stats")).status == 200
    refused = invoke(vend_handler, event("emea", SCOPE))
    assert (refused.status, refused.body["message"]) == (
        400,
        "unknown scope 'agents-availability:read'; allowed: stats, users:read",
    )


@pytest.mark.parametrize("min_ttl", ["-1", "abc", "601", "1.5", ""])
def test_invalid_min_ttl_is_400(
    service: Service, emulator: VccEmulator, vend_handler: Any, min_ttl: str
) -> None:
    response = invoke(vend_handler, event("emea", SCOPE, {"min_ttl": min_ttl}))
    assert (response.status, response.body["error"]) == (400, "invalid_request")
    assert "from 0 to 600" in response.body["message"]
    assert emulator.token_requests == 0


def test_missing_secret_is_a_clear_500_naming_it_in_the_log_only(
    service: Service, emulator: VccEmulator, vend_handler: Any, observed: Observed
) -> None:
    service.secretsmanager.delete_secret(
        SecretId=service.secret_prefix + "apac", ForceDeleteWithoutRecovery=True
    )
    service.secretsmanager.create_secret(Name=service.secret_prefix + "apac-old", SecretString="{}")
    response = invoke(vend_handler, event("apac", SCOPE))
    assert (response.status, response.body["error"]) == (500, "credentials_unavailable")
    # The caller is told what is wrong, not which secret: it may sit in another account
    assert service.secret_prefix not in response.body["message"]
    assert "region's secret" in response.body["message"]
    assert "Traceback" not in response.body["message"]
    # The log names the secret and AWS's code, never AWS's text
    detail = "\n".join(line for line in observed.log_lines if "request refused" in line)
    assert f"'{service.secret_prefix}apac'" in detail
    assert "ResourceNotFoundException" in detail
    assert "can't find" not in detail.lower()
    assert emulator.token_requests == 0
    service.secretsmanager.delete_secret(
        SecretId=service.secret_prefix + "apac-old", ForceDeleteWithoutRecovery=True
    )
    service.set_secret("apac", "x", "y", None)  # for the fixture's clean-up


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        '["a list"]',
        '{"client_id": "only-an-id"}',
        '{"client_id": "a", "client_secret": "b", "auth_method": "tls"}',
    ],
)
def test_malformed_secret_is_a_clear_500_naming_it(
    service: Service, emulator: VccEmulator, vend_handler: Any, value: str
) -> None:
    service.secretsmanager.put_secret_value(
        SecretId=service.secret_prefix + "emea", SecretString=value
    )
    response = invoke(vend_handler, event("emea", SCOPE))
    assert (response.status, response.body["error"]) == (500, "credentials_unavailable")
    assert service.secret_prefix not in response.body["message"]
    assert emulator.token_requests == 0


def test_each_request_is_logged_with_the_caller_and_outcome(
    service: Service, emulator: VccEmulator, vend_handler: Any, observed: Observed
) -> None:
    request = event("emea", SCOPE)
    invoke(vend_handler, request)
    record = completed_record(observed)
    identity = request["requestContext"]["identity"]
    assert record["caller_arn"] == identity["userArn"]
    assert record["correlation_id"] == request["requestContext"]["requestId"]
    assert "function_request_id" in record
    # the ledger line leaves out what every line of the log group would repeat: the function's
    # name, ARN, memory and cold start, and the caller's account (it is in the ARN)
    repeated = {"function_name", "function_arn", "function_memory_size", "cold_start"}
    assert not repeated & set(record), record
    assert "caller_account" not in record
    assert (record["region"], record["scope"], record["cache"], record["status"]) == (
        "emea",
        SCOPE,
        "miss",
        200,
    )


def test_unknown_route_is_a_json_404(service: Service, vend_handler: Any) -> None:
    request = event("emea", SCOPE)
    request["path"] = "/token/emea"
    response = invoke(vend_handler, request)
    assert (response.status, response.body["error"]) == (404, "not_found")
    assert "GET /tokens/{region}/{scope}" in response.body["message"]


def refresh_event(region: str, scope: str, body: str | None) -> dict[str, Any]:
    request = load_event("refresh_token_emea_agents_availability.json")
    request["path"] = f"/tokens/{region}/{scope}/refresh"
    request["body"] = body
    return request


def test_refresh_replaces_the_token_vcc_rejected(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    rejected = invoke(vend_handler, event("emea", SCOPE)).body["access_token"]
    digest = hashlib.sha256(rejected.encode()).hexdigest()
    body = json.dumps({"rejected_token_sha256": digest})
    replaced = invoke(vend_handler, refresh_event("emea", SCOPE, body))
    assert replaced.status == 200
    assert replaced.body["access_token"] not in (rejected, None)
    assert replaced.headers["Cache-Control"] == "no-store"
    # The same 401 reported again (another caller, later): the current token, no new request
    again = invoke(vend_handler, refresh_event("emea", SCOPE, body))
    assert again.body["access_token"] == replaced.body["access_token"]
    # and GET now serves the new one
    assert invoke(vend_handler, event("emea", SCOPE)).body == replaced.body | {
        "expires_in": ANY_SECONDS
    }
    assert emulator.token_requests == 2


class _AnySeconds:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, int) and 0 < other <= 900


ANY_SECONDS = _AnySeconds()


def test_the_refresh_event_file_works_on_an_empty_cache(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    response = invoke(vend_handler, load_event("refresh_token_emea_agents_availability.json"))
    assert response.status == 200
    assert emulator.token_requests == 1


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1]",
        '{"rejected_token_sha256": "xyz"}',
        '{"rejected_token_sha256": "a", "b": 1}',
    ],
)
def test_a_bad_refresh_body_is_400_and_fetches_nothing(
    service: Service, emulator: VccEmulator, vend_handler: Any, body: str
) -> None:
    response = invoke(vend_handler, refresh_event("emea", SCOPE, body))
    assert (response.status, response.body["error"]) == (400, "invalid_request")
    assert "rejected_token_sha256" in response.body["message"]
    assert emulator.token_requests == 0


def test_a_served_token_costs_one_info_line_whatever_its_source(
    service: Service, emulator: VccEmulator, vend_handler: Any, observed: Observed
) -> None:
    served = []
    for _ in range(3):  # from VCC, then from memory twice
        before = len(observed.log_lines)
        assert invoke(vend_handler, event("emea", SCOPE)).status == 200
        served.append([json.loads(line) for line in observed.log_lines[before:]])
    wiring.token_vendor().memory.clear()
    before = len(observed.log_lines)
    assert invoke(vend_handler, event("emea", SCOPE)).status == 200  # from DynamoDB
    served.append([json.loads(line) for line in observed.log_lines[before:]])
    for records in served:
        info = [r for r in records if r.get("level") == "INFO" and r.get("service")]
        assert [r["message"] for r in info] == ["request completed"]
        assert info[0]["entitled"] is True  # the audit trail is on that line
    sources = [next(r for r in records if r.get("level") == "INFO")["source"] for records in served]
    assert sources == ["upstream", "memory", "memory", "dynamodb"]


def test_a_configuration_error_is_one_line_and_a_500_saying_misconfigured(
    service: Service,
    vend_handler: Any,
    monkeypatch: pytest.MonkeyPatch,
    observed: Observed,
) -> None:
    # Given a setting the service cannot take (both names of the renewal period, differing)
    monkeypatch.setenv("RENEW_RATE_MINUTES", "5")
    monkeypatch.setenv("REFRESH_RATE_MINUTES", "60")
    wiring.reset()
    get_settings.cache_clear()
    try:
        # When two callers ask
        answers = [
            invoke(vend_handler, load_event("get_token_emea_agents_availability.json"))
            for _ in range(2)
        ]
    finally:
        monkeypatch.delenv("REFRESH_RATE_MINUTES")
        get_settings.cache_clear()
    # Then each is told the service is misconfigured, and the log names the setting, no traceback
    for answer in answers:
        assert (answer.status, answer.body["error"]) == (500, "service_misconfigured")
        assert "REFRESH_RATE_MINUTES" not in answer.body["message"]
    problems = [line for line in observed.log_lines if "the service is misconfigured" in line]
    assert len(problems) == 2
    assert all(
        "REFRESH_RATE_MINUTES is the former name of RENEW_RATE_MINUTES" in p for p in problems
    )
    assert "Traceback" not in "\n".join(observed.log_lines)


def test_a_rejection_the_vend_path_met_is_in_admin_status(
    service: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from vcc_token_client.cli import main as vcc_token

    # Given VCC refusing the nam credential (a wrong secret), the refresher never having run
    monkeypatch.setenv("ROTATION_GRACE_SECONDS", "0")
    client, method = CLIENTS["nam"]
    service.set_secret("nam", client.client_id, "wrong-" + client.client_secret, method)
    # When callers ask the vending function for two scopes of that credential
    for scope in ("users:read", "stats", "users:read"):
        assert invoke(vend_handler, event("nam", scope)).status == 502
    # Then the operator's first look, admin status, shows the rejection for that credential
    capsys.readouterr()  # the function's own output (its metrics) aside
    assert vcc_token(["admin", "status", "--table", service.table_name, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    [health] = [row for row in rows if row.get("credential") == "nam/default"]
    assert health["last_rejection"].startswith("invalid_client at ")
    assert health["last_grant_at"] is None
    # and a grant the vending function got is recorded too
    invoke(vend_handler, event("emea", "users:read"))
    capsys.readouterr()
    assert vcc_token(["admin", "status", "--table", service.table_name, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    [emea] = [row for row in rows if row.get("credential") == "emea/default"]
    assert emea["last_grant_at"] is not None
