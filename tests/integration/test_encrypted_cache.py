"""Tokens are cached encrypted under the KMS key, bound to their cache key: a ciphertext moved
to another item, or altered, is never served; the token is fetched again."""

from __future__ import annotations

from typing import Any

import pytest

from local.vcc_emulator import VccEmulator
from tests.conftest import Observed, Service
from tests.support import api_event, invoke
from vcc_tokens import wiring

pytestmark = pytest.mark.integration


def ciphertext(service: Service, region: str, scope: str) -> bytes:
    item = service.cached_item(region, scope)
    assert item is not None
    return bytes(item["access_token_ciphertext"]["B"])


def set_ciphertext(service: Service, region: str, scope: str, blob: bytes) -> None:
    service.dynamodb.update_item(
        TableName=service.table_name,
        Key={"cache_key": {"S": f"{region}#{scope}"}},
        UpdateExpression="SET access_token_ciphertext = :blob",
        ExpressionAttributeValues={":blob": {"B": blob}},
    )


def test_a_ciphertext_moved_to_another_key_is_not_served(
    service: Service, emulator: VccEmulator, vend_handler: Any, observed: Observed
) -> None:
    payments = invoke(vend_handler, api_event("emea", "stats")).body["access_token"]
    invoke(vend_handler, api_event("nam", "stats"))
    # An attacker with table write access copies one key's ciphertext into another item
    set_ciphertext(service, "nam", "stats", ciphertext(service, "emea", "stats"))
    wiring.reset()  # a fresh instance: nothing in memory
    served = invoke(vend_handler, api_event("nam", "stats"))
    assert served.status == 200
    assert served.body["access_token"] != payments
    assert emulator.token_requests == 3  # fetched again
    assert any("does not decrypt for its key" in line for line in observed.log_lines)


def test_a_tampered_ciphertext_is_not_served(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    first = invoke(vend_handler, api_event("apac", "users:read")).body["access_token"]
    blob = bytearray(ciphertext(service, "apac", "users:read"))
    blob[-3] ^= 0x01
    set_ciphertext(service, "apac", "users:read", bytes(blob))
    wiring.reset()
    served = invoke(vend_handler, api_event("apac", "users:read"))
    assert served.status == 200
    assert served.body["access_token"] != first
    assert emulator.token_requests == 2


def test_the_table_holds_no_token_in_clear(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    token = invoke(vend_handler, api_event("emea", "stats")).body["access_token"]
    items = service.dynamodb.scan(TableName=service.table_name)["Items"]
    assert token not in repr(items)
