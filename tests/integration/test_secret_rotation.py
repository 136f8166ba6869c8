"""A secret rotated in Secrets Manager works from the next request on, without a redeploy, even
while the old value is still in the function's parameter cache."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.vcc_emulator import Client, VccEmulator
from tests.conftest import CLIENTS, Observed, Service
from tests.support import api_event, invoke

pytestmark = pytest.mark.integration


def rotate_at_vcc(emulator: VccEmulator, region: str, new_secret: str) -> Client:
    """VCC re-issues the client's secret: the old one stops working at once."""
    old, _ = CLIENTS[region]
    rotated = Client(old.client_id, new_secret, old.scopes)
    emulator.clients[old.client_id] = rotated
    return rotated


def test_a_rotated_secret_is_read_again_and_the_request_succeeds(
    service: Service, emulator: VccEmulator, vend_handler: Any, observed: Observed
) -> None:
    # Given the emea secret cached in memory by a first request
    assert invoke(vend_handler, api_event("emea", "stats")).status == 200
    # When VCC re-issues the secret and Secrets Manager is updated with it
    rotated = rotate_at_vcc(emulator, "emea", "rotated-" + CLIENTS["emea"][0].client_secret)
    service.set_secret("emea", rotated.client_id, rotated.client_secret, None)
    # Then the next fetch is rejected once, the secret re-read, and the retry succeeds
    response = invoke(vend_handler, api_event("emea", "users:read"))
    assert response.status == 200
    assert emulator.token_requests == 3
    assert rotated.client_secret not in "\n".join(observed.log_lines)


def test_rejected_credentials_that_did_not_change_are_a_502_without_retry(
    service: Service, emulator: VccEmulator, vend_handler: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke(vend_handler, api_event("emea", "stats")).status == 200
    # VCC re-issued the secret, but nobody updated Secrets Manager
    rotate_at_vcc(emulator, "emea", "issued-but-not-stored")
    response = invoke(vend_handler, api_event("emea", "users:read"))
    assert (response.status, response.body["error"]) == (502, "upstream_rejected_credentials")
    assert "emea client credentials" in response.body["message"]
    assert emulator.token_requests == 2  # the first vend, and one rejected attempt
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    # counted per credential: the health alarm's series
    assert any(metric.get("CredentialRejections") == [1.0] for metric in emitted)
    assert [m["Credential"] for m in emitted if "CredentialRejections" in m] == ["emea/default"]
