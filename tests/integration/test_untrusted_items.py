"""Items already in the table are untrusted input: one that does not parse or open is treated as
no token, healed by one fetch whatever its attributes say, skipped and counted by the
refresher, shown as unreadable by `admin status`; and the once-per-interval refresh bound holds
in every item state. Raw edits of items on moto server; VCC's grants counted at the emulator."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest
from vcc_token_client.cli import main as vcc_token

from local.lambda_runtime import LambdaContext, load_function
from local.vcc_emulator import VccEmulator
from tests.conftest import Service
from tests.support import api_event, invoke, load_event
from vcc_token_contract.item import USABLE, KeyState
from vcc_tokens import wiring
from vcc_tokens.values.tokens import Key

pytestmark = pytest.mark.integration

SCOPE = "agents-availability:read"


def edit_item(service: Service, region: str, expression: str, values: dict[str, Any]) -> None:
    """A raw edit of the key's item, as an operator's mistake or an attacker would make it."""
    service.dynamodb.update_item(
        TableName=service.table_name,
        Key={"cache_key": {"S": f"{region}#{SCOPE}"}},
        UpdateExpression=expression,
        **({"ExpressionAttributeValues": values} if values else {}),
    )


UNREADABLE = {
    "expiry-raised": ("SET expires_at = :later", {":later": {"N": str(10**12)}}),
    "token-type-missing": ("REMOVE token_type", {}),
    "ciphertext-altered": ("SET access_token_ciphertext = :junk", {":junk": {"B": b"x" * 64}}),
    "fetched-at-not-a-number": ("SET fetched_at = :junk", {":junk": {"N": "1e400"}}),
}


@pytest.mark.parametrize("damage", list(UNREADABLE))
def test_an_unreadable_item_is_healed_by_one_fetch_for_every_instance(
    service: Service, emulator: VccEmulator, vend_handler: Any, damage: str
) -> None:
    # Given a cached token whose item was damaged
    service.put_token("emea", SCOPE, "damaged-token", int(time.time()) + 600)
    edit_item(service, "emea", *UNREADABLE[damage])
    # When six cold instances ask for it
    answers = []
    for _ in range(6):
        wiring.reset()
        answers.append(invoke(vend_handler, api_event("emea", SCOPE)))
    # Then it was never served; one fetch replaced it and everyone got that token
    assert {answer.status for answer in answers} == {200}
    assert "damaged-token" not in {answer.body["access_token"] for answer in answers}
    assert len({answer.body["access_token"] for answer in answers}) == 1
    assert emulator.token_requests == 1
    healed = service.cached_token("emea", SCOPE)
    assert healed is not None
    assert healed.access_token == answers[0].body["access_token"]


def test_the_refresher_skips_and_counts_unreadable_items_and_renews_the_rest(
    service: Service, emulator: VccEmulator
) -> None:
    # Given an unreadable item, and another key due for renewal that callers still want
    now = int(time.time())
    service.put_token("emea", SCOPE, "damaged-token", now + 600)
    edit_item(service, "emea", *UNREADABLE["token-type-missing"])
    service.put_token("nam", SCOPE, "due-token", now + 100)
    service.table.touch(Key("nam", SCOPE), time.time())
    # When the scheduled refresher runs
    refresher = load_function("refresher").lambda_handler
    summary = refresher(load_event("scheduled_renewal.json"), LambdaContext("scheduled"))
    # Then it renewed the due key, counted the unreadable one, and failed nothing
    assert (summary["renewed"], summary["unreadable"], summary["failed"]) == (1, 1, [])
    renewed = service.cached_token("nam", SCOPE)
    assert renewed is not None
    assert renewed.access_token != "due-token"
    assert emulator.token_requests == 1


def test_admin_status_shows_unreadable_items_and_exits_0(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time())
    service.put_token("emea", SCOPE, "damaged-token", now + 600)
    edit_item(service, "emea", *UNREADABLE["expiry-raised"])
    service.put_token("nam", SCOPE, "fine-token", now + 600)
    assert vcc_token(["admin", "status", "--table", service.table_name, "--json"]) == 0
    rows = {row["key"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[f"emea#{SCOPE}"]["state"] == KeyState.UNREADABLE
    assert rows[f"nam#{SCOPE}"]["state"] == USABLE


def refresh_event(rejected_sha256: str | None) -> dict[str, Any]:
    event = load_event("refresh_token_emea_agents_availability.json")
    body = {"rejected_token_sha256": rejected_sha256} if rejected_sha256 else None
    event["body"] = json.dumps(body) if body else None
    return event


@pytest.mark.parametrize("state", ["valid", "expired", "unreadable", "absent"])
def test_refreshes_quoting_any_hash_fetch_once_per_interval_in_every_item_state(
    service: Service, emulator: VccEmulator, vend_handler: Any, state: str
) -> None:
    # Given the key's item in this state
    now = int(time.time())
    if state != "absent":
        service.put_token("emea", SCOPE, "old-token", now + (600 if state != "expired" else -60))
    if state == "unreadable":
        edit_item(service, "emea", *UNREADABLE["ciphertext-altered"])
    # When five refreshes each quote a hash of some other token
    answers = [invoke(vend_handler, refresh_event(secrets.token_hex(32))) for _ in range(5)]
    # Then VCC is asked at most once (never while a valid token is not the rejected one)
    assert {answer.status for answer in answers} == {200}
    assert emulator.token_requests == (0 if state == "valid" else 1)
    assert len({answer.body["access_token"] for answer in answers}) == 1


def test_admin_status_reads_a_damaged_health_item_as_missing_fields(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    service.dynamodb.put_item(
        TableName=service.table_name,
        Item={
            "cache_key": {"S": "health#emea#admin"},
            "last_rotation": {"N": "1"},  # not text
            "last_rotation_at": {"S": "yesterday"},  # not a number
            "last_rejection_at": {"N": "1796000000"},
            "last_rejection_code": {"BOOL": True},
        },
    )
    assert vcc_token(["admin", "status", "--table", service.table_name, "--json"]) == 0
    (row,) = [r for r in json.loads(capsys.readouterr().out) if "key" not in r]
    assert row["credential"] == "emea/admin"
    assert row["last_rotation"] is None
    assert row["last_rejection"].startswith("rejected at ")
