"""Tokens are cached sealed (a KMS data key and AES-GCM), bound to their cache key and expiry
metadata: a ciphertext moved to another item, altered, or given a later expiry is never served;
the token is fetched again. Tokens of any size VCC may issue are stored and served."""

from __future__ import annotations

from typing import Any

import pytest

from local.vcc_emulator import VccEmulator
from tests.conftest import Observed, Service
from tests.support import api_event, invoke
from vcc_tokens import wiring
from vcc_tokens.aws.table import MAX_TOKEN_BYTES

pytestmark = pytest.mark.integration

SEALED_ATTRIBUTES = ("access_token_ciphertext", "data_key")


def sealed(service: Service, region: str, scope: str) -> dict[str, Any]:
    item = service.cached_item(region, scope)
    assert item is not None
    return {name: item[name] for name in SEALED_ATTRIBUTES}


def set_attributes(service: Service, region: str, scope: str, values: dict[str, Any]) -> None:
    names = {f"#{name}": name for name in values}
    service.dynamodb.update_item(
        TableName=service.table_name,
        Key={"cache_key": {"S": f"{region}#{scope}"}},
        UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":{name}": value for name, value in values.items()},
    )


def test_a_ciphertext_moved_to_another_key_is_not_served(
    service: Service, emulator: VccEmulator, vend_handler: Any, observed: Observed
) -> None:
    payments = invoke(vend_handler, api_event("emea", "stats")).body["access_token"]
    invoke(vend_handler, api_event("nam", "stats"))
    # An attacker with table write access copies one key's sealed token into another item
    set_attributes(service, "nam", "stats", sealed(service, "emea", "stats"))
    wiring.reset()  # a fresh instance: nothing in memory
    served = invoke(vend_handler, api_event("nam", "stats"))
    assert served.status == 200
    assert served.body["access_token"] != payments
    assert emulator.token_requests == 3  # fetched again
    assert any("does not open for its item" in line for line in observed.log_lines)


def test_a_tampered_ciphertext_is_not_served(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    first = invoke(vend_handler, api_event("apac", "users:read")).body["access_token"]
    blob = bytearray(sealed(service, "apac", "users:read")["access_token_ciphertext"]["B"])
    blob[-3] ^= 0x01
    set_attributes(service, "apac", "users:read", {"access_token_ciphertext": {"B": bytes(blob)}})
    wiring.reset()
    served = invoke(vend_handler, api_event("apac", "users:read"))
    assert served.status == 200
    assert served.body["access_token"] != first
    assert emulator.token_requests == 2


@pytest.mark.parametrize("attribute", ["expires_at", "fetched_at"])
def test_an_item_whose_expiry_was_changed_is_not_served(
    service: Service, emulator: VccEmulator, vend_handler: Any, attribute: str
) -> None:
    # Given an old token whose item an attacker gives a later expiry (or a later fetch time)
    first = invoke(vend_handler, api_event("emea", "users:read")).body["access_token"]
    item = service.cached_item("emea", "users:read") or {}
    later = str(int(item[attribute]["N"]) + 3600)
    set_attributes(service, "emea", "users:read", {attribute: {"N": later}})
    wiring.reset()
    # When a fresh instance reads it, Then it does not open and a new token is fetched
    served = invoke(vend_handler, api_event("emea", "users:read"))
    assert served.status == 200
    assert served.body["access_token"] != first
    assert emulator.token_requests == 2


def test_the_table_holds_no_token_in_clear(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    token = invoke(vend_handler, api_event("emea", "stats")).body["access_token"]
    items = service.dynamodb.scan(TableName=service.table_name)["Items"]
    assert token not in repr(items)


@pytest.mark.parametrize("size", [1024, 5 * 1024, 20 * 1024, 64 * 1024])
def test_tokens_of_any_size_vcc_may_issue_are_cached_and_served(
    service: Service, emulator: VccEmulator, vend_handler: Any, size: int
) -> None:
    # Given VCC issuing a token of `size` bytes (KMS Encrypt alone takes at most 4,096)
    emulator.token_size = size
    issued = invoke(vend_handler, api_event("emea", "stats"))
    assert issued.status == 200
    assert len(issued.body["access_token"]) == size
    # When a fresh instance (nothing in memory) asks, Then DynamoDB serves the same token
    wiring.reset()
    served = invoke(vend_handler, api_event("emea", "stats"))
    assert served.body["access_token"] == issued.body["access_token"]
    assert emulator.token_requests == 1


def test_a_token_too_large_to_cache_is_a_502_asked_for_once_per_backoff(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    # Given VCC issuing tokens larger than a DynamoDB item can hold
    emulator.token_size = MAX_TOKEN_BYTES + 1
    first = invoke(vend_handler, api_event("emea", "stats"))
    assert (first.status, first.body["error"]) == (502, "upstream_bad_response")
    assert f"at most {MAX_TOKEN_BYTES} bytes" in first.body["message"]
    # When more callers ask, from this instance and a fresh one
    again = invoke(vend_handler, api_event("emea", "stats"))
    wiring.reset()
    elsewhere = invoke(vend_handler, api_event("emea", "stats"))
    # Then they get the same answer at once, and VCC was asked once
    for answer in (again, elsewhere):
        assert (answer.status, answer.body["error"]) == (502, "upstream_bad_response")
        assert int(answer.headers["Retry-After"]) >= 1
    assert emulator.token_requests == 1
