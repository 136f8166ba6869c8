"""What a caller asked, validated (vcc_tokens.values.token_request), and the answer it gets for a
token (vcc_token_contract.api): no engine, no fakes."""

from __future__ import annotations

import pytest

from vcc_token_contract.api import rfc3339, token_body
from vcc_tokens.values.config import Settings
from vcc_tokens.values.errors import InvalidRequest, UnknownRegion, UnknownScope
from vcc_tokens.values.token_request import TokenRequest, parse_rejected_token, parse_token_request
from vcc_tokens.values.tokens import Key, token_sha256

SETTINGS = Settings(
    table_name="t", secret_prefix="p/", kms_key_id="alias/k", entitlements_parameter="/e"
)
NOW = 1_800_000_000.0


def test_a_request_names_its_key() -> None:
    assert TokenRequest("emea", "stats", 60).key == Key("emea", "stats")


def test_response_counts_seconds_left_and_formats_rfc3339() -> None:
    body = token_body("old", "emea", "stats", int(NOW) + 300, NOW + 0.5)
    assert body == {
        "access_token": "old",
        "token_type": "Bearer",
        "expires_in": 299,
        "expires_at": rfc3339(int(NOW) + 300),
        "region": "emea",
        "scope": "stats",
    }
    assert rfc3339(0) == "1970-01-01T00:00:00Z"


def test_raw_and_percent_encoded_scopes_parse_alike() -> None:
    raw = parse_token_request("emea", "agents-availability:read", None, SETTINGS)
    encoded = parse_token_request("emea", "agents-availability%3Aread", None, SETTINGS)
    assert raw == encoded == TokenRequest("emea", "agents-availability:read", 60)


@pytest.mark.parametrize(
    ("region", "scope", "min_ttl", "error", "allowed"),
    [
        ("EMEA", "stats", None, UnknownRegion, "allowed: emea, nam, apac"),
        ("eu", "stats", None, UnknownRegion, "allowed: emea, nam, apac"),
        ("emea", "stats:read", None, UnknownScope, "allowed: admin:read, admin:write"),
        ("emea", "stats%2520", None, UnknownScope, "allowed: "),
        ("emea", "stats", "61.0", InvalidRequest, "from 0 to 600"),
        ("emea", "stats", "٣", InvalidRequest, "from 0 to 600"),  # a non-ASCII digit
    ],
)
def test_bad_requests_say_what_is_allowed(
    region: str, scope: str, min_ttl: str | None, error: type[Exception], allowed: str
) -> None:
    with pytest.raises(error, match=allowed):
        parse_token_request(region, scope, min_ttl, SETTINGS)


def test_refresh_body_is_empty_or_a_sha256() -> None:
    digest = token_sha256("x")
    assert parse_rejected_token(None) is None
    assert parse_rejected_token("  ") is None
    assert parse_rejected_token(f'{{"rejected_token_sha256": "{digest.upper()}"}}') == digest


@pytest.mark.parametrize(
    "body",
    [
        "{",
        "[]",
        '{"rejected_token_sha256": "abc"}',
        '{"rejected_token_sha256": 5}',
        '{"token": "x"}',
    ],
)
def test_bad_refresh_bodies_are_refused_with_the_expected_shape(body: str) -> None:
    with pytest.raises(InvalidRequest, match="rejected_token_sha256"):
        parse_rejected_token(body)


@pytest.mark.parametrize(("min_ttl", "flag"), [(0, None), (299, None), (300, False), (600, False)])
def test_a_body_says_when_min_ttl_is_not_met(min_ttl: int, flag: bool | None) -> None:
    body = token_body("t", "emea", "stats", int(NOW) + 299, NOW, min_ttl)
    assert body.get("min_ttl_met") is flag
