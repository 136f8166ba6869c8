"""Failover's rules without a network: which URLs are taken, the order after a failure (also
across processes, through the memory file), the failure a caller is told, and the region each
deployment's request is signed for."""

from __future__ import annotations

import json
import re
from pathlib import Path

import botocore.session
import pytest
import requests
from vcc_token_client.deployments import load_deployments
from vcc_token_client.errors import (
    BadRequest,
    OperatorNeeded,
    ServiceUnreachable,
    UpstreamUnavailable,
)
from vcc_token_client.failover import (
    Deployments,
    FailoverMemory,
    most_informative,
    service_urls,
)
from vcc_token_client.sigv4 import SigV4RequestsAuth

A = "https://a1.execute-api.us-east-1.amazonaws.com/v1"
B = "https://b2.execute-api.eu-west-1.amazonaws.com/v1"
CUSTOM = "https://tokens.example.com"


def test_blank_entries_are_dropped_and_repeats_folded_in_order() -> None:
    assert service_urls(f" {A}/ ,,{B},{A}") == (A, B)
    assert service_urls([B, "", A, B + "/"]) == (B, A)
    with pytest.raises(BadRequest, match="no service URL"):
        service_urls(" , ")
    with pytest.raises(BadRequest, match="no service URL"):
        service_urls([])


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:3000", "http://localhost:3000/", "http://[::1]:3000", A]
)
def test_https_anywhere_and_http_to_this_machine_are_taken(url: str) -> None:
    assert service_urls(url) == (url.rstrip("/"),)


@pytest.mark.parametrize("url", ["http://tokens.example.com", "http://10.0.0.5:3000/v1"])
def test_plain_http_to_another_machine_is_refused_saying_why(url: str) -> None:
    with pytest.raises(BadRequest, match="the token would cross the network unencrypted"):
        service_urls(url)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_failed_deployment_comes_last_until_its_pause_is_over(tmp_path: Path) -> None:
    clock = Clock()
    deployments = Deployments([A, B], unhealthy_seconds=10, clock=clock)
    deployments.failed(A)
    assert deployments.order() == [B, A]
    clock.now += 12.1  # past the pause, jitter (+20%) included
    assert deployments.order() == [A, B]


def test_the_memory_carries_a_pause_to_another_process_and_an_answer_clears_it(
    tmp_path: Path,
) -> None:
    clock = Clock()
    memory = FailoverMemory(tmp_path / "cache" / "failover.json")
    Deployments([A, B], 10, clock, memory).failed(A)
    later_run = Deployments([A, B], 10, clock, memory)  # another process, another client
    assert later_run.order() == [B, A]
    later_run.answered(A)
    assert Deployments([A, B], 10, clock, memory).order() == [A, B]
    # another list's pauses are kept as they were
    Deployments([CUSTOM], 10, clock, memory).failed(CUSTOM)
    Deployments([A, B], 10, clock, memory).failed(B)
    assert set(json.loads(memory.path.read_text())) == {B, CUSTOM}


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"x": "soon"}', ""])
def test_an_unreadable_memory_is_as_if_there_were_none(tmp_path: Path, content: str) -> None:
    memory = FailoverMemory(tmp_path / "failover.json")
    memory.path.write_text(content)
    assert Deployments([A, B], 10, Clock(), memory).order() == [A, B]


