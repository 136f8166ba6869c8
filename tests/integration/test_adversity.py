"""One upstream request per key per lifetime under adversity, on the real servers: a failing or
rate-limiting VCC is asked once per backoff and callers never sleep through its Retry-After,
refreshes are bounded, min_ttl beyond what VCC issues costs no extra fetch, a fixed secret works
at once, and caller mistakes of any size are 400s."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest

from local.vcc_emulator import VccEmulator
from tests.conftest import CLIENTS, Service
from tests.support import api_event, invoke, load_event, timed
from vcc_tokens import wiring

pytestmark = pytest.mark.integration

SCOPE = "agents-availability:read"


def refresh_event(body: str | None) -> dict[str, Any]:
    request = load_event("refresh_token_emea_agents_availability.json")
    request["body"] = body
    return request


def test_a_rate_limiting_vcc_is_asked_once_and_nobody_sleeps_through_retry_after(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    # Given VCC answering 429 with Retry-After: 7 to every request
    emulator.fail_next("rate_limited", count=100)
    # When three callers (two instances) ask for an uncached key
    answers = [timed(vend_handler, api_event("emea", SCOPE)) for _ in range(2)]
    wiring.reset()
    answers.append(timed(vend_handler, api_event("emea", SCOPE)))
    # Then VCC saw one request; each caller got 503 with the remaining Retry-After at once
    assert emulator.token_requests == 1
    for response, seconds in answers:
        assert (response.status, response.body["error"]) == (503, "upstream_rate_limited")
        assert 1 <= int(response.headers["Retry-After"]) <= 7
        assert seconds < 2  # not the 7 s VCC asked for
    assert "not asked again" in answers[-1][0].body["message"]


@pytest.mark.parametrize("failure", ["server_error", "rate_limited"])
def test_a_valid_token_due_for_renewal_is_served_at_once_while_vcc_fails(
    service: Service, emulator: VccEmulator, vend_handler: Any, failure: str
) -> None:
    # Given a valid token inside its renewal margin (100 s of 900 s left), and VCC failing
    cached = service.put_token("emea", SCOPE, "valid-cached-token", int(time.time()) + 100)
    emulator.fail_next(failure, count=100)
    # When three callers ask
    answers = [timed(vend_handler, api_event("emea", SCOPE)) for _ in range(3)]
    # Then all get the cached token quickly; only the first request tried to renew it
    for response, seconds in answers:
        assert (response.status, response.body["access_token"]) == (200, cached.access_token)
        assert seconds < 2
    assert emulator.token_requests == (3 if failure == "server_error" else 1)  # one fetch's tries


def test_the_key_is_fetched_again_once_its_backoff_has_passed(
    service: Service, emulator: VccEmulator, vend_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKOFF_BASE_SECONDS", "0.5")  # first backoff: 0.25 to 0.5 s
    monkeypatch.setenv("CLOCK_SKEW_SECONDS", "0")  # one process, one clock: no tolerance
    wiring.reset()
    emulator.fail_next("server_error", count=3)  # one fetch: three tries
    failed = invoke(vend_handler, api_event("emea", SCOPE))
    assert (failed.status, emulator.token_requests) == (503, 3)
    assert invoke(vend_handler, api_event("emea", SCOPE)).status == 503  # backing off
    assert emulator.token_requests == 3
    time.sleep(0.6)
    recovered = invoke(vend_handler, api_event("emea", SCOPE))
    assert (recovered.status, emulator.token_requests) == (200, 4)
    item = service.cached_item("emea", SCOPE) or {}
    assert "retry_at" not in item  # a stored token clears the failure memory


def test_a_scope_vcc_refuses_is_remembered(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    first = invoke(vend_handler, api_event("emea", "globalpci"))
    second = invoke(vend_handler, api_event("emea", "globalpci"))
    for answer in (first, second):
        assert (answer.status, answer.body["error"]) == (403, "scope_not_granted")
    assert int(second.headers["Retry-After"]) <= 60  # the shorter cap for rejections
    assert emulator.token_requests == 1


def test_refreshing_by_the_hash_of_each_new_token_fetches_once_per_interval(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    # Given a caller that quotes the hash of the token it just received, in a loop
    token = invoke(vend_handler, api_event("emea", SCOPE)).body["access_token"]
    for _ in range(20):
        body = json.dumps({"rejected_token_sha256": hashlib.sha256(token.encode()).hexdigest()})
        response = invoke(vend_handler, refresh_event(body))
        assert response.status == 200
        token = response.body["access_token"]
    # Then VCC saw the first GET's request and one refresh
    assert emulator.token_requests == 2


def test_min_ttl_beyond_the_token_lifetime_does_not_fetch_per_request(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    # Given VCC issuing 75 s tokens, and a caller asking for 600 s
    emulator.expires_in = 75
    answers = [invoke(vend_handler, api_event("emea", SCOPE, {"min_ttl": "600"})) for _ in range(5)]
    # Then one fetch: the token is served while it has half its lifetime left
    assert emulator.token_requests == 1
    assert {answer.body["access_token"] for answer in answers} == {answers[0].body["access_token"]}
    assert all(37 <= answer.body["expires_in"] <= 75 for answer in answers)


def test_a_corrected_secret_works_at_once(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    # Given a malformed emea secret, read and cached by a first request
    client, _ = CLIENTS["emea"]
    service.secretsmanager.put_secret_value(
        SecretId=service.secret_prefix + "emea", SecretString="{not json"
    )
    assert invoke(vend_handler, api_event("emea", SCOPE)).status == 500
    # When an operator fixes it, Then the next request works (no wait for SECRET_MAX_AGE)
    service.set_secret("emea", client.client_id, client.client_secret, None)
    assert invoke(vend_handler, api_event("emea", SCOPE)).status == 200


@pytest.mark.parametrize(
    ("event", "mistake"),
    [
        (api_event("emea", SCOPE, {"min_ttl": "9" * 4301}), "min_ttl"),
        (refresh_event("[" * 100_000), "body"),
        (refresh_event('{"rejected_token_sha256": "' + "a" * 100_000 + '"}'), "body"),
    ],
)
def test_huge_caller_mistakes_are_400s(
    service: Service, emulator: VccEmulator, vend_handler: Any, event: Any, mistake: str
) -> None:
    response = invoke(vend_handler, event)
    assert (response.status, response.body["error"]) == (400, "invalid_request")
    assert mistake in response.body["message"]
    assert len(response.body["message"]) < 300
    assert emulator.token_requests == 0


def test_a_caller_holding_a_valid_token_is_not_held_up_by_a_slow_vcc(
    service: Service, emulator: VccEmulator, vend_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given VCC answering after 4 s (within the 5 s read timeout), and a token due for renewal
    monkeypatch.setenv("UPSTREAM_READ_TIMEOUT", "5")
    monkeypatch.setenv("UPSTREAM_BUDGET_SECONDS", "8")
    wiring.reset()
    cached = service.put_token("emea", SCOPE, "valid-cached-token", int(time.time()) + 100)
    emulator.hang_seconds = 4.0
    emulator.fail_next("timeout")
    # When the caller that takes the renewal asks, Then it gets its valid token in about the
    # renew-ahead budget (1.5 s), and the slow renewal is remembered for the others
    response, seconds = timed(vend_handler, api_event("emea", SCOPE))
    assert (response.status, response.body["access_token"]) == (200, cached.access_token)
    assert seconds < 3
    item = service.cached_item("emea", SCOPE) or {}
    assert item["failure_code"]["S"] == "upstream_timeout"


def test_a_token_short_of_min_ttl_says_so(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    # Given a cached 900 s token with 500 s left: min_ttl=600 is capped at half its lifetime
    service.put_token("emea", SCOPE, "capped-but-valid", int(time.time()) + 500)
    capped = invoke(vend_handler, api_event("emea", SCOPE, {"min_ttl": "600"}))
    assert (capped.status, capped.body["min_ttl_met"]) == (200, False)
    assert emulator.token_requests == 0
    # and a request whose min_ttl the token meets carries no flag
    met = invoke(vend_handler, api_event("emea", SCOPE, {"min_ttl": "400"}))
    assert "min_ttl_met" not in met.body
    # Given VCC down and a token with 30 s left, a caller asking for 60 gets it, flagged
    service.put_token("nam", SCOPE, "short-but-valid", int(time.time()) + 30)
    emulator.fail_next("server_error", count=100)
    fallback = invoke(vend_handler, api_event("nam", SCOPE))
    assert (fallback.status, fallback.body["access_token"]) == (200, "short-but-valid")
    assert fallback.body["min_ttl_met"] is False
