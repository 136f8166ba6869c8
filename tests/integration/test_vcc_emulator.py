"""The emulator speaks VCC's token protocol as docs/vcc-authentication.md describes it."""

import base64
import hashlib
import time

import pytest
import requests

from local.vcc_emulator import DEMO_CLIENTS, VccEmulator, describe
from tests.conftest import CLIENTS
from vcc_tokens.vcc.upstream import basic_authorization

pytestmark = pytest.mark.integration

EMEA, _ = CLIENTS["emea"]
NAM, _ = CLIENTS["nam"]


def post(
    emulator: VccEmulator,
    data: dict[str, str],
    headers: dict[str, str] | None = None,
    path: str = "/emea/Auth/connect/token",
) -> requests.Response:
    return requests.post(emulator.base_url + path, data=data, headers=headers, timeout=5)


def form(
    client_id: str = EMEA.client_id, secret: str = EMEA.client_secret, **extra: str
) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        "scope": "agents-availability:read",
        **extra,
    }


@pytest.mark.parametrize(
    "path", ["/Auth/connect/token", "/auth/connect/token", "/apac/Auth/connect/token"]
)
def test_body_credentials_get_a_bearer_token(emulator: VccEmulator, path: str) -> None:
    answer = post(emulator, form(), path=path)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 900)
    assert body["access_token"].count(".") == 2  # shaped like a JWT, opaque to us
    assert answer.headers["Cache-Control"] == "no-store"
    assert emulator.token_requests == 1


def test_basic_credentials_are_form_encoded_before_base64(emulator: VccEmulator) -> None:
    headers = {"Authorization": basic_authorization(NAM.client_id, NAM.client_secret)}
    answer = post(emulator, {"grant_type": "client_credentials", "scope": "stats"}, headers)
    assert answer.status_code == 200
    raw = base64.b64encode(f"{NAM.client_id}:{NAM.client_secret}".encode()).decode()
    unencoded = post(
        emulator,
        {"grant_type": "client_credentials", "scope": "stats"},
        {"Authorization": f"Basic {raw}"},
    )
    assert (unencoded.status_code, unencoded.json()) == (401, {"error": "invalid_client"})


def test_wrong_secret_is_invalid_client(emulator: VccEmulator) -> None:
    answer = post(emulator, form(secret="nope"))
    assert (answer.status_code, answer.json()) == (400, {"error": "invalid_client"})


def test_both_authentication_methods_at_once_are_refused(emulator: VccEmulator) -> None:
    headers = {"Authorization": basic_authorization(EMEA.client_id, EMEA.client_secret)}
    answer = post(emulator, form(), headers)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        (
            {"scope": ""},
            {"error": "invalid_scope", "error_description": "You must specify a scope"},
        ),
        (
            {"scope": "newvoicemedia/api/stats"},
            {
                "error": "invalid_scope",
                "error_description": '"newvoicemedia/api/stats" is an invalid scope',
            },
        ),
        (
            {"scope": "globalpci"},
            {"error": "invalid_scope", "error_description": '"globalpci" is an invalid scope'},
        ),
        (
            {"grant_type": "password"},
            {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"},
        ),
    ],
)
def test_documented_error_bodies(
    emulator: VccEmulator, changes: dict[str, str], error: dict[str, str]
) -> None:
    answer = post(emulator, form(**changes))
    assert (answer.status_code, answer.json()) == (400, error)


