"""What VCC sends is untrusted input: odd-but-valid answers are served, bad ones are remembered
502s that cost one grant per backoff, and a body dripped a byte at a time ends at the fetch's
deadline. Against a misbehaving token endpoint on loopback (local.odd_upstream), with its
requests counted as VCC's grants."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.odd_upstream import OddUpstream
from tests.conftest import Service
from tests.support import api_event, invoke
from vcc_tokens import wiring

pytestmark = pytest.mark.integration

SCOPE = "agents-availability:read"
TOKEN = "eyJhbGciOiJub25lIn0.eyJzY29wZSI6InN0YXRzIn0.c2lnbmF0dXJl"


@pytest.fixture(scope="session")
def odd_upstream_server() -> Iterator[OddUpstream]:
    server = OddUpstream()
    yield server
    server.stop()


@pytest.fixture
def odd(
    service: Service, odd_upstream_server: OddUpstream, monkeypatch: pytest.MonkeyPatch
) -> OddUpstream:
    """The service pointed at the odd upstream; a failure backs off 10 to 20 s, so that every
    request of a test falls inside the first backoff however slow the machine is."""
    odd_upstream_server.reset()
    monkeypatch.setenv("VCC_TOKEN_URL_TEMPLATE", odd_upstream_server.token_url_template)
    monkeypatch.setenv("BACKOFF_BASE_SECONDS", "20")
    wiring.reset()
    return odd_upstream_server


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": TOKEN, "token_type": "Bearer", "expires_in": "900"},
        {"access_token": TOKEN, "token_type": "Bearer"},  # the fallback lifetime, 900 s
        {"access_token": TOKEN, "token_type": "bearer", "expires_in": 900},
        {"access_token": TOKEN + "==", "token_type": "Bearer", "expires_in": 900, "x": [1]},
    ],
    ids=["string-lifetime", "no-lifetime", "lower-case-type", "padding-and-extra-field"],
)
def test_odd_but_valid_answers_are_served_for_one_grant(
    odd: OddUpstream, vend_handler: Any, body: dict[str, Any]
) -> None:
    odd.answer(**body)
    answers = [invoke(vend_handler, api_event("emea", SCOPE)) for _ in range(3)]
    assert [answer.status for answer in answers] == [200, 200, 200]
    assert {answer.body["access_token"] for answer in answers} == {body["access_token"]}
    assert 850 < answers[0].body["expires_in"] <= 900
    assert odd.requests == 1


def test_a_byte_order_mark_before_the_json_is_read(odd: OddUpstream, vend_handler: Any) -> None:
    odd.body = (
        codecs.BOM_UTF8 + json.dumps({"access_token": TOKEN, "token_type": "Bearer"}).encode()
    )
    assert invoke(vend_handler, api_event("emea", SCOPE)).body["access_token"] == TOKEN


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 1},
        {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 59},
        {"access_token": TOKEN, "token_type": "Bearer", "expires_in": "²"},
        {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 10**12},
        {"access_token": TOKEN, "token_type": "Bearer", "expires_in": "9" * 5000},
        {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 900.5},
        {"access_token": TOKEN, "token_type": "Bearer", "expires_in": -900},
        {"access_token": TOKEN, "token_type": "Bearer", "expires_in": None},
        {"access_token": "abc\r\nX-Injected: 1", "token_type": "Bearer", "expires_in": 900},
        {"access_token": "two words", "token_type": "Bearer", "expires_in": 900},
        {"access_token": "tökén", "token_type": "Bearer", "expires_in": 900},
        {"access_token": "=abc", "token_type": "Bearer", "expires_in": 900},
    ],
    ids=[
        "lifetime-1",
        "lifetime-under-floor",
        "superscript-digit",
        "lifetime-10e12",
        "5000-digits",
        "fractional",
        "negative",
        "null",
        "crlf-token",
        "space-token",
        "non-ascii-token",
        "padding-first",
    ],
)
def test_a_bad_answer_is_a_remembered_502_for_one_grant(
    odd: OddUpstream, vend_handler: Any, body: dict[str, Any]
) -> None:
    # Given VCC answering 200 with something that must not be cached
    odd.answer(**body)
    # When six callers ask
    answers = [invoke(vend_handler, api_event("emea", SCOPE)) for _ in range(6)]
    # Then each gets 502 upstream_bad_response with Retry-After, and VCC was asked once
    for answer in answers:
        assert (answer.status, answer.body["error"]) == (502, "upstream_bad_response")
        assert "Retry-After" in answer.headers
    assert odd.requests == 1
    assert str(body["access_token"]) not in json.dumps([a.body for a in answers])


def test_a_dripping_body_ends_at_the_fetch_deadline_as_a_remembered_timeout(
    odd: OddUpstream, vend_handler: Any, service: Service
) -> None:
    # Given VCC sending its headers at once, then its body a byte every 50 ms (about 100 s)
    odd.answer(access_token=TOKEN + "A" * 1900, token_type="Bearer", expires_in=900)
    odd.drip_seconds = 0.05
    whole = len(odd.body)
    # When two callers ask (the tests' fetch budget is 3 s: conftest)
    first = invoke(vend_handler, api_event("emea", SCOPE))
    second = invoke(vend_handler, api_event("emea", SCOPE))
    # Then the fetch gave up mid-body, answered 504, and was remembered: one grant, no lease left
    assert (first.status, first.body["error"]) == (504, "upstream_timeout")
    assert (second.status, second.body["error"]) == (504, "upstream_timeout")
    assert odd.bytes_sent < whole
    assert odd.requests == 1
    item = service.cached_item("emea", SCOPE) or {}
    assert "lease_owner" not in item
    assert "retry_at" in item


def test_dripping_headers_end_at_the_fetch_deadline_as_a_remembered_timeout(
    odd: OddUpstream, vend_handler: Any, service: Service
) -> None:
    # Given VCC sending even its status line and headers a byte every 100 ms (about 8 s), each
    # byte well within the read timeout
    odd.answer(access_token=TOKEN, token_type="Bearer", expires_in=900)
    odd.header_drip_seconds = 0.1
    # When two callers ask (the tests' fetch budget is 3 s: conftest)
    first = invoke(vend_handler, api_event("emea", SCOPE))
    second = invoke(vend_handler, api_event("emea", SCOPE))
    # Then the fetch was cut off before the headers were complete, answered 504, and was
    # remembered: one grant, no lease left
    assert (first.status, first.body["error"]) == (504, "upstream_timeout")
    assert (second.status, second.body["error"]) == (504, "upstream_timeout")
    status_and_headers = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    head = len(status_and_headers) + len(str(len(odd.body))) + len("\r\n\r\n")
    assert odd.bytes_sent < head
    assert odd.requests == 1
    item = service.cached_item("emea", SCOPE) or {}
    assert "lease_owner" not in item
    assert "retry_at" in item
