"""The CLI as a newcomer meets it: help with examples and exit codes, bad input as exit 2 with a
message naming it, the proxy's config checked at start, no traceback for a closed pipe."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from vcc_token_client import __version__
from vcc_token_client.cli import main as vcc_token
from vcc_token_client.errors import Exit
from vcc_token_client.proxy import ConfigError, ProxyConfig

import vcc_tokens

VERBS = [
    ["token"],
    ["proxy"],
    ["admin", "check-rules"],
    ["admin", "explain"],
    ["admin", "status"],
    ["admin", "rotate"],
    ["admin", "purge"],
    ["admin", "smoke"],
]


def help_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        vcc_token([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_the_top_level_help_lists_the_exit_codes_under_a_heading(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_of([], capsys)
    assert "exit codes:\n  0 ok" in text
    for code in Exit:  # each code the CLI can return, with its one meaning
        assert f"\n  {code.value} " in text, code
    assert "6 operator needed" in text


@pytest.mark.parametrize("argv", VERBS, ids=" ".join)
def test_every_verb_has_help_with_examples(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of(argv, capsys)
    assert "examples:\n  vcc-token " in text


def test_proxy_help_describes_the_config_file_and_the_aws_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = " ".join(help_of(["proxy"], capsys).split())
    assert '"service_url"' in text
    assert '"routes"' in text
    assert "AWS credentials" in text


def test_version_is_the_release_version_of_client_and_service(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        vcc_token(["--version"])
    assert capsys.readouterr().out.strip() == (
        f"vcc-token {__version__} (service code {vcc_tokens.__version__})"
    )


def proxy_config(tmp_path: Path, **fields: object) -> Path:
    document = {
        "service_url": "http://127.0.0.1:3000",
        "routes": [{"path": "/agents-availability", "scope": "agents-availability:read"}],
        **fields,
    }
    path = tmp_path / "proxy.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        (
            {"routes": [{"path": "/users", "scope": "user:read"}]},
            "route 0 has the unknown scope 'user:read'; VCC's scopes: agents-availability:read",
        ),
        ({"service_url": "127.0.0.1:3000"}, "service_url must be the service's URL"),
        ({"service_url": "ftp://example.com"}, "service_url must be the service's URL"),
    ],
)
def test_the_proxy_config_is_checked_when_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, object], why: str
) -> None:
    path = proxy_config(tmp_path, **fields)
    with pytest.raises(ConfigError) as refused:
        ProxyConfig.load(path)
    assert why in str(refused.value)
    assert vcc_token(["proxy", "--config", str(path), "--port", "0"]) == 2
    assert why in capsys.readouterr().err


def test_check_rules_refuses_a_scope_no_vcc_scope_matches_and_an_empty_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = {"principals": ["arn:aws:iam::111122223333:role/x"], "regions": ["emea"]}
    cases = {
        "typo.json": ({"version": 1, "rules": [{**rule, "scopes": ["statz"]}]}, "'statz'"),
        "empty.json": ({"version": 1, "rules": []}, "no rules: the service would refuse"),
    }
    for name, (document, why) in cases.items():
        (tmp_path / name).write_text(json.dumps(document))
        assert vcc_token(["admin", "check-rules", str(tmp_path / name)]) == 2
        assert why in capsys.readouterr().err
    (tmp_path / "one.json").write_text(
        json.dumps({"version": 1, "rules": [{**rule, "scopes": ["*:read"]}]})
    )
    assert vcc_token(["admin", "check-rules", str(tmp_path / "one.json")]) == 0
    assert capsys.readouterr().out.endswith("valid, 1 rule\n")


def test_check_rules_refuses_a_document_over_its_ssm_tiers_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given valid rules whose document is 5 KB: over Standard's 4 KB, inside Advanced's 8 KB
    principals = [f"arn:aws:iam::111122223333:role/service-{n:03d}" for n in range(110)]
    rules = {
        "version": 1,
        "rules": [{"principals": principals, "regions": ["emea"], "scopes": ["stats"]}],
    }
    document = tmp_path / "big.json"
    document.write_text(json.dumps(rules))
    assert 4096 < len(document.read_bytes()) <= 8192
    # Then check-rules refuses it for a Standard parameter, saying what to do
    assert vcc_token(["admin", "check-rules", str(document)]) == 2
    said = capsys.readouterr().err
    assert "over the 4096-byte limit of an SSM Standard parameter" in said
    assert "--tier Advanced" in said
    # and accepts it for an Advanced one
    assert vcc_token(["admin", "check-rules", "--tier", "Advanced", str(document)]) == 0
    assert capsys.readouterr().out.endswith("valid, 1 rule\n")


def test_the_proxy_takes_several_service_urls_to_fail_over_between(tmp_path: Path) -> None:
    route = {"path": "/users", "scope": "users:read"}
    urls = ["https://a1.execute-api.eu-west-1.amazonaws.com/v1", "http://127.0.0.1:3001"]
    path = tmp_path / "proxy.json"
    path.write_text(json.dumps({"service_url": urls, "routes": [route]}))
    assert ProxyConfig.load(path).service_url == tuple(urls)
    path.write_text(json.dumps({"service_url": [urls[0], "127.0.0.1:3001"], "routes": [route]}))
    with pytest.raises(
        ConfigError, match=r"or a list of them: the service URL '127\.0\.0\.1:3001'"
    ):
        ProxyConfig.load(path)


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_ends_the_output_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = Path(__file__).resolve().parents[2] / "local" / "entitlements.json"
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert vcc_token(["admin", "check-rules", str(rules)]) == 0
    assert "Broken pipe" not in capsys.readouterr().err


def test_a_bad_region_is_exit_2_naming_it_and_the_regions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        vcc_token(["admin", "purge", "--table", "t", "--region", "mars"])
    assert done.value.code == 2
    said = capsys.readouterr().err
    assert "unknown region 'mars'; allowed: emea, nam, apac" in said
    assert "('emea'" not in said
