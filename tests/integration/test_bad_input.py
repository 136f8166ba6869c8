"""Whatever a caller sends, the answer is 200 for a valid request and 4xx otherwise: never a
5xx, never a stack trace. Hypothesis generates the requests; the handler runs on the real local
servers."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from local.vcc_emulator import VccEmulator
from tests.conftest import GRANTED, Service
from tests.support import api_event, invoke
from vcc_token_contract.vcc import REGIONS, SCOPES

pytestmark = pytest.mark.integration

TRAVERSALS = [
    "..",
    "../..",
    "%2e%2e",
    "%2E%2E%2F",
    "..%2f..%2fetc%2fpasswd",
    "./stats",
    "%00",
    "%zz",
]
regions = st.one_of(st.sampled_from(REGIONS), st.sampled_from(TRAVERSALS), st.text(max_size=40))
scopes = st.one_of(
    st.sampled_from(SCOPES),
    st.sampled_from(SCOPES).map(lambda s: quote(s, safe="")),
    st.sampled_from(TRAVERSALS),
    st.text(max_size=80),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz:-", min_size=300, max_size=5000),  # oversized
    st.text(alphabet="éüß漢字🙂", min_size=1, max_size=20),  # non-ASCII
)
min_ttls = st.one_of(
    st.integers(min_value=-10, max_value=10**6).map(str),
    st.sampled_from(["", "1.5", "1e3", "٣", " 60", "0x10", "60 "]),
    st.text(max_size=12),
)
queries = st.one_of(
    st.none(),
    st.dictionaries(st.just("min_ttl"), min_ttls, max_size=1),
    st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=3),
)
bodies = st.one_of(
    st.none(), st.just(""), st.text(max_size=200), st.just('{"rejected_token_sha256": 1}')
)


def is_valid_get(region: str, scope: str, query: dict[str, str] | None, body: str | None) -> bool:
    query = query or {}
    min_ttl = query.get("min_ttl", "60")
    return (
        region in REGIONS
        and scope.replace("%3A", ":") in GRANTED  # the test clients lack globalpci
        and set(query) <= {"min_ttl"}
        and min_ttl.isascii()
        and min_ttl.isdigit()
        and int(min_ttl) <= 600
        and not body
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    region=regions,
    scope=scopes,
    query=queries,
    body=bodies,
    refresh=st.booleans(),
)
@example(method="GET", region="emea", scope="stats", query=None, body=None, refresh=False)
@example(
    method="GET",
    region="nam",
    scope="users%3Aread",
    query={"min_ttl": "0"},
    body=None,
    refresh=False,
)
@example(method="GET", region="emea", scope="..", query=None, body=None, refresh=False)
@example(
    method="GET", region="apac", scope="stats", query={"min_ttl": "601"}, body=None, refresh=False
)
def test_no_request_gets_a_5xx(
    service: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    method: str,
    region: str,
    scope: str,
    query: dict[str, str] | None,
    body: str | None,
    refresh: bool,
) -> None:
    request = api_event(region, scope, query)
    request["httpMethod"] = method
    request["path"] += "/refresh" if refresh else ""
    request["body"] = body
    response = invoke(vend_handler, request)
    assert response.status < 500, response.body
    assert "Traceback" not in str(response.body)
    if response.status >= 400:
        assert set(response.body) == {"error", "message"}
    if method == "GET" and not refresh and "/" not in region + scope:
        assert (response.status == 200) == is_valid_get(region, scope, query, body), response.body


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"queryStringParameters": {"min_ttl": "60", "debug": "1"}},
            "unknown query parameter 'debug'",
        ),
        ({"body": '{"x": 1}'}, "GET takes no body"),
        ({"multiValueQueryStringParameters": {"min_ttl": ["60", "61"]}}, "more than once"),
    ],
)
def test_specific_bad_inputs_say_what_is_wrong(
    service: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    changes: dict[str, Any],
    message: str,
) -> None:
    request = api_event("emea", "stats")
    request.update(changes)
    if "queryStringParameters" in changes:
        request["multiValueQueryStringParameters"] = {
            k: [v] for k, v in changes["queryStringParameters"].items()
        }
    response = invoke(vend_handler, request)
    assert (response.status, response.body["error"]) == (400, "invalid_request")
    assert message in response.body["message"]
    assert emulator.token_requests == 0