def test_an_unwritable_memory_does_not_fail_the_call(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    memory = FailoverMemory(blocked / "failover.json")  # its directory cannot exist
    deployments = Deployments([A, B], 10, Clock(), memory)
    deployments.failed(A)
    assert deployments.order() == [B, A]


def test_the_first_answer_is_what_the_caller_is_told_with_every_url() -> None:
    down = ServiceUnreachable(None, "unreachable", f"{A} (ConnectionError)")
    rejected = OperatorNeeded(502, "upstream_rejected_credentials", "check the secret")
    busy = UpstreamUnavailable(503, "upstream_unavailable", "VCC failed", 7)
    told = most_informative([(A, down), (B, rejected), (CUSTOM, busy)])
    assert isinstance(told, OperatorNeeded)
    assert (told.status, told.code) == (502, "upstream_rejected_credentials")
    assert str(told) == (
        f"502 upstream_rejected_credentials: every deployment failed: unreachable: {A} "
        f"(ConnectionError); {B} answered 502 upstream_rejected_credentials: check the secret; "
        f"{CUSTOM} answered 503 upstream_unavailable: VCC failed"
    )
    told_busy = most_informative([(A, down), (CUSTOM, busy)])
    assert isinstance(told_busy, UpstreamUnavailable)
    assert told_busy.retry_after == 7
    assert most_informative([(B, rejected)]) is rejected  # one URL: its own words


def signed_region(url: str, signing_region: str | None, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    session = botocore.session.Session()
    session.set_credentials("AKIDEXAMPLE", "secret")
    request = requests.Request("GET", url + "/tokens/emea/stats").prepare()
    SigV4RequestsAuth(session, signing_region)(request)
    credential = str(request.headers["Authorization"]).split("Credential=")[1].split(",")[0]
    return credential.split("/")[2]


def test_each_deployment_is_signed_for_the_region_its_hostname_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert signed_region(A, "ap-southeast-2", monkeypatch) == "us-east-1"
    assert signed_region(B, "ap-southeast-2", monkeypatch) == "eu-west-1"
    assert signed_region(CUSTOM, "ap-southeast-2", monkeypatch) == "ap-southeast-2"
    with pytest.raises(BadRequest, match="names no AWS region"):
        signed_region(CUSTOM, None, monkeypatch)


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "deployments.json"
    path.write_text(json.dumps(document))
    return path


def test_the_description_of_our_deployments_is_read_in_failover_order(tmp_path: Path) -> None:
    entries = [
        {"name": "eu", "url": B + "/", "region": "eu-west-1", "stack": "s", "table": "t"},
        {"name": "us", "url": A, "region": "us-east-1", "stack": "s"},
    ]
    eu, us = load_deployments(write(tmp_path, {"deployments": entries}))
    assert (eu.url, eu.region, eu.table, us.table) == (B, "eu-west-1", "t", None)
    assert eu.label == "eu: stack s in eu-west-1"
    assert eu.session().get_config_variable("region") == "eu-west-1"


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([], 'expected {"deployments"'),
        ({"deployments": []}, 'expected {"deployments"'),
        (
            {"deployments": [{"name": "eu", "url": A}]},
            "deployment 0 needs name, url, region, stack",
        ),
        (
            {"deployments": [{"name": "eu", "url": A, "region": "Ireland", "stack": "s"}]},
            "region 'Ireland' is not an AWS region",
        ),
        (
            {
                "deployments": [
                    {"name": "eu", "url": "http://x.example", "region": "eu-west-1", "stack": "s"}
                ]
            },
            "plain http to another machine",
        ),
        (
            {
                "deployments": [
                    {"name": "eu", "url": A, "region": "eu-west-1", "stack": "s", "zone": 1}
                ]
            },
            "unknown keys: zone",
        ),
        (
            {"deployments": [{"name": "eu", "url": A, "region": "eu-west-1", "stack": "s"}] * 2},
            "two deployments have the same name",
        ),
    ],
)
def test_a_wrong_description_is_refused_saying_what_is_wrong(
    tmp_path: Path, document: object, says: str
) -> None:
    with pytest.raises(BadRequest, match=re.escape(says)):
        load_deployments(write(tmp_path, document))


def test_each_described_deployment_is_signed_for_its_own_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    session = botocore.session.Session()
    session.set_credentials("AKIDEXAMPLE", "secret")
    auth = SigV4RequestsAuth(session, {CUSTOM: "ap-southeast-2", "https://t2.example": "sa-east-1"})
    assert auth.given_region(CUSTOM + "/tokens/emea/stats") == "ap-southeast-2"
    assert auth.given_region("https://t2.example/tokens/emea/stats") == "sa-east-1"
    assert auth.given_region("https://other.example/tokens/emea/stats") is None
