"""One bad credential, secret or key never stops the rest, and what the operator is told is true:
a purge reaches every instance, faults are per key, secrets are untrusted input, rotation proves
what it promotes (once, however many runs try), and the renewal set follows the routes. On real
servers: moto over HTTP (its Lambda Invoke API runs the refresher) and the VCC emulator."""

from __future__ import annotations

import codecs
import io
import json
import sys
import threading
import time
from typing import Any

import pytest
from vcc_token_client.cli import main as vcc_token
from vcc_token_client.errors import Exit

from local.lambda_runtime import LambdaContext, load_function
from local.vcc_emulator import VccEmulator
from tests.conftest import Observed, Service
from tests.integration.conftest import (
    ADMIN,
    REFRESHER,
    REISSUED,
    ROUTES,
    put_credential,
    rotate,
    scheduled_run,
    stage,
    store_pending,
)
from tests.support import api_event, invoke
from vcc_tokens import wiring
from vcc_tokens.rotation import ALREADY_PROMOTED, RotationRequest
from vcc_tokens.values.tokens import Key

pytestmark = pytest.mark.integration

ADMIN_SECRET = "emea/admin"
# Values no operator means, but anyone allowed PutSecretValue can store (what a Windows editor's
# UTF-16 file becomes when read as UTF-8 with surrogate escapes; a 20 KB nesting; a huge number)
LONE_SURROGATES = '{"client_id": "emea-admin", "client_secret": "\\udcff\\udcfe"}'
DEEP = "[" * 10_000 + "]" * 10_000
HUGE_NUMBER = '{"client_id": "x", "client_secret": "y", "n": ' + "9" * 5_000 + "}"


def due(service: Service, region: str, scope: str, credential: str = "default") -> None:
    """A wanted token of the key, inside its renewal margin."""
    service.put_token(
        region, scope, f"due-{region}-{scope}", int(time.time()) + 100, credential=credential
    )
    service.table.touch(Key(region, scope, credential), time.time())


def renewed(service: Service, region: str, scope: str, credential: str = "default") -> bool:
    entry = service.table.get(Key(region, scope, credential), consistent=True)
    return (
        entry is not None
        and entry.token is not None
        and not entry.token.access_token.startswith("due-")
    )


