"""Failover that tells the truth and is bounded, against two deployments (the service's test
double, one per region): the most informative failure wins, every URL is named when all fail,
a hanging or dripping deployment costs one attempt's deadline, and the CLI remembers a failed
deployment across runs."""

from __future__ import annotations

import time
from typing import Any

import pytest
from vcc_token_client import TokenClient, cli
from vcc_token_client.errors import Exit, OperatorNeeded, ServiceUnreachable
from vcc_token_client.testing import ServiceDouble

pytestmark = pytest.mark.integration

DEADLINE = 2.0  # each attempt's, in these tests (25 s by default)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_answer_beats_a_connection_error_and_every_url_is_named(
    vcc_token_services: Any, vcc_token_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    rejecting, down = vcc_token_services(), vcc_token_services()
    rejecting.refuse_next(502, count=2)  # VCC refused that deployment's credentials
    down.down()
    urls = f"{rejecting.url},{down.url}"
    with pytest.raises(OperatorNeeded) as caught:
        TokenClient(urls, unhealthy_seconds=0).token("emea", "stats")
    assert caught.value.code == "upstream_rejected_credentials"
    code, out, err = run_cli(capsys, "--url", urls, "token", "emea", "stats")
    assert (code, out) == (Exit.OPERATOR_NEEDED, "")
    assert len(err.splitlines()) == 1
    assert f"{rejecting.url} answered 502 upstream_rejected_credentials" in err
    assert f"unreachable: {down.url} (ConnectionError)" in err


def test_when_every_deployment_is_down_each_is_named(
    vcc_token_services: Any, vcc_token_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, third = vcc_token_services(), vcc_token_services(), vcc_token_services()
    for service in (first, second, third):
        service.down()
    code, _, err = run_cli(
        capsys, "--url", f"{first.url},{second.url},{third.url}", "token", "nam", "stats"
    )
    assert code == Exit.UNREACHABLE
    assert err.startswith("vcc-token: unreachable: every deployment failed: ")
    assert all(service.url in err for service in (first, second, third))


@pytest.mark.parametrize("sickness", ["hang", "drip"])
def test_a_sick_deployment_costs_one_deadline_then_the_next_answers(
    vcc_token_services: Any, vcc_token_credentials: None, sickness: str
) -> None:
    sick, healthy = vcc_token_services(), vcc_token_services()
    getattr(sick, sickness)()  # hang(): never answers; drip(): a header byte every 0.5 s
    client = TokenClient([sick.url, healthy.url], timeout=DEADLINE)
    started = time.monotonic()
    token = client.token("apac", "users:read")
    took = time.monotonic() - started
    print(
        f"{sickness}: the healthy deployment answered after {took:.2f} s ({DEADLINE:g} s deadline)"
    )
    assert token.access_token
    assert [r.status for r in healthy.received] == [200]
    # without the whole-attempt deadline, the drip would hold the call for the double's 60 s
    assert took < 30


def test_the_cli_remembers_a_failed_deployment_across_runs(
    vcc_token_services: Any, vcc_token_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    failing, healthy = vcc_token_services(), vcc_token_services()
    failing.refuse_next(503, count=5)
    urls = f"{failing.url},{healthy.url}"
    for _ in range(3):  # three scheduled runs, each a fresh TokenClient
        code, out, _ = run_cli(capsys, "--url", urls, "token", "emea", "users:read")
        assert (code, bool(out.strip())) == (0, True)
    assert [r.status for r in failing.received] == [503]  # asked by the first run only
    assert len(healthy.received) == 3


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (",", "no service URL in ','"),
        (" , ,", "no service URL in"),
        ("http://tokens.example.com/v1", "plain http to another machine"),
        ("abc.execute-api.eu-west-1.amazonaws.com/v1", "needs a scheme and a host"),
    ],
)
def test_a_bad_url_list_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], vcc_token_credentials: None, url: str, says: str
) -> None:
    code, out, err = run_cli(capsys, "--url", url, "token", "emea", "stats")
    assert (code, out) == (Exit.BAD_INPUT, "")
    assert len(err.splitlines()) == 1
    assert says in err


def test_repeated_urls_are_asked_once(
    vcc_token_service: ServiceDouble, vcc_token_credentials: None
) -> None:
    vcc_token_service.refuse_next(503, count=2)
    url = vcc_token_service.url
    with pytest.raises(Exception, match="503 upstream_unavailable"):
        TokenClient(f"{url}, {url}/,{url}", unhealthy_seconds=0).token("emea", "stats")
    assert len(vcc_token_service.received) == 1


def test_an_unreachable_single_url_keeps_its_own_words(vcc_token_credentials: None) -> None:
    with pytest.raises(ServiceUnreachable, match=r"^unreachable: http://127\.0\.0\.1:1 \("):
        TokenClient("http://127.0.0.1:1", timeout=DEADLINE).token("emea", "stats")
