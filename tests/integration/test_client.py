"""The client package and its CLI against `make run`'s stack (SigV4, the service, moto and the
VCC emulator with its Agents Availability API), not mocks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session
import pytest
import requests
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session
from vcc_token_client import (
    BadRequest,
    Forbidden,
    ForeignOrigin,
    ServiceUnreachable,
    SigV4RequestsAuth,
    TokenClient,
    UpstreamUnavailable,
)

from local.vcc_emulator import VccEmulator
from tests.stack_support import CALLERS, Stack, running_stack

pytestmark = pytest.mark.integration

ORDERS, REPORTS, ENGINEER, _OUTSIDER = CALLERS  # local/callers.json, local/entitlements.json


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from running_stack()


def aws_session(caller: dict[str, str]) -> botocore.session.Session:
    session = botocore.session.Session()
    session.set_credentials(caller["access_key_id"], caller["secret_access_key"])
    session.set_config_variable("region", "eu-west-1")
    return session


class CountingSession(requests.Session):
    """A real requests.Session that counts the requests it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self._count_lock = threading.Lock()

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        with self._count_lock:
            self.sent += 1
        return super().request(*args, **kwargs)


def client_for(stack: Stack, caller: dict[str, str] = ORDERS, **options: Any) -> TokenClient:
    """A client whose tokens go to the stack's VCC emulator (its Agents Availability API)."""
    options.setdefault("api_base_url", stack.emulator_url + "/{region}")
    return TokenClient(stack.url, botocore_session=aws_session(caller), **options)


def emulator_stats(stack: Stack) -> dict[str, Any]:
    return requests.get(stack.emulator_url + "/_emulator/stats", timeout=5).json()  # type: ignore[no-any-return]


def test_a_token_is_reused_until_within_min_ttl(vcc_token_services: Any) -> None:
    # The caller side only: the service's test double (tokens of 500 s) stands in for the service
    service = vcc_token_services(lifetime=500)
    client = TokenClient(service.url, botocore_session=aws_session(ORDERS))
    first = client.token("emea", "agents-availability:read")
    second = client.token("emea", "agents-availability:read")
    assert second is first
    assert len(service.received) == 1
    assert first.seconds_left() > 400
    # A client that wants more time than the token has left asks the service again
    demanding = TokenClient(service.url, botocore_session=aws_session(ORDERS), min_ttl=600)
    demanding.token("emea", "agents-availability:read")
    assert [r.query for r in service.received] == ["min_ttl=60", "min_ttl=600"]


def test_vcc_401_is_recovered_once_through_the_refresh_endpoint(stack: Stack) -> None:
    client = client_for(stack, REPORTS)
    api = stack.emulator_url + "/nam/agents-availability?skillNames=French"
    auth = client.bearer("nam", "stats")
    assert requests.get(api, auth=auth, timeout=10).status_code == 200
    rejected = client.token("nam", "stats")
    # VCC revokes every token it issued (as after a credentials change on its side)
    assert requests.post(stack.emulator_url + "/_emulator/revoke", json={}, timeout=5).ok
    recovered = requests.get(api, auth=auth, timeout=10)
    assert recovered.status_code == 200
    assert [r.status_code for r in recovered.history] == [401]
    assert client.token("nam", "stats").access_token != rejected.access_token
    # Another caller sees the replacement too: the service cached it
    other = client_for(stack, ENGINEER).token("nam", "stats")
    assert other.access_token == client.token("nam", "stats").access_token


def test_a_second_401_is_returned_not_retried_again(stack: Stack, emulator: VccEmulator) -> None:
    # An API (the tests' own emulator) that never issued the stack's tokens: every call is 401
    client = client_for(stack, REPORTS, api_base_url=emulator.base_url + "/{region}")
    answer = requests.get(
        emulator.base_url + "/apac/agents-availability",
        auth=client.bearer("apac", "stats"),
        timeout=10,
    )
    assert answer.status_code == 401
    assert [r.status_code for r in answer.history] == [401]  # one retry, then the answer
    assert emulator.stats()["api_requests"] == 2


@pytest.mark.parametrize(
    ("caller", "region", "scope", "error", "code"),
    [
        (ORDERS, "apac", "agents-availability:read", Forbidden, "forbidden"),
        (ORDERS, "emea", "agents-availability:write", BadRequest, "unknown_scope"),
        (ORDERS, "mars", "stats", BadRequest, "unknown_region"),
        (
            {"access_key_id": "LOCALSTRANGER0000001", "secret_access_key": "x"},
            "emea",
            "stats",
            Forbidden,
            "gateway",
        ),
    ],
)
def test_errors_carry_the_service_code_and_message(
    stack: Stack, caller: dict[str, str], region: str, scope: str, error: type[Exception], code: str
) -> None:
    with pytest.raises(error) as caught:
        client_for(stack, caller).token(region, scope)
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert caught.value.message  # type: ignore[attr-defined]


def test_vcc_down_is_upstream_unavailable_with_retry_after(stack: Stack) -> None:
    requests.post(
        stack.emulator_url + "/_emulator/fail",
        json={"failure": "server_error", "count": 3},
        timeout=5,
    )
    with pytest.raises(UpstreamUnavailable) as caught:
        client_for(stack, REPORTS).token("emea", "interaction-content:read")
    assert caught.value.status == 503
    assert caught.value.retry_after in (1, 2)  # the failure memory's first backoff: 1 to 2 s