# --- 1. purge means purged ------------------------------------------------------------------------
def test_after_a_purge_no_instance_serves_the_purged_token_once_the_window_passed(
    service: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a warm instance holding nam's token in memory, trusted for 1 s
    monkeypatch.setenv("MEMORY_CACHE_SECONDS", "1")
    wiring.reset()
    first = invoke(vend_handler, api_event("nam", "users:read")).body["access_token"]
    # When an operator purges the key
    purge = ["admin", "purge", "--table", service.table_name, "--region", "nam", "--yes"]
    assert vcc_token(purge) == 0
    said = capsys.readouterr().out
    assert "what a purge cannot stop" in said
    assert "until it expires" in said
    # Then once the window (the configured MEMORY_CACHE_SECONDS) has passed, the instance
    # serves a new token, not its memory copy of the purged one
    time.sleep(1.05)
    again = invoke(vend_handler, api_event("nam", "users:read"))
    assert again.status == 200
    assert again.body["access_token"] != first
    assert emulator.token_requests == 2


# --- 2. one unusable credential does not stop the scheduled run ----------------------------------
def delete_admin_secret(service: Service) -> None:
    name = service.secret_prefix + ADMIN_SECRET
    service.secretsmanager.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def schedule_admin_secret_for_deletion(service: Service) -> None:
    name = service.secret_prefix + ADMIN_SECRET
    service.secretsmanager.delete_secret(SecretId=name, RecoveryWindowInDays=7)


def unlist_the_scope(service: Service) -> None:
    put_credential(service, "admin", ADMIN, ["interaction-content:delete"])  # users:write gone


def current_lone_surrogates(service: Service) -> None:
    name = service.secret_prefix + ADMIN_SECRET
    service.secretsmanager.put_secret_value(SecretId=name, SecretString=LONE_SURROGATES)


POISONS = {
    "deleted": (delete_admin_secret, "does not exist"),
    "scheduled for deletion": (schedule_admin_secret_for_deletion, "cannot read secret"),
    "no longer listing the scope": (unlist_the_scope, "whose secret does not list it"),
    "lone surrogates": (current_lone_surrogates, "'client_secret' that is not printable"),
}


@pytest.mark.parametrize("poison", list(POISONS))
def test_one_poisoned_credential_among_healthy_ones_fails_only_its_keys(
    routed: Service, emulator: VccEmulator, poison: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given four due keys of four credentials, and the admin's credential unusable
    keys = [("emea", "users:read", "supervisor"), ("emea", "users:write", "admin")]
    keys += [("nam", "users:read", "default"), ("apac", "stats", "default")]
    for key in keys:
        due(routed, *key)
    spoil, reason = POISONS[poison]
    spoil(routed)
    # When the scheduled refresher runs
    summary = scheduled_run()
    # Then the three healthy keys are renewed; the admin's is listed with its reason
    assert summary["renewed"] == 3
    assert [renewed(routed, *key) for key in keys] == [True, False, True, True]
    (failed,) = summary["failed"]
    assert failed.startswith("emea users:write (admin): credentials_unavailable: ")
    assert reason in failed
    # counted for that credential (the renewal-failures alarm's contributor)
    printed = capsys.readouterr().out
    lines = [json.loads(line) for line in printed.splitlines() if line.startswith('{"_aws"')]
    assert [line["Credential"] for line in lines if "RenewalFailures" in line] == ["emea/admin"]
    # And a renewal handed over for that key is not retried into the dead-letter queue either
    refresher = load_function("refresher").lambda_handler
    event = {"renew": {"region": "emea", "scope": "users:write", "lease_owner": "ab" * 16}}
    assert refresher(event, LambdaContext("handed-over")) == {"renewed": False}
    if poison == "scheduled for deletion":  # for the fixture's clean-up
        routed.secretsmanager.restore_secret(SecretId=routed.secret_prefix + ADMIN_SECRET)
    elif poison == "deleted":
        put_credential(routed, "admin", ADMIN, ROUTES["emea"]["admin"])


# --- 3. a malformed pending secret stops nothing -------------------------------------------------
@pytest.mark.parametrize("pending", [LONE_SURROGATES, DEEP], ids=["lone-surrogates", "20KB-deep"])
def test_a_malformed_pending_secret_is_reported_and_every_renewal_goes_on(
    routed: Service, emulator: VccEmulator, pending: str
) -> None:
    # Given a due key, and a pending secret the service cannot use
    due(routed, "nam", "users:read")
    routed.secretsmanager.put_secret_value(
        SecretId=routed.secret_prefix + ADMIN_SECRET,
        SecretString=pending,
        VersionStages=["AWSPENDING"],
    )
    # When the scheduled refresher runs (twice: it is not stuck on it)
    for _ in range(2):
        summary = scheduled_run()
        # Then the key is renewed, and the pending secret's problem is said, naming it
        assert summary["failed"] == []
        outcome = summary["rotations"]["emea/admin"]
        assert outcome.startswith(
            "not promoted, still on the current secret: credentials_unavailable"
        )
        assert f"{routed.secret_prefix}{ADMIN_SECRET}' (AWSPENDING)" in outcome
    assert renewed(routed, "nam", "users:read")
    assert stage(routed, "admin", "AWSCURRENT")["client_secret"] == ADMIN.client_secret


def test_admin_rotate_reads_a_utf16_file_as_a_windows_editor_saves_it(
    routed: Service, emulator: VccEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given VCC's re-issued secret in a UTF-16 file with a byte-order mark
    emulator.reissue(ADMIN.client_id, REISSUED, previous_for=0)
    data = codecs.BOM_UTF16_LE + (REISSUED + "\r\n").encode("utf-16-le")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    command = ["admin", "rotate", "--region", "emea", "--credential", "admin"]
    command += ["--function", REFRESHER, "--secret-prefix", routed.secret_prefix]
    # Then it is decoded, stored and promoted
    assert vcc_token(command) == 0
    assert stage(routed, "admin", "AWSCURRENT")["client_secret"] == REISSUED


def test_admin_rotate_refuses_stdin_it_cannot_decode_storing_nothing(
    routed: Service, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff\x00\xfe secret")))
    command = ["admin", "rotate", "--region", "emea", "--credential", "admin"]
    command += ["--function", REFRESHER, "--secret-prefix", routed.secret_prefix]
    assert vcc_token(command) == 2
    assert "save it as UTF-8" in capsys.readouterr().err
    with pytest.raises(routed.secretsmanager.exceptions.ResourceNotFoundException):
        stage(routed, "admin", "AWSPENDING")


# --- 4. a current secret with odd JSON is credentials_unavailable, never a traceback ------------
@pytest.mark.parametrize(
    "value", [DEEP, HUGE_NUMBER, LONE_SURROGATES], ids=["deep", "5000-digits", "lone-surrogates"]
)
def test_an_odd_current_secret_is_a_500_naming_the_secret(
    service: Service, emulator: VccEmulator, vend_handler: Any, observed: Observed, value: str
) -> None:
    service.secretsmanager.put_secret_value(
        SecretId=service.secret_prefix + "nam", SecretString=value
    )
    response = invoke(vend_handler, api_event("nam", "users:read"))
    assert (response.status, response.body["error"]) == (500, "credentials_unavailable")
    refused = "\n".join(line for line in observed.log_lines if "request refused" in line)
    assert f"secret '{service.secret_prefix}nam' (AWSCURRENT)" in refused
    assert "Traceback" not in "\n".join(observed.log_lines)
    assert emulator.token_requests == 0


# --- 5. concurrent proofs of one pending version: one VCC request, one true answer -------------
def test_two_runs_proving_one_pending_version_ask_vcc_once_and_both_say_promoted(
    routed: Service, emulator: VccEmulator
) -> None:
    # Given VCC's re-issued secret stored as pending, and a VCC slow enough for runs to overlap
    emulator.reissue(ADMIN.client_id, REISSUED, previous_for=0)
    document = {
        "client_id": ADMIN.client_id,
        "client_secret": REISSUED,
        "scopes": ROUTES["emea"]["admin"],
    }
    store_pending(routed, ADMIN_SECRET, document)
    emulator.latency = 0.5
    # When two runs (say the operator's and the schedule's) prove it at once
    answers: list[Any] = []
    rotations = [wiring.rotation(), wiring.rotation()]

    def prove(rotation: Any) -> None:
        answers.append(rotation.promote_pending(RotationRequest("emea", "admin", None)))

    threads = [threading.Thread(target=prove, args=(rotation,)) for rotation in rotations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Then VCC was asked once, and both say it is rotated (which it is)
    assert emulator.token_requests == 1
    assert [answer.rotated for answer in answers] == [True, True]
    assert sorted(answer.reason for answer in answers) == [
        ALREADY_PROMOTED,
        "promoted after VCC granted 'interaction-content:delete' with it",
    ]
    assert stage(routed, "admin", "AWSCURRENT")["client_secret"] == REISSUED


def test_an_operator_whose_rotation_a_scheduled_run_completed_is_told_so(
    routed: Service,
    emulator: VccEmulator,
    lambda_functions: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a scheduled run that proves and promotes the pending secret just before the
    # operator's own invocation reaches the refresher
    emulator.reissue(ADMIN.client_id, REISSUED, previous_for=0)
    refresher = lambda_functions[REFRESHER]

    def scheduled_first(event: dict[str, Any], context: Any) -> Any:
        assert scheduled_run()["rotations"]["emea/admin"].startswith("promoted")
        return refresher(event, context)

    lambda_functions[REFRESHER] = scheduled_first
    # When the operator rotates
    assert rotate(routed, REISSUED, monkeypatch) == 0
    # Then they are told it is rotated (exit 0), and VCC was asked once
    assert f"emea/admin: rotated: {ALREADY_PROMOTED}" in capsys.readouterr().out
    assert emulator.token_requests == 1


# --- 6. rotation proves what it promotes ---------------------------------------------------------
def test_a_pending_secret_missing_a_routed_scope_is_refused_before_vcc(
    routed: Service,
    emulator: VccEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a re-issued admin secret whose document lists only one of its two routed scopes
    emulator.reissue(ADMIN.client_id, REISSUED, previous_for=0)
    document = {"client_id": ADMIN.client_id, "client_secret": REISSUED, "scopes": ["users:write"]}
    # When the operator rotates with it
    assert rotate(routed, json.dumps(document), monkeypatch) == Exit.NOT_ROTATED
    # Then it is refused naming the missing scope, without a request to VCC; nothing moved
    said = capsys.readouterr().out
    assert "does not list interaction-content:delete, routed to this credential" in said
    assert emulator.token_requests == 0
    assert stage(routed, "admin", "AWSCURRENT")["client_secret"] == ADMIN.client_secret


# --- 7. the renewal set follows the routes -------------------------------------------------------
def test_keys_the_routes_no_longer_use_are_neither_renewed_nor_counted(
    routed: Service, emulator: VccEmulator
) -> None:
    # Given a due token of users:read under the admin's credential, from before users:read
    # moved to the supervisor's (today's routes)
    due(routed, "emea", "users:read", "admin")
    # When the scheduled refresher runs
    summary = scheduled_run()
    # Then it is an orphan: not renewed, no grant asked of VCC, nothing counted against admin
    assert (summary["orphaned"], summary["renewed"], summary["failed"]) == (1, 0, [])
    assert emulator.token_requests == 0
    assert not renewed(routed, "emea", "users:read", "admin")


# --- purge refuses what names nothing ------------------------------------------------------------
def test_purge_refuses_an_unknown_scope_or_credential_with_exit_2(
    routed: Service, vend_handler: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke(vend_handler, api_event("emea", "users:write")).status == 200
    purge = ["admin", "purge", "--table", routed.table_name, "--region", "emea", "--yes"]
    with pytest.raises(SystemExit) as typo:
        vcc_token([*purge, "--scope", "users:wirte"])
    assert typo.value.code == 2
    assert (
        "unknown scope 'users:wirte'; allowed: agents-availability:read" in capsys.readouterr().err
    )
    assert vcc_token([*purge, "--credential", "admn"]) == 2
    said = capsys.readouterr().err
    assert "credential 'admn' of emea has no cached token or health record" in said
    assert "it has: admin" in said
    assert len(routed.dynamodb.scan(TableName=routed.table_name)["Items"]) >= 1  # nothing removed
