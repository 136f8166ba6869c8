"""The callers' test double of the service (vcc_token_client.testing): its faults, its SigV4
check and entitlements, what it records, and its answers held to the real vend function's on
`make run`'s stack for the same requests (the contract test)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import requests
from vcc_token_client import (
    BadRequest,
    Forbidden,
    ServiceUnreachable,
    SigV4RequestsAuth,
    TokenClient,
    UpstreamUnavailable,
)
from vcc_token_client.testing import ServiceDouble
from vcc_token_client.testing.sigv4 import load_callers

from tests.stack_support import CALLERS, Stack, running_stack
from vcc_token_contract.api import MISSING_TOKEN

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ORDERS = CALLERS[0]  # arn:aws:iam::111122223333:role/orders-service: emea and nam, two scopes


def signer(caller: dict[str, str]) -> SigV4RequestsAuth:
    session = botocore.session.Session()
    session.set_credentials(caller["access_key_id"], caller["secret_access_key"])
    return SigV4RequestsAuth(session, region="eu-west-1")


@pytest.fixture
def local_double() -> Iterator[ServiceDouble]:
    """A double with make run's callers (signatures checked) and entitlement rules."""
    callers = load_callers(ROOT / "local" / "callers.json").values()
    rules = (ROOT / "local" / "entitlements.json").read_text(encoding="utf-8")
    with ServiceDouble(callers=callers, entitlements=rules) as service:
        yield service


def test_only_given_callers_signatures_pass_and_their_rules_apply(
    local_double: ServiceDouble,
) -> None:
    url = local_double.url + "/tokens/emea/users:read"
    assert requests.get(url, auth=signer(ORDERS), timeout=5).status_code == 200
    forged = {**ORDERS, "secret_access_key": "not-the-secret"}
    refused = requests.get(url, auth=signer(forged), timeout=5)
    assert refused.status_code == 403
    assert "signature" in refused.json()["message"]
    unknown = {"access_key_id": "AKIAUNKNOWN000000000", "secret_access_key": "x"}
    assert requests.get(url, auth=signer(unknown), timeout=5).status_code == 403
    unsigned = requests.get(url, timeout=5)
    assert (unsigned.status_code, unsigned.json()) == (403, {"message": MISSING_TOKEN})
    apac = local_double.url + "/tokens/apac/users:read"
    not_entitled = requests.get(apac, auth=signer(ORDERS), timeout=5)
    assert (not_entitled.status_code, not_entitled.json()["error"]) == (403, "forbidden")
    callers = [r.caller for r in local_double.received]
    assert callers == [ORDERS["principal_arn"], None, None, None, ORDERS["principal_arn"]]


def test_the_client_sees_each_scripted_refusal_as_its_own_error(
    vcc_token_service: ServiceDouble, vcc_token_credentials: None
) -> None:
    client = TokenClient(vcc_token_service.url)
    vcc_token_service.refuse_next(503, retry_after=7)
    with pytest.raises(UpstreamUnavailable) as busy:
        client.token("nam", "users:read")
    assert (busy.value.code, busy.value.retry_after) == ("upstream_unavailable", 7)
    vcc_token_service.refuse_next(403)
    with pytest.raises(Forbidden):
        client.token("nam", "users:read")
    vcc_token_service.refuse_next(429, retry_after=2)
    throttled = requests.get(
        vcc_token_service.url + "/tokens/nam/stats", auth=SigV4RequestsAuth(), timeout=5
    )
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "2")
    assert throttled.json() == {"message": "Too Many Requests"}
    with pytest.raises(BadRequest) as unknown:
        client.token("mars", "users:read")
    assert unknown.value.code == "unknown_region"
    assert client.token("nam", "users:read").access_token  # the script is used up
    with pytest.raises(ValueError, match="is answered with 503"):
        vcc_token_service.refuse_next(502, code="upstream_unavailable")


def test_down_refuses_connections_until_healed(
    vcc_token_service: ServiceDouble, vcc_token_credentials: None
) -> None:
    client = TokenClient(vcc_token_service.url, unhealthy_seconds=0)
    vcc_token_service.down()
    with pytest.raises(ServiceUnreachable):
        client.token("emea", "stats")
    vcc_token_service.heal()
    assert client.token("emea", "stats").access_token


