"""POST /oauth2/token answers like an RFC 6749 token endpoint (client-credentials grant)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from local.vcc_emulator import VccEmulator
from tests.conftest import Service
from tests.support import api_event, invoke

pytestmark = pytest.mark.integration

FORM = "application/x-www-form-urlencoded"


def token_request(
    fields: dict[str, str] | str, content_type: str = FORM, query: dict[str, str] | None = None
) -> dict[str, Any]:
    request = api_event("emea", "stats", query)
    request.update(httpMethod="POST", path="/oauth2/token", resource="/oauth2/token")
    request["body"] = fields if isinstance(fields, str) else urlencode(fields)
    request["headers"] = {**request["headers"], "Content-Type": content_type}
    request["multiValueHeaders"] = {k: [v] for k, v in request["headers"].items()}
    return request


def test_a_client_credentials_request_gets_an_rfc_6749_answer(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    answer = invoke(
        vend_handler,
        token_request({"grant_type": "client_credentials", "scope": "users:read", "region": "nam"}),
    )
    assert answer.status == 200
    assert set(answer.body) == {"access_token", "token_type", "expires_in", "scope"}
    assert (answer.body["token_type"], answer.body["scope"]) == ("Bearer", "users:read")
    assert 0 < answer.body["expires_in"] <= 900
    assert answer.body["access_token"] in emulator.issued
    assert emulator.requests_by_region == {"nam": 1}
    assert (answer.headers["Cache-Control"], answer.headers["Pragma"]) == ("no-store", "no-cache")
    # The same key through GET is the same cached token
    same = invoke(vend_handler, api_event("nam", "users:read"))
    assert same.body["access_token"] == answer.body["access_token"]


def test_the_region_defaults_to_the_configured_one(
    service: Service, emulator: VccEmulator, vend_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vcc_tokens import wiring

    monkeypatch.setenv("DEFAULT_VCC_REGION", "apac")
    wiring.reset()
    answer = invoke(
        vend_handler, token_request({"grant_type": "client_credentials", "scope": "stats"})
    )
    assert answer.status == 200
    assert emulator.requests_by_region == {"apac": 1}


@pytest.mark.parametrize(
    ("fields", "content_type", "status", "error"),
    [
        ({"scope": "stats"}, FORM, 400, "invalid_request"),
        ({"grant_type": "password", "scope": "stats"}, FORM, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, FORM, 400, "invalid_scope"),
        (
            {"grant_type": "client_credentials", "scope": "stats users:read"},
            FORM,
            400,
            "invalid_scope",
        ),
        (
            {"grant_type": "client_credentials", "scope": "newvoicemedia/api/stats"},
            FORM,
            400,
            "invalid_scope",
        ),
        ({"grant_type": "client_credentials", "scope": "globalpci"}, FORM, 400, "invalid_scope"),
        (
            {"grant_type": "client_credentials", "scope": "stats", "region": "mars"},
            FORM,
            400,
            "invalid_request",
        ),
        (
            {"grant_type": "client_credentials", "scope": "stats", "client_secret": "x"},
            FORM,
            400,
            "invalid_request",
        ),
        ('{"grant_type": "client_credentials"}', "application/json", 400, "invalid_request"),
        (
            "grant_type=client_credentials&grant_type=password&scope=stats",
            FORM,
            400,
            "invalid_request",
        ),
    ],
)
def test_errors_are_in_rfc_6749_form(
    service: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    fields: dict[str, str] | str,
    content_type: str,
    status: int,
    error: str,
) -> None:
    answer = invoke(vend_handler, token_request(fields, content_type))
    assert (answer.status, answer.body["error"]) == (status, error)
    assert set(answer.body) == {"error", "error_description"}
    assert answer.body["error_description"]


def test_a_caller_without_the_entitlement_gets_invalid_scope(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    service.set_entitlements({"version": 1, "rules": []})
    answer = invoke(
        vend_handler, token_request({"grant_type": "client_credentials", "scope": "stats"})
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_scope")
    assert emulator.token_requests == 0


def test_vcc_being_down_is_temporarily_unavailable_with_retry_after(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    emulator.fail_next("server_error", count=3)
    answer = invoke(
        vend_handler, token_request({"grant_type": "client_credentials", "scope": "stats"})
    )
    assert (answer.status, answer.body["error"]) == (503, "temporarily_unavailable")
    assert answer.headers["Retry-After"] in ("1", "2")  # what the failure memory enforces


def test_parameters_in_the_query_are_refused(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    answer = invoke(
        vend_handler,
        token_request({"grant_type": "client_credentials"}, query={"scope": "stats"}),
    )
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")
