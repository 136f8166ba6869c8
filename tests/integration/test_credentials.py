"""Several credentials per region, routed by scope; rotation on Secrets Manager's staging labels;
the previous secret while VCC propagates a re-issue; credential health; purge. On real servers:
moto over HTTP (its Lambda Invoke API runs the refresher), the VCC emulator with one client per
VCC user, each with its own scopes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from vcc_token_client.cli import main as vcc_token
from vcc_token_client.errors import Exit

from local.lambda_runtime import LambdaContext, load_function
from local.vcc_emulator import Client, VccEmulator
from tests.conftest import CLIENTS, Observed, Service
from tests.integration.conftest import (
    ADMIN,
    REFRESHER,
    REISSUED,
    ROUTES,
    SUPERVISOR,
    WRONG,
    client_of,
    emitted,
    put_credential,
    rotate,
    scheduled_run,
    stage,
    store_pending,
)
from tests.support import api_event, invoke, load_event
from vcc_token_contract.names import health_credential
from vcc_tokens import wiring
from vcc_tokens.values.config import ConfigurationError, Settings
from vcc_tokens.values.tokens import Key

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


# --- routing -----------------------------------------------------------------------------------
def test_each_scope_is_fetched_with_the_credential_it_is_routed_to(
    routed: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    read = invoke(vend_handler, api_event("emea", "users:read"))
    write = invoke(vend_handler, api_event("emea", "users:write"))
    default = invoke(vend_handler, api_event("nam", "users:read"))
    assert (read.status, write.status, default.status) == (200, 200, 200)
    assert client_of(emulator, read.body["access_token"]) == SUPERVISOR.client_id
    assert client_of(emulator, write.body["access_token"]) == ADMIN.client_id
    assert client_of(emulator, default.body["access_token"]) == "nam client:1"
    # Each credential's token has its own item; the default credential's key is unchanged
    assert sorted(cached_keys(routed)) == [
        "emea#users:read#supervisor",
        "emea#users:write#admin",
        "nam#users:read",
    ]
    # and each credential's health (its grant, as the vending function met it) has its own too
    assert health_of(routed) == {"emea/supervisor", "emea/admin", "nam/default"}
    # One grant per key: asking again is served from the cache
    for scope in ("users:read", "users:write"):
        assert invoke(vend_handler, api_event("emea", scope)).status == 200
    assert len(emulator.issued) == 3


def test_a_scope_no_credential_of_the_region_serves_is_a_400_saying_what_it_serves(
    routed: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    response = invoke(vend_handler, api_event("emea", "stats"))
    assert (response.status, response.body["error"]) == (400, "scope_not_served")
    assert response.body["message"] == (
        "region emea does not serve scope 'stats'; it serves: interaction-content:delete, "
        "interaction-content:read, users:read, users:write"
    )
    assert emulator.token_requests == 0


@pytest.mark.parametrize(
    ("routes", "named"),
    [
        (
            {"emea": {"admin": ["users:read"], "supervisor": ["users:read"]}},
            "scope 'users:read' of emea is routed to both 'admin' and 'supervisor'",
        ),
        ({"emea": {"admin": ["statz"]}}, "credential 'admin' of emea lists 'statz'"),
        ({"mars": {"admin": ["users:read"]}}, "unknown region 'mars'; allowed: emea, nam, apac"),
        ({"emea": {"Admin!": ["users:read"]}}, "credential 'Admin!' of emea: names are"),
        ({"emea": {"admin": []}}, "credential 'admin' of emea must list its scopes"),
        ("[1, 2]", "must be an object of regions"),
    ],
)
def test_routes_that_contradict_themselves_are_refused_naming_what_is_wrong(
    routes: object, named: str
) -> None:
    env = {
        "TOKEN_TABLE_NAME": "t",
        "VCC_SECRET_PREFIX": "p/",
        "TOKEN_KMS_KEY_ID": "k",
        "ENTITLEMENTS_PARAMETER": "/e",
        "VCC_CREDENTIALS": routes if isinstance(routes, str) else json.dumps(routes),
    }
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env)
    assert str(refused.value).startswith("VCC_CREDENTIALS ")
    assert named in str(refused.value)


def test_a_route_to_a_missing_secret_is_a_500_naming_credential_and_secret_in_the_log(
    routed: Service, emulator: VccEmulator, vend_handler: Any, observed: Observed
) -> None:
    secret = f"{routed.secret_prefix}emea/admin"
    routed.secretsmanager.delete_secret(SecretId=secret, ForceDeleteWithoutRecovery=True)
    response = invoke(vend_handler, api_event("emea", "users:write"))
    assert (response.status, response.body["error"]) == (500, "credentials_unavailable")
    assert routed.secret_prefix not in response.body["message"]
    detail = "\n".join(line for line in observed.log_lines if "request refused" in line)
    assert f"credential 'admin' of emea reads secret '{secret}', which does not exist" in detail
    assert emulator.token_requests == 0
    put_credential(routed, "admin", ADMIN, ROUTES["emea"]["admin"])  # for the clean-up


def test_a_credential_whose_secret_does_not_list_the_scope_is_refused_before_vcc(
    routed: Service, emulator: VccEmulator, vend_handler: Any, observed: Observed
) -> None:
    put_credential(routed, "admin", ADMIN, ["users:write"])  # interaction-content:delete left out
    response = invoke(vend_handler, api_event("emea", "interaction-content:delete"))
    assert (response.status, response.body["error"]) == (500, "credentials_unavailable")
    detail = "\n".join(line for line in observed.log_lines if "request refused" in line)
    assert "scope 'interaction-content:delete' is routed to credential 'admin' of emea" in detail
    assert "whose secret does not list it" in detail
    assert emulator.token_requests == 0


# --- rotation ----------------------------------------------------------------------------------
def test_rotation_proves_the_pending_secret_then_makes_it_current(
    routed: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an admin token cached, and VCC re-issuing the admin's secret (the old one dies now)
    first = invoke(vend_handler, api_event("emea", "users:write"))
    emulator.reissue(ADMIN.client_id, REISSUED, previous_for=0)
    # When the operator pipes the re-issued secret into `admin rotate`
    assert rotate(routed, REISSUED + "\n", monkeypatch) == 0
    printed = capsys.readouterr().out
    assert "emea/admin: rotated: promoted after VCC granted 'interaction-content:delete'" in printed
    # Then it is current, with the old document's client id and scopes; the old one is previous
    current = stage(routed, "admin", "AWSCURRENT")
    assert current == {
        "client_id": ADMIN.client_id,
        "client_secret": REISSUED,
        "scopes": ROUTES["emea"]["admin"],
    }
    assert stage(routed, "admin", "AWSPREVIOUS")["client_secret"] == ADMIN.client_secret
    # And the rotation cost one grant (the proof); the cached token is still served
    assert len(emulator.issued) == 2
    again = invoke(vend_handler, api_event("emea", "users:write"))
    assert again.body["access_token"] == first.body["access_token"]
    # A new token comes with the new secret (this instance's cached secret is rejected once)
    routed.dynamodb.delete_item(
        TableName=routed.table_name, Key={"cache_key": {"S": "emea#users:write#admin"}}
    )
    wiring.token_vendor().memory.clear()
    assert invoke(vend_handler, api_event("emea", "users:write")).status == 200
    assert len(emulator.issued) == 3
    # And admin status shows the rotation, never a secret
    assert vcc_token(["admin", "status", "--table", routed.table_name]) == 0
    status = capsys.readouterr().out
    assert "emea/admin" in status
    assert "promoted" in status
    assert ADMIN.client_id not in status


def test_a_pending_secret_vcc_refuses_is_not_promoted_and_the_service_stays_current(
    routed: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert rotate(routed, WRONG, monkeypatch) == Exit.NOT_ROTATED
    printed = capsys.readouterr().out
    assert "emea/admin: NOT rotated: not promoted, still on the current secret" in printed
    assert "upstream_rejected_credentials" in printed
    assert "try again in a few minutes" in printed
    assert stage(routed, "admin", "AWSCURRENT")["client_secret"] == ADMIN.client_secret
    assert stage(routed, "admin", "AWSPENDING")["client_secret"] == WRONG  # left for a retry
    assert emulator.issued == {}  # VCC refused the proof: no grant
    response = invoke(vend_handler, api_event("emea", "users:write"))
    assert client_of(emulator, response.body["access_token"]) == ADMIN.client_id


@pytest.mark.parametrize(
    ("stdin", "why"),
    [
        ("", "no secret on stdin"),
        ("two words", "more than one word"),
        ('{"client_id": "x"', "not JSON"),
        ('{"client_id": "x"}', "needs client_id and client_secret"),
    ],
)
def test_rotate_refuses_bad_input_with_exit_2_storing_nothing(
    routed: Service,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stdin: str,
    why: str,
) -> None:
    assert rotate(routed, stdin, monkeypatch) == 2
    assert why in capsys.readouterr().err
    with pytest.raises(routed.secretsmanager.exceptions.ResourceNotFoundException):
        stage(routed, "admin", "AWSPENDING")


def test_a_rotation_event_for_an_unknown_credential_is_refused(routed: Service) -> None:
    refresher = load_function("refresher").lambda_handler
    answer = refresher({"rotate": {"region": "emea", "credential": "nobody"}}, LambdaContext("r"))
    assert answer == {
        "rotated": False,
        "reason": "invalid_request: emea has no credential 'nobody'; it has: admin, supervisor",
    }


def test_rotate_never_puts_the_secret_in_a_process_listing(
    routed: Service, emulator: VccEmulator
) -> None:
    emulator.reissue(ADMIN.client_id, REISSUED, previous_for=0)
    command = [sys.executable, "-m", "vcc_token_client.cli", "admin", "rotate"]
    command += ["--region", "emea", "--credential", "admin", "--function", REFRESHER]
    command += ["--secret-prefix", routed.secret_prefix]
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'client'}:{ROOT / 'layers' / 'common'}"},
    )
    listing = Path(f"/proc/{process.pid}/cmdline").read_bytes()
    environment = Path(f"/proc/{process.pid}/environ").read_bytes()
    out, err = process.communicate(REISSUED, timeout=60)
    assert process.returncode == 0, err
    assert "rotated" in out
    assert REISSUED.encode() not in listing + environment
    assert REISSUED not in out + err
    assert stage(routed, "admin", "AWSCURRENT")["client_secret"] == REISSUED


# --- the previous secret while VCC propagates a re-issue ---------------------------------------
def test_while_vcc_propagates_a_reissue_the_previous_secret_serves_within_the_grace(
    routed: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    observed: Observed,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the re-issued secret current in Secrets Manager, but not yet accepted by VCC
    emulator.reissue(ADMIN.client_id, REISSUED, previous_for=300, propagation=300)
    put_credential(
        routed,
        "admin",
        Client(ADMIN.client_id, REISSUED, ADMIN.scopes),
        ROUTES["emea"]["admin"],
    )
    # When a caller asks for an admin scope
    response = invoke(vend_handler, api_event("emea", "users:write"))
    # Then the previous secret gets the token, counted and logged
    assert response.status == 200
    assert client_of(emulator, response.body["access_token"]) == ADMIN.client_id
    assert emulator.token_requests == 2  # the rejected new secret, then the previous one
    assert emitted(capsys.readouterr().out, "PreviousSecretUsed") == ["emea/admin"]
    assert any("served with the previous one" in line for line in observed.log_lines)


def test_past_the_grace_the_previous_secret_is_not_tried(
    routed: Service, emulator: VccEmulator, vend_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROTATION_GRACE_SECONDS", "0")
    wiring.reset()
    emulator.reissue(ADMIN.client_id, REISSUED, previous_for=300, propagation=300)
    new = Client(ADMIN.client_id, REISSUED, ADMIN.scopes)
    put_credential(routed, "admin", new, ROUTES["emea"]["admin"])
    time.sleep(1.1)  # the version is older than the (zero) grace
    response = invoke(vend_handler, api_event("emea", "users:write"))
    assert (response.status, response.body["error"]) == (502, "upstream_rejected_credentials")
    assert emulator.token_requests == 1


# --- health ------------------------------------------------------------------------------------
def test_the_refresher_records_credential_health_and_counts_rejections_per_credential(
    routed: Service,
    emulator: VccEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a supervisor and an admin token inside their renewal margin, both wanted
    now = int(time.time())
    for scope, credential in (("users:read", "supervisor"), ("users:write", "admin")):
        routed.put_token("emea", scope, f"due-{credential}", now + 100, credential=credential)
        routed.table.touch(Key("emea", scope, credential), time.time())
    # And VCC no longer accepting the admin's secret
    emulator.clients[ADMIN.client_id] = Client(ADMIN.client_id, "re-issued-elsewhere", ADMIN.scopes)
    # When the scheduled refresher runs
    refresher = load_function("refresher").lambda_handler
    summary = refresher(load_event("scheduled_renewal.json"), LambdaContext("scheduled"))
    # Then the supervisor's key is renewed, the admin's listed as failed with its reason
    assert summary["renewed"] == 1
    assert [line.split(": ")[:2] for line in summary["failed"]] == [
        ["emea users:write (admin)", "upstream_rejected_credentials"]
    ]
    # And the rejection is counted for the admin's credential only (the alarms' contributor)
    printed = capsys.readouterr().out
    assert emitted(printed, "CredentialRejections") == ["emea/admin"]
    assert emitted(printed, "RenewalFailures") == ["emea/admin"]
    # And each credential's health is recorded and shown, while callers hold valid tokens
    assert vcc_token(["admin", "status", "--table", routed.table_name, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    health = {row["credential"]: row for row in rows if "key" not in row}
    assert health["emea/supervisor"]["last_grant_at"] is not None
    assert health["emea/supervisor"]["last_rejection"] is None
    assert health["emea/admin"]["last_rejection"].startswith("invalid_client at ")
    keys = {row["key"]: row["credential"] for row in rows if "key" in row}
    assert keys == {"emea#users:read#supervisor": "supervisor", "emea#users:write#admin": "admin"}


def test_the_alarm_watches_the_metric_per_credential() -> None:
    from local.stack import load_template

    alarm = load_template()["Resources"]["CredentialRejectedAlarm"]["Properties"]
    query = alarm["Metrics"][0]["Expression"]
    assert "SUM(CredentialRejections)" in query
    assert query.strip().endswith("GROUP BY Credential")
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


# --- purge -------------------------------------------------------------------------------------
def test_purge_removes_the_matching_keys_only_after_confirmation(
    routed: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tokens = {
        scope: invoke(vend_handler, api_event(region, scope)).body["access_token"]
        for region, scope in (("emea", "users:read"), ("emea", "users:write"), ("nam", "stats"))
    }
    purge = ["admin", "purge", "--table", routed.table_name, "--region", "emea"]
    purge += ["--credential", "admin"]
    # Without --yes and without a terminal to ask on: nothing removed, exit 2
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert vcc_token(purge) == 2
    assert "emea#users:write#admin" in capsys.readouterr().err
    assert len(cached_keys(routed)) == 3
    # With --yes: the admin's key only, listed, no token printed
    assert vcc_token([*purge, "--yes"]) == 0
    printed = capsys.readouterr().out
    assert "removed:\n  emea#users:write#admin\n" in printed
    assert "MEMORY_CACHE_SECONDS" in printed
    assert not any(token in printed for token in tokens.values())
    assert set(cached_keys(routed)) == {"emea#users:read#supervisor", "nam#stats"}
    # The next instance to ask fetches a new token
    wiring.token_vendor().memory.clear()
    again = invoke(vend_handler, api_event("emea", "users:write"))
    assert again.body["access_token"] != tokens["users:write"]


def test_a_pending_secret_stored_without_admin_rotate_is_promoted_by_the_scheduled_run(
    routed: Service, emulator: VccEmulator
) -> None:
    # Given VCC having re-issued the admin's secret, and an operator who stored it as
    # AWSPENDING with the AWS CLI instead of `admin rotate`
    emulator.reissue(ADMIN.client_id, REISSUED, previous_for=0)
    scopes = ROUTES["emea"]["admin"]
    document = {"client_id": ADMIN.client_id, "client_secret": REISSUED, "scopes": scopes}
    store_pending(routed, "emea/admin", document)
    # When the scheduled refresher runs
    summary = scheduled_run()
    # Then it proved the secret with one grant and made it current; nothing else was pending
    assert summary["rotations"] == {
        "emea/admin": "promoted after VCC granted 'interaction-content:delete' with it"
    }
    assert stage(routed, "admin", "AWSCURRENT")["client_secret"] == REISSUED
    assert len(emulator.issued) == 1
    # And the next run finds nothing pending: no request to VCC
    again = scheduled_run()
    assert "rotations" not in again
    assert emulator.token_requests == 1


def test_a_default_credential_listing_no_scopes_is_proven_with_a_scope_it_has_tokens_for(
    routed: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    # Given nam's default credential (its secret lists no scopes) with a token cached for stats
    assert invoke(vend_handler, api_event("nam", "stats")).status == 200
    client, method = CLIENTS["nam"]
    emulator.reissue(client.client_id, REISSUED, previous_for=0)
    document = {"client_id": client.client_id, "client_secret": REISSUED, "auth_method": method}
    store_pending(routed, "nam", document)
    # When the scheduled refresher finds it pending
    summary = scheduled_run()
    # Then it proved it with the scope the cache shows the credential gets, and promoted it
    promoted = "promoted after VCC granted 'stats' with it"
    assert summary["rotations"] == {"nam/default": promoted}


def test_a_pending_secret_older_than_the_grace_is_not_proven_again_every_run(
    routed: Service, emulator: VccEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a pending secret VCC refuses, stored longer ago than the rotation grace
    monkeypatch.setenv("ROTATION_GRACE_SECONDS", "0")
    wiring.reset()
    store_pending(routed, "emea/admin", {"client_id": ADMIN.client_id, "client_secret": WRONG})
    time.sleep(1.1)  # Secrets Manager dates versions to the second
    # When scheduled runs find it
    summaries = [scheduled_run() for _ in range(2)]
    # Then none asks VCC, and each says why it is left
    assert emulator.token_requests == 0
    for summary in summaries:
        assert "not proven again" in summary["rotations"]["emea/admin"]


def test_a_failing_refresher_is_exit_5_naming_only_the_error_type(
    routed: Service,
    lambda_functions: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken(event: object, context: object) -> None:
        raise RuntimeError("details that belong in the function's log")

    lambda_functions["broken-refresher"] = broken
    monkeypatch.setattr(sys, "stdin", io.StringIO(REISSUED))
    command = ["admin", "rotate", "--region", "emea", "--credential", "admin"]
    command += ["--function", "broken-refresher", "--secret-prefix", routed.secret_prefix]
    assert vcc_token(command) == 5
    said = capsys.readouterr().err
    assert "'broken-refresher' failed (RuntimeError); its log has the details" in said
    assert "details that belong" not in said


def cached_keys(service: Service) -> list[str]:
    """The token items' keys (the table also holds each credential's health item)."""
    items = service.dynamodb.scan(TableName=service.table_name)["Items"]
    keys = [str(item["cache_key"]["S"]) for item in items]
    return [key for key in keys if health_credential(key) is None]


def health_of(service: Service) -> set[str]:
    items = service.dynamodb.scan(TableName=service.table_name)["Items"]
    return {c for item in items if (c := health_credential(str(item["cache_key"]["S"])))}