@pytest.mark.parametrize(("length", "status"), [("ten", 400), (str(11 * 1024 * 1024), 413)])
def test_a_bad_or_huge_content_length_is_one_answer(
    vcc_token_service: ServiceDouble, length: str, status: int
) -> None:
    with socket.create_connection(("127.0.0.1", vcc_token_service.port), timeout=5) as sock:
        sock.sendall(f"POST /oauth2/token HTTP/1.1\r\nContent-Length: {length}\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(4096):  # the double closes the connection after it
            answer += chunk
    assert answer.startswith(f"HTTP/1.0 {status}".encode())
    assert b"Content-Length of at most" in answer
    assert vcc_token_service.received == []


def test_a_drip_sends_a_status_line_and_never_an_end(vcc_token_service: ServiceDouble) -> None:
    vcc_token_service.drip(every=0.05)
    with socket.create_connection(("127.0.0.1", vcc_token_service.port), timeout=5) as sock:
        sock.sendall(b"GET /tokens/emea/stats HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while received.count(b"a") < 5:  # five drips, each a header byte, no blank line
            received += sock.recv(64)
    assert received.startswith(b"HTTP/1.1 200 OK\r\nX-Drip: a")
    assert b"\r\n\r\n" not in received
    vcc_token_service.heal()


def test_what_was_received_is_kept_without_showing_the_signature(
    vcc_token_service: ServiceDouble, vcc_token_credentials: None
) -> None:
    TokenClient(vcc_token_service.url).refresh("apac", "stats", "ab" * 32)
    [received] = vcc_token_service.received
    assert (received.method, received.path, received.status) == (
        "POST",
        "/tokens/apac/stats/refresh",
        200,
    )
    assert json.loads(received.body) == {"rejected_token_sha256": "ab" * 32}
    assert "AWS4-HMAC-SHA256" in received.headers["Authorization"]
    assert "AWS4" not in repr(received)


def test_a_token_is_kept_while_it_has_min_ttl_and_a_refresh_replaces_it_once(
    vcc_token_services: Any,
) -> None:
    service = vcc_token_services(lifetime=120)
    auth = signer(ORDERS)
    base = service.url + "/tokens/emea/stats"
    first = requests.get(base + "?min_ttl=60", auth=auth, timeout=5).json()
    assert requests.get(base + "?min_ttl=60", auth=auth, timeout=5).json() == first
    longer = requests.get(base + "?min_ttl=600", auth=auth, timeout=5).json()  # 120 s < 600 s
    assert longer["access_token"] != first["access_token"]
    assert longer["min_ttl_met"] is False
    rejected = {"rejected_token_sha256": _sha256(longer["access_token"])}
    replaced = requests.post(base + "/refresh", json=rejected, auth=auth, timeout=5).json()
    again = requests.post(base + "/refresh", json=rejected, auth=auth, timeout=5).json()
    assert replaced["access_token"] not in (longer["access_token"],)
    assert again["access_token"] == replaced["access_token"]  # once for every caller


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


# --- the double and the real function, the same requests -------------------------------------
SAME_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/tokens/emea/users:read", {}),
    ("GET", "/tokens/emea/users%3Aread?min_ttl=60", {}),
    ("GET", "/tokens/emea/users:read?min_ttl=601", {}),
    ("GET", "/tokens/emea/users:read?min_ttl=ten", {}),
    ("GET", "/tokens/emea/users:read?min_ttl=1&min_ttl=2", {}),
    ("GET", "/tokens/emea/users:read?colour=blue", {}),
    ("GET", "/tokens/emea/users:read", {"data": b"body"}),
    ("GET", "/tokens/mars/users:read", {}),
    ("GET", "/tokens/emea/nope:read", {}),
    ("GET", "/tokens/apac/users:read", {}),  # not entitled there
    ("GET", "/tokens/emea/users:write", {}),  # not entitled to it
    ("GET", "/tokens/mars/users:write?min_ttl=ten", {}),
    ("POST", "/tokens/emea/users:read/refresh", {}),
    ("POST", "/tokens/emea/users:read/refresh", {"json": {"rejected_token_sha256": "0" * 64}}),
    ("POST", "/tokens/emea/users:read/refresh", {"data": b"not json"}),
    ("POST", "/tokens/emea/users:read/refresh", {"json": {"rejected_token_sha256": "xyz"}}),
    ("POST", "/tokens/emea/users:write/refresh", {}),
    ("POST", "/tokens/emea/users:read/refresh?min_ttl=60", {}),
    ("DELETE", "/tokens/emea/users:read", {}),
    ("GET", "/elsewhere", {}),
    (
        "POST",
        "/oauth2/token",
        {"data": {"grant_type": "client_credentials", "scope": "users:read"}},
    ),
    ("POST", "/oauth2/token", {"data": {"grant_type": "client_credentials", "scope": "stats"}}),
    ("POST", "/oauth2/token", {"data": {"grant_type": "password", "scope": "users:read"}}),
    ("POST", "/oauth2/token", {"data": {"scope": "users:read"}}),
    ("POST", "/oauth2/token", {"json": {"grant_type": "client_credentials"}}),
    ("POST", "/oauth2/token", {"data": {"grant_type": "client_credentials", "scope": "a b"}}),
    (
        "POST",
        "/oauth2/token",
        {"data": {"grant_type": "client_credentials", "scope": "users:read", "region": "apac"}},
    ),
]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from running_stack()


def test_the_double_answers_as_the_vend_function_does(stack: Stack) -> None:
    callers = load_callers(ROOT / "local" / "callers.json").values()
    rules = (ROOT / "local" / "entitlements.json").read_text(encoding="utf-8")
    with ServiceDouble(callers=callers, entitlements=rules) as double:
        for method, path, options in SAME_REQUESTS:
            real = _shape(stack.url, method, path, options)
            assert _shape(double.url, method, path, options) == real, (method, path, options)
        unsigned = requests.get(double.url + "/tokens/emea/stats", timeout=5)
        real_unsigned = requests.get(stack.url + "/tokens/emea/stats", timeout=5)
        assert (unsigned.status_code, unsigned.json()) == (403, real_unsigned.json())


def _shape(base: str, method: str, path: str, options: dict[str, Any]) -> tuple[Any, ...]:
    """What a caller can rely on: the status, the error code and the body's fields."""
    answer = requests.request(method, base + path, auth=signer(ORDERS), timeout=10, **options)
    body = answer.json()
    code = body.get("error") if "error" in body else body.get("message")
    return answer.status_code, code, sorted(body), answer.headers.get("Cache-Control")


def test_a_token_from_the_double_looks_like_one_from_the_service(stack: Stack) -> None:
    with ServiceDouble() as double:
        ours = requests.get(double.url + "/tokens/nam/users:read", auth=signer(ORDERS), timeout=5)
    real = requests.get(stack.url + "/tokens/nam/users:read", auth=signer(ORDERS), timeout=10)
    for answer in (ours.json(), real.json()):
        assert answer["token_type"] == "Bearer"
        assert time.strftime("%Y-", time.gmtime()) in answer["expires_at"]
        assert 0 < answer["expires_in"] <= 86_400
    assert {k: type(v) for k, v in ours.json().items()} == {
        k: type(v) for k, v in real.json().items()
    }


# --- the project's own proxy, tested on its caller side against the double -------------------
@pytest.fixture
def proxy_before_double(
    vcc_token_service: ServiceDouble, vcc_token_credentials: None, tmp_path: Path
) -> Iterator[str]:
    import threading

    from vcc_token_client import proxy
    from vcc_token_client.wsgi import stop

    config_file = tmp_path / "proxy.json"
    config_file.write_text(
        json.dumps(
            {
                "service_url": vcc_token_service.url,
                "api_base_url": vcc_token_service.vcc_api_base_url,
                "routes": [{"path": "/agents-availability", "scope": "agents-availability:read"}],
            }
        )
    )
    config = proxy.ProxyConfig.load(config_file)
    tokens = TokenClient(vcc_token_service.url, api_base_url=config.api_base_url)
    server = proxy.serve(config, tokens, 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    stop(server)
    thread.join(timeout=5)


def test_the_proxy_replaces_a_revoked_token_once_and_passes_on_refusals(
    vcc_token_service: ServiceDouble, proxy_before_double: str
) -> None:
    url = proxy_before_double + "/emea/agents-availability"
    assert requests.get(url, timeout=10).status_code == 200
    vcc_token_service.revoke_tokens()
    assert [requests.get(url, timeout=10).status_code for _ in range(3)] == [200, 200, 200]
    refreshes = [r for r in vcc_token_service.received if r.path.endswith("/refresh")]
    assert len(refreshes) == 1
    vcc_token_service.refuse_next(503, retry_after=4)  # the token for nam: VCC is down
    busy = requests.get(proxy_before_double + "/nam/agents-availability", timeout=10)
    assert (busy.status_code, busy.headers["Retry-After"]) == (503, "4")
    vcc_token_service.refuse_next(403)
    refused = requests.get(proxy_before_double + "/apac/agents-availability", timeout=10)
    assert refused.status_code == 403


# --- the CLI, on its caller side --------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "code", "exit_code"),
    [
        (403, "forbidden", 3),
        (503, "upstream_unavailable", 4),
        (502, "upstream_rejected_credentials", 6),
    ],
)
def test_the_cli_exits_with_the_code_of_each_refusal(
    vcc_token_service: ServiceDouble,
    vcc_token_credentials: None,
    capsys: pytest.CaptureFixture[str],
    status: int,
    code: str,
    exit_code: int,
) -> None:
    from vcc_token_client import cli

    vcc_token_service.refuse_next(status, code=code)
    assert cli.main(["--url", vcc_token_service.url, "token", "emea", "stats"]) == exit_code
    out, err = capsys.readouterr()
    assert out == ""
    assert code in err
    assert cli.main(["--url", vcc_token_service.url, "token", "emea", "stats", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["region"], answer["scope"], answer["token_type"]) == ("emea", "stats", "Bearer")


def test_the_cli_fails_over_from_a_deployment_that_is_down(
    vcc_token_services: Any, vcc_token_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from vcc_token_client import cli

    down, up = vcc_token_services(), vcc_token_services()
    down.down()
    assert cli.main(["--url", f"{down.url},{up.url}", "token", "nam", "users:read"]) == 0
    assert capsys.readouterr().out.strip()
    assert [r.path for r in up.received] == ["/tokens/nam/users:read"]


# --- the caller's AWS setup, and the whole answer ---------------------------------------------
def test_a_missing_profile_is_the_clients_own_error_in_one_line(
    vcc_token_service: ServiceDouble,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from vcc_token_client import cli
    from vcc_token_client.errors import AwsCredentialsError, Exit

    config = tmp_path / "config"
    config.write_text("[profile real]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "nope")
    with pytest.raises(AwsCredentialsError, match=r"names a profile your AWS config does not have"):
        TokenClient(vcc_token_service.url).token("emea", "stats")
    monkeypatch.delenv("AWS_PROFILE")
    argv = ["--url", vcc_token_service.url, "--profile", "nope", "token", "emea", "stats"]
    assert cli.main(argv) == Exit.UNREACHABLE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "AWS_PROFILE (or --profile) names a profile" in err
    assert vcc_token_service.received == []  # nothing was sent unsigned


def test_json_is_the_services_whole_answer(
    vcc_token_services: Any, vcc_token_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from vcc_token_client import cli

    service = vcc_token_services(lifetime=300)  # shorter than the min_ttl asked below
    argv = ["--url", service.url, "--min-ttl", "600", "token", "emea", "stats", "--json"]
    assert cli.main(argv) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["min_ttl_met"] is False
    assert answer["expires_at"].endswith("Z")
    assert set(answer) == {
        "access_token", "token_type", "expires_in", "expires_at", "region", "scope", "min_ttl_met"
    }  # fmt: skip