def test_an_unreachable_service_is_service_unreachable() -> None:
    client = TokenClient("http://127.0.0.1:1", botocore_session=aws_session(ORDERS), timeout=2)
    with pytest.raises(ServiceUnreachable):
        client.token("emea", "stats")


def test_threads_share_one_request_per_key(vcc_token_service: Any) -> None:
    client = TokenClient(vcc_token_service.url, botocore_session=aws_session(REPORTS))
    barrier = threading.Barrier(16)
    tokens: list[str] = []

    def ask() -> None:
        barrier.wait(timeout=30)
        tokens.append(client.token("apac", "users:read").access_token)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(tokens) == 16
    assert len(set(tokens)) == 1
    assert len(vcc_token_service.received) == 1


def test_a_standard_oauth2_library_gets_tokens_with_sigv4_added(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the local stack is http on loopback
    oauth = OAuth2Session(client=BackendApplicationClient(client_id="iam-authenticated"))
    token = oauth.fetch_token(
        stack.url + "/oauth2/token",
        auth=SigV4RequestsAuth(aws_session(REPORTS)),
        include_client_id=False,
        scope=["users:read"],
        region="nam",
    )
    assert token["token_type"] == "Bearer"
    assert token["scope"] == ["users:read"]
    assert 0 < token["expires_in"] <= 900


def cli(
    stack: Stack | None, *args: str, caller: dict[str, str] = ORDERS
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": caller["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": caller["secret_access_key"],
        "AWS_REGION": "eu-west-1",
    }
    env.pop("AWS_SESSION_TOKEN", None)
    if stack is not None:
        env["VCC_TOKEN_SERVICE_URL"] = stack.url
    else:
        env.pop("VCC_TOKEN_SERVICE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "vcc_token_client.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_prints_the_token_a_header_or_the_whole_answer(stack: Stack) -> None:
    plain = cli(stack, "token", "emea", "users:read")
    assert plain.returncode == 0, plain.stderr
    token = plain.stdout.strip()
    assert token.count(".") == 2
    header = cli(stack, "token", "emea", "users:read", "--header")
    assert header.stdout.strip() == f"Authorization: Bearer {token}"
    whole = cli(stack, "token", "emea", "users:read", "--json")
    assert '"token_type": "Bearer"' in whole.stdout
    assert '"region": "emea"' in whole.stdout


@pytest.mark.parametrize(
    ("args", "with_stack", "code"),
    [
        (("token", "apac", "stats"), True, 3),  # forbidden
        (("token", "emea", "stats:write"), True, 2),  # bad input
        (("token", "emea"), True, 2),  # usage
        (("token", "emea", "stats"), False, 2),  # no URL
        (("--url", "http://127.0.0.1:1", "token", "emea", "stats"), False, 5),  # unreachable
    ],
)
def test_cli_exit_codes(stack: Stack, args: tuple[str, ...], with_stack: bool, code: int) -> None:
    done = cli(stack if with_stack else None, *args)
    assert done.returncode == code, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith(("vcc-token:", "usage:"))


class PeerServer:
    """A VCC API stand-in on loopback that answers every request the same way and records the
    Authorization headers it received."""

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.authorizations: list[str | None] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                peer.authorizations.append(self.headers.get("Authorization"))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def call_api(stack: Stack, api: PeerServer, times: int) -> tuple[list[int], CountingSession]:
    """`times` calls to `api` as its VCC API origin: their statuses, and the client's requests
    to the token service."""
    http = CountingSession()
    auth = client_for(stack, REPORTS, api_base_url=api.url, http=http).bearer("emea", "stats")
    statuses = [
        requests.get(api.url + "/agents-availability", auth=auth, timeout=10).status_code
        for _ in range(times)
    ]
    return statuses, http


def test_a_redirect_to_another_origin_never_carries_the_token(stack: Stack) -> None:
    # Given the VCC API origin redirecting to another address that answers 401
    elsewhere = PeerServer(401)
    api = PeerServer(302, {"Location": elsewhere.url + "/stolen"})
    try:
        # When a caller follows the redirect three times
        statuses, http = call_api(stack, api, 3)
    finally:
        api.stop()
        elsewhere.stop()
    # Then the other address never saw the token, and its 401 caused no refresh
    assert statuses == [401] * 3
    assert elsewhere.authorizations == [None] * 3
    assert all(a is not None and a.startswith("Bearer ") for a in api.authorizations)
    assert http.sent == 1  # one GET of the token, no refresh


def test_a_persistent_401_refreshes_once_per_interval(stack: Stack) -> None:
    # Given a VCC API that answers 401 to every token
    api = PeerServer(401)
    try:
        statuses, http = call_api(stack, api, 10)
    finally:
        api.stop()
    assert set(statuses) == {401}
    assert http.sent == 2  # the token once, one refresh: not one refresh per 401


def test_a_token_is_not_sent_to_another_origin_at_all(stack: Stack) -> None:
    elsewhere = PeerServer(200)
    client = client_for(stack, REPORTS)  # tokens for the stack's emulator
    try:
        with pytest.raises(ForeignOrigin, match="sent only to"):
            requests.get(
                elsewhere.url + "/agents-availability",
                auth=client.bearer("emea", "stats"),
                timeout=10,
            )
    finally:
        elsewhere.stop()
    assert elsewhere.authorizations == []
