"""For operators and callers in any language: `vcc-token proxy` against `make run`'s stack (the
emulator's Agents Availability API, with curl as the caller), and `vcc-token admin` against the
service's rules, SSM parameter and table on moto server."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from vcc_token_client import TokenClient, proxy
from vcc_token_client.cli import main as vcc_token
from vcc_token_client.wsgi import stop

from local.vcc_emulator import VccEmulator
from tests.conftest import Service
from tests.stack_support import CALLERS, Stack, free_port, running_stack
from tests.support import api_event, invoke
from vcc_token_contract.item import USABLE, KeyState
from vcc_tokens.values.tokens import Key, Lease

pytestmark = pytest.mark.integration

ORDERS = CALLERS[0]  # may have agents-availability:read in emea (local/entitlements.json)
CURL = shutil.which("curl") or "curl"  # the caller a shell job would be
RULES = Path(__file__).resolve().parents[2] / "local" / "entitlements.json"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from running_stack()


@pytest.fixture(scope="module")
def token_proxy(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import botocore.session

    config_file = tmp_path_factory.mktemp("proxy") / "proxy.json"
    config_file.write_text(
        json.dumps(
            {
                "service_url": stack.url,
                "api_base_url": stack.emulator_url + "/{region}",
                "routes": [{"path": "/agents-availability", "scope": "agents-availability:read"}],
            }
        )
    )
    config = proxy.ProxyConfig.load(config_file)
    session = botocore.session.Session()
    session.set_credentials(ORDERS["access_key_id"], ORDERS["secret_access_key"])
    session.set_config_variable("region", "eu-west-1")
    tokens = TokenClient(stack.url, botocore_session=session, api_base_url=config.api_base_url)
    server = proxy.serve(config, tokens, free_port())
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    stop(server)
    thread.join(timeout=5)


def curl(url: str, *options: str) -> tuple[int, str]:
    done = subprocess.run(
        [CURL, "-s", "-m", "20", "-w", "\n%{http_code}", *options, url],
        capture_output=True,
        text=True,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def emulator_stats(stack: Stack) -> dict[str, Any]:
    stats: dict[str, Any] = requests.get(stack.emulator_url + "/_emulator/stats", timeout=5).json()
    return stats


def test_curl_gets_vcc_data_through_the_proxy_without_credentials(
    stack: Stack, token_proxy: str
) -> None:
    # The caller's own Authorization is stripped: the proxy's token is what VCC sees
    status, body = curl(
        token_proxy + "/emea/agents-availability?skillNames=French",
        "-H",
        "Authorization: Bearer not-a-vcc-token",
    )
    assert status == 200
    assert json.loads(body)[0]["skillName"] == "French"


def test_a_token_revoked_mid_run_is_replaced_once_and_the_call_retried(
    stack: Stack, token_proxy: str
) -> None:
    assert curl(token_proxy + "/emea/agents-availability")[0] == 200
    before = emulator_stats(stack)
    assert requests.post(stack.emulator_url + "/_emulator/revoke", json={}, timeout=5).ok
    statuses = [curl(token_proxy + "/emea/agents-availability")[0] for _ in range(3)]
    after = emulator_stats(stack)
    assert statuses == [200, 200, 200]
    assert after["api_requests"] - before["api_requests"] == 4  # one 401, then three answers
    assert after["token_requests"] - before["token_requests"] == 1  # one refresh


@pytest.mark.parametrize(
    ("path", "status"),
    [("/emea/users", 404), ("/mars/agents-availability", 404), ("/", 404)],
)
def test_paths_outside_the_routes_are_refused_before_any_token(
    stack: Stack, token_proxy: str, path: str, status: int
) -> None:
    answer, body = curl(token_proxy + path)
    assert answer == status
    assert "message" in json.loads(body)


def test_a_double_slash_path_stays_on_the_vcc_origin(stack: Stack, token_proxy: str) -> None:
    # //evil.example/... is a path under the VCC API origin, never another host
    status, _ = curl(token_proxy + "/emea/agents-availability//evil.example/x")
    assert status in (401, 404)  # the emulator's answer for an unknown path, not a connection


@pytest.mark.parametrize(
    ("options", "why"),
    [
        (["-H", "Host: evil.example"], "Host"),  # DNS rebinding: a page's name, our address
        (["-H", "Origin: https://evil.example", "-X", "POST", "-d", "{}"], "cross-origin"),
        (["-H", "Origin: null"], "cross-origin"),
        (["-H", "Sec-Fetch-Site: cross-site"], "cross-site"),
    ],
    ids=["foreign-host", "cross-site-post", "null-origin", "sec-fetch-site"],
)
def test_a_browser_next_to_the_proxy_cannot_use_its_tokens(
    stack: Stack, token_proxy: str, options: list[str], why: str
) -> None:
    # Given a web page making the developer's browser call the proxy
    before = emulator_stats(stack)["api_requests"]
    # When the request is browser-shaped
    status, body = curl(token_proxy + "/emea/agents-availability", *options)
    # Then it is refused before any token is used, and VCC's API never sees it
    assert status == 403
    assert why in json.loads(body)["message"]
    assert emulator_stats(stack)["api_requests"] == before


def test_the_proxys_own_origin_and_localhost_are_served(stack: Stack, token_proxy: str) -> None:
    port = token_proxy.rsplit(":", 1)[1]
    own = ["-H", f"Origin: http://127.0.0.1:{port}", "-H", "Sec-Fetch-Site: same-origin"]
    assert curl(token_proxy + "/emea/agents-availability", *own)[0] == 200
    assert (
        curl(token_proxy + "/emea/agents-availability", "-H", f"Host: localhost:{port}")[0] == 200
    )


@pytest.mark.parametrize(
    "path",
    [
        "/emea/agents-availability/..%2f..%2fnam/users",
        "/emea/agents-availability/%2e%2e/%2e%2e/nam/users",
        "/emea/agents-availability/../../nam/users",
        "/emea/agents-availability/./x",
        "/emea/agents-availability%5cusers",
    ],
)
def test_a_path_cannot_climb_out_of_its_route(stack: Stack, token_proxy: str, path: str) -> None:
    before = emulator_stats(stack)["api_requests"]
    status, body = curl(token_proxy + path, "--path-as-is")
    assert (status, "dot segments" in json.loads(body)["message"]) == (400, True)
    assert emulator_stats(stack)["api_requests"] == before


def test_a_refusal_by_the_token_service_keeps_its_4xx(stack: Stack, tmp_path: Path) -> None:
    # Given a proxy route to a scope its principal is not entitled to (users:write)
    config_file = tmp_path / "proxy.json"
    config_file.write_text(
        json.dumps(
            {
                "service_url": stack.url,
                "api_base_url": stack.emulator_url + "/{region}",
                "routes": [{"path": "/users", "scope": "users:write"}],
            }
        )
    )
    import botocore.session

    session = botocore.session.Session()
    session.set_credentials(ORDERS["access_key_id"], ORDERS["secret_access_key"])
    session.set_config_variable("region", "eu-west-1")
    config = proxy.ProxyConfig.load(config_file)
    tokens = TokenClient(stack.url, botocore_session=session, api_base_url=config.api_base_url)
    server = proxy.serve(config, tokens, free_port())
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        status, body = curl(f"http://127.0.0.1:{server.effective_port}/emea/users")
    finally:
        stop(server)
        thread.join(timeout=5)
    # Then the caller sees the service's 403, not a 502
    assert status == 403
    assert "forbidden" in json.loads(body)["message"]


def test_check_rules_uses_the_services_own_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert vcc_token(["admin", "check-rules", str(RULES)]) == 0
    assert "valid, 4 rules" in capsys.readouterr().out
    broken = tmp_path / "rules.json"
    broken.write_text(
        '{"version": 1, "rules": [{"principals": ["orders"], "regions": ["emea"], '
        '"scopes": ["stats"]}]}'
    )
    assert vcc_token(["admin", "check-rules", str(broken)]) == 2
    assert "rule 0: principals must be ARNs" in capsys.readouterr().err


def test_explain_names_the_rule_or_the_nearest_miss(capsys: pytest.CaptureFixture[str]) -> None:
    caller = "arn:aws:sts::111122223333:assumed-role/orders-service/session-1"
    assert vcc_token(["admin", "explain", caller, "emea", "users:read", "--rules", str(RULES)]) == 0
    assert "allowed by rule 0" in capsys.readouterr().out
    assert vcc_token(["admin", "explain", caller, "apac", "users:read", "--rules", str(RULES)]) == 3
    refused = capsys.readouterr().out
    assert "nearest miss: rule 0" in refused
    assert "does not match the region" in refused


def test_explain_reads_the_rules_from_ssm(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    caller = "arn:aws:sts::210987654321:assumed-role/orders-service/x"  # the tests' caller
    argv = ["admin", "explain", caller, "nam", "stats", "--parameter"]
    assert vcc_token([*argv, service.entitlements_parameter]) == 0
    assert "allowed by rule 0" in capsys.readouterr().out
    assert vcc_token([*argv, "/no/such/parameter"]) == 5
    assert "ParameterNotFound" in capsys.readouterr().err


def test_status_lists_keys_leases_and_backoff_without_tokens(
    service: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = invoke(vend_handler, api_event("emea", "stats")).body["access_token"]
    emulator.fail_next("rate_limited")
    assert invoke(vend_handler, api_event("nam", "stats")).status == 503
    capsys.readouterr()  # the handler's own output (metrics)
    assert vcc_token(["admin", "status", "--table", service.table_name, "--json"]) == 0
    output = capsys.readouterr().out
    rows = {row["key"]: row for row in json.loads(output) if "key" in row}  # keys, then health
    assert set(rows) == {"emea#stats", "nam#stats"}
    assert rows["emea#stats"]["expires_at"]
    assert rows["emea#stats"]["backoff"] is None
    assert rows["nam#stats"]["backoff"].startswith("upstream_rate_limited x1")
    # the engine's names for what the item alone tells (a usable token: fresh or due)
    assert (rows["emea#stats"]["state"], rows["nam#stats"]["state"]) == (
        USABLE,
        KeyState.BACKING_OFF,
    )
    assert rows["emea#stats"]["lease"] is None  # given back with the stored token
    assert token not in output
    # a fetch under way shows its lease until it runs out
    until = int(time.time()) + 60
    assert service.table.acquire_lease(Lease(Key("emea", "stats"), "a" * 32, until), time.time())
    assert vcc_token(["admin", "status", "--table", service.table_name, "--json"]) == 0
    leased = {row["key"]: row for row in json.loads(capsys.readouterr().out) if "key" in row}
    shown = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert leased["emea#stats"]["lease"] == f"until {shown}"
    assert leased["emea#stats"]["state"] == USABLE  # the token it replaces is still served
    assert vcc_token(["admin", "status", "--table", service.table_name]) == 0
    assert "emea#stats" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["admin", "status", "--table", "vcc-tokens"],
        [
            "admin",
            "explain",
            "arn:aws:iam::111122223333:role/x",
            "emea",
            "stats",
            "--parameter",
            "/p",
        ],
    ],
    ids=["status", "explain-parameter"],
)
def test_admin_without_a_region_says_so_and_exits_5(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")  # no profile region either
    assert vcc_token(argv) == 5
    err = capsys.readouterr().err
    assert "AWS_REGION" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["arn:aws:iam::111122223333:role/x", "mars", "users:read"], "unknown region 'mars'"),
        (["arn:aws:iam::111122223333:role/x", "emea", "statz"], "unknown scope 'statz'"),
        (["not-an-arn", "emea", "users:read"], "'not-an-arn' is not a caller's ARN"),
    ],
)
def test_explain_refuses_bad_input_with_exit_2(
    argv: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert vcc_token(["admin", "explain", *argv, "--rules", str(RULES)]) == 2
    assert why in capsys.readouterr().err


def test_explain_names_the_credential_behind_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = tmp_path / "routes.json"
    routes.write_text('{"emea": {"supervisor": ["users:read"], "admin": ["users:write"]}}')
    caller = "arn:aws:sts::111122223333:assumed-role/orders-service/session-1"
    argv = ["admin", "explain", caller, "emea", "users:read", "--rules", str(RULES)]
    assert vcc_token([*argv, "--routes", str(routes)]) == 0
    assert "allowed by rule 0" in (out := capsys.readouterr().out)
    assert "served with credential 'supervisor'" in out
    assert vcc_token([*argv]) == 0
    assert "served with credential 'default'" in capsys.readouterr().out
    argv[4] = "agents-availability:read"
    assert vcc_token([*argv, "--routes", str(routes)]) == 3
    assert "emea does not serve scope 'agents-availability:read'" in capsys.readouterr().out