def test_injected_failures_are_served_in_order_then_normal_service(emulator: VccEmulator) -> None:
    emulator.fail_next("rate_limited")
    emulator.fail_next("server_error")
    first, second, third = (post(emulator, form()) for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert (second.status_code, second.json()["error"]) == (500, "Internal Server Error")
    assert third.status_code == 200
    assert emulator.stats()["token_requests"] == 3


def test_configurable_expires_in_and_latency(emulator: VccEmulator) -> None:
    emulator.expires_in, emulator.latency = None, 0.2
    started = time.monotonic()
    answer = post(emulator, form())
    assert time.monotonic() - started >= 0.2
    assert "expires_in" not in answer.json()


def test_control_endpoints(emulator: VccEmulator) -> None:
    failed = requests.post(
        emulator.base_url + "/_emulator/fail", json={"failure": "server_error"}, timeout=5
    )
    assert failed.json()["pending_failures"] == ["server_error"]
    assert post(emulator, form()).status_code == 500
    stats = requests.get(emulator.base_url + "/_emulator/stats", timeout=5).json()
    assert (stats["token_requests"], stats["requests_by_region"]) == (1, {"emea": 1})
    unknown = requests.post(
        emulator.base_url + "/_emulator/fail", json={"failure": "gremlins"}, timeout=5
    )
    assert unknown.status_code == 400
    flood = {"failure": "server_error", "count": 10**9}  # bounded, not a billion-long queue
    fail = emulator.base_url + "/_emulator/fail"
    assert requests.post(fail, json=flood, timeout=5).status_code == 400
    token_url = emulator.base_url + "/emea/Auth/connect/token"
    assert requests.post(token_url, data=b"x" * 70_000, timeout=5).status_code == 413


def test_the_api_accepts_only_live_tokens_it_issued(emulator: VccEmulator) -> None:
    token = post(emulator, form()).json()["access_token"]
    api = emulator.base_url + "/emea/agents-availability?skillNames=French,English"
    accepted = requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert accepted.status_code == 200
    for authorization in ("Bearer not-issued", f"Basic {token}", ""):
        refused = requests.get(api, headers={"Authorization": authorization}, timeout=5)
        assert (refused.status_code, refused.json()) == (
            401,
            {"message": "The access token is invalid or has expired"},
        )


def test_a_revoked_token_is_refused_by_the_api(emulator: VccEmulator) -> None:
    kept, revoked = (post(emulator, form()).json()["access_token"] for _ in range(2))
    digest = hashlib.sha256(revoked.encode()).hexdigest()
    answer = requests.post(
        emulator.base_url + "/_emulator/revoke", json={"token_sha256": digest}, timeout=5
    )
    assert answer.json() == {"revoked": 1}
    api = emulator.base_url + "/agents-availability"
    assert (
        requests.get(api, headers={"Authorization": f"Bearer {revoked}"}, timeout=5).status_code
        == 401
    )
    assert (
        requests.get(api, headers={"Authorization": f"Bearer {kept}"}, timeout=5).status_code == 200
    )
    assert emulator.stats()["api_requests"] == 2


def test_injected_failures_and_counters_can_be_reset(emulator: VccEmulator) -> None:
    url = emulator.base_url
    requests.post(url + "/_emulator/fail", json={"failure": "server_error", "count": 3}, timeout=5)
    assert (
        requests.get(url + "/_emulator/stats", timeout=5).json()["pending_failures"]
        == ["server_error"] * 3
    )
    stats = requests.post(url + "/_emulator/reset", timeout=5).json()
    assert (stats["pending_failures"], stats["token_requests"]) == ([], 0)


def test_run_alone_it_prints_its_routes_and_demo_clients() -> None:
    with VccEmulator(DEMO_CLIENTS) as alone:
        text = describe(alone)
    assert f"POST {alone.base_url}/{{region}}/Auth/connect/token" in text
    assert f"GET  {alone.base_url}/{{region}}/agents-availability" in text
    assert "/_emulator/reset" in text
    demo = DEMO_CLIENTS[0]
    assert f"client_id={demo.client_id} client_secret={demo.client_secret}" in text


def test_a_client_dropping_its_connection_is_not_a_traceback(
    emulator: VccEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    server = emulator._server  # what socketserver calls when a request's handler raised
    for dropped in (ConnectionResetError(104, "reset"), BrokenPipeError(32, "pipe")):
        try:
            raise dropped
        except OSError:
            server.handle_error(None, ("127.0.0.1", 1))
    assert "Traceback" not in capsys.readouterr().err
    try:
        raise ValueError("a real bug")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert "ValueError: a real bug" in capsys.readouterr().err
