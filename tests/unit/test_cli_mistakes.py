"""Everyday mistakes get one line and the documented exit code, never a traceback: a missing
profile, a failing credential_process, a URL without a scheme, a hostname that names no region,
options after the verb, the proxy without its optional dependency. No sockets: each mistake is
caught before anything is sent."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import botocore.session
import pytest
from vcc_token_client.cli import main as vcc_token
from vcc_token_client.cli import parser
from vcc_token_client.errors import BadRequest, Exit, OperatorNeeded, error_for, exit_code
from vcc_token_client.sigv4 import signing_region

EXECUTE_API = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/v1"


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An environment with no AWS configuration but what a test writes to its config file."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    config.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return config


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_a_profile_that_does_not_exist_is_one_line_exit_5(
    no_aws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nosuch")
    assert vcc_token(["--url", EXECUTE_API, "token", "emea", "users:read"]) == Exit.UNREACHABLE
    assert "names a profile your AWS config does not have (ProfileNotFound)" in one_line(capsys)


def test_a_failing_credential_process_is_one_line_exit_5_without_its_output(
    no_aws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a profile whose credential_process fails, as an expired SSO login does
    failing = no_aws.parent / "expired-sso"
    failing.write_text("#!/bin/sh\necho secret-ish output\nexit 1\n")
    failing.chmod(0o700)
    no_aws.write_text(f"[profile sso]\ncredential_process = {failing}\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_PROFILE", "sso")
    assert vcc_token(["--url", EXECUTE_API, "token", "emea", "users:read"]) == Exit.UNREACHABLE
    said = one_line(capsys)
    assert "credential_process failed" in said
    assert "(CredentialRetrievalError)" in said
    assert "secret-ish output" not in said


def test_a_url_without_a_scheme_is_exit_2_saying_what_a_url_looks_like(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert vcc_token(["--url", "127.0.0.1:3000", "token", "emea", "users:read"]) == 2
    assert "needs a scheme and a host, like" in one_line(capsys)


def test_the_global_options_may_follow_the_verb() -> None:
    args = parser().parse_args(
        ["token", "emea", "users:read", "--url", EXECUTE_API, "--min-ttl", "30"]
    )
    assert (args.url, args.min_ttl, args.signing_region) == (EXECUTE_API, 30, None)
    before = parser().parse_args(["--url", EXECUTE_API, "--min-ttl", "30", "token", "e", "s"])
    assert (before.url, before.min_ttl) == (EXECUTE_API, 30)


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://abc123defg.execute-api.eu-west-1.amazonaws.com/v1", "eu-west-1"),
        # a private API through a VPC endpoint's Route 53 alias
        (
            "https://abc123defg-vpce-0a1b2c3d4e5f60718.execute-api.us-east-2.amazonaws.com/v1",
            "us-east-2",
        ),
        # the endpoint's own DNS name (with the API's id in x-apigw-api-id)
        (
            "https://vpce-0a1b2c3d4e5f60718-abcdefgh.execute-api.ap-southeast-2.vpce.amazonaws.com",
            "ap-southeast-2",
        ),
        ("https://abc123defg.execute-api.cn-north-1.amazonaws.com.cn/v1", "cn-north-1"),
        ("https://abc123defg.execute-api.us-gov-west-1.amazonaws.com/v1", "us-gov-west-1"),
    ],
    ids=["public-or-private-dns", "vpce-alias", "vpce-hostname", "china", "govcloud"],
)
def test_every_documented_execute_api_hostname_names_its_region(
    no_aws: Path, url: str, region: str
) -> None:
    assert signing_region(url, botocore.session.get_session()) == region


def test_a_custom_domain_signs_for_the_configured_region_and_never_guesses(
    no_aws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://tokens.example.com/v1"
    with pytest.raises(BadRequest) as refused:
        signing_region(url, botocore.session.get_session())
    assert "pass --signing-region" in refused.value.message
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert signing_region(url, botocore.session.get_session()) == "eu-central-1"


def test_a_custom_domain_without_a_region_is_exit_2_before_anything_is_sent(
    no_aws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-key")
    argv = ["--url", "https://tokens.example.com/v1", "token", "emea", "users:read"]
    assert vcc_token(argv) == 2
    assert "names no AWS region" in one_line(capsys)


def test_api_gateways_missing_authentication_token_means_no_such_route() -> None:
    error = error_for(403, {"message": "Missing Authentication Token"}, None)
    assert exit_code(error) == Exit.BAD_INPUT
    assert "no such route: check the URL's stage and path" in str(error)


@pytest.mark.parametrize(
    "code", ["upstream_rejected_credentials", "credentials_unavailable", "entitlements_unavailable"]
)
def test_what_only_an_operator_can_fix_has_its_own_exit_code(code: str) -> None:
    status = 502 if code.startswith("upstream") else 500
    error = error_for(status, {"error": code, "message": "m"}, None)
    assert isinstance(error, OperatorNeeded)
    assert exit_code(error) == Exit.OPERATOR_NEEDED


def test_the_proxy_without_waitress_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "proxy.json"
    route = {"path": "/agents-availability", "scope": "agents-availability:read"}
    config.write_text(json.dumps({"service_url": "http://127.0.0.1:3000", "routes": [route]}))
    monkeypatch.setitem(sys.modules, "waitress", None)  # not installed
    assert vcc_token(["proxy", "--config", str(config), "--port", "0"]) == 2
    assert "pip install 'vcc-token-client[proxy]'" in one_line(capsys)


@pytest.mark.parametrize(
    "where",
    [
        [],  # no stack: whose function is it?
        ["--deployments", "DEPLOYMENTS"],  # several stacks, one function name
    ],
    ids=["no stack", "several deployments"],
)
def test_the_smoke_checks_refresher_run_names_one_stacks_function(
    where: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    described = tmp_path / "deployments.json"
    described.write_text(
        json.dumps(
            {
                "deployments": [
                    {"name": "ireland", "url": EXECUTE_API, "region": "eu-west-1", "stack": "a"},
                    {
                        "name": "virginia",
                        "url": EXECUTE_API.replace("eu-west-1", "us-east-1"),
                        "region": "us-east-1",
                        "stack": "a",
                    },
                ]
            }
        )
    )
    where = [str(described) if part == "DEPLOYMENTS" else part for part in where]
    argv = ["admin", "smoke", *where, "--run-refresher", "a-RefreshFunction-1"]
    # When the smoke check is asked to run one function name without one stack
    code = vcc_token(argv if where else [*argv, "--api", EXECUTE_API])
    # Then nothing is invoked anywhere: one line, exit 2
    assert code == Exit.BAD_INPUT
    assert "--run-refresher names one stack's function" in one_line(capsys)
