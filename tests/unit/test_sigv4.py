"""The local stack's SigV4 check answers as API Gateway's AWS_IAM authorization does."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from vcc_token_client.testing.sigv4 import (
    INVALID_TOKEN,
    PAYLOAD_MISMATCH,
    SIGNATURE_MISMATCH,
    UNSIGNED_PAYLOAD,
    AuthError,
    Caller,
    verify,
)

from tests.signing import signed_headers
from vcc_token_contract.api import MISSING_TOKEN

CALLER = Caller(
    "LOCALKEY000000000001", "local-secret-key", "arn:aws:sts::111122223333:assumed-role/jobs/run-7"
)
CALLERS = {CALLER.access_key_id: CALLER}
HOST = "127.0.0.1:3000"
PATH = "/tokens/emea/agents-availability:read?min_ttl=30"
NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


def headers(
    at: datetime = NOW,
    key: str = CALLER.access_key_id,
    secret: str = CALLER.secret_access_key,
    path: str = PATH,
) -> dict[str, str]:
    return signed_headers("GET", f"http://{HOST}{path}", key, secret, at=at)


def check(
    sent_headers: dict[str, str],
    path: str = PATH,
    now: datetime = NOW,
    method: str = "GET",
    body: bytes = b"",
) -> Caller:
    sent = {"Host": HOST, **sent_headers}  # as every HTTP client sends it
    return verify(
        method=method,
        raw_path=path,
        headers=sent,
        body=body,
        callers=CALLERS,
        now=now,
        hosts={HOST},
    )


def test_a_correct_signature_names_the_caller() -> None:
    caller = check(headers())
    assert caller == CALLER
    assert caller.account_id == "111122223333"


def test_four_minutes_of_clock_skew_are_tolerated() -> None:
    assert check(headers(at=NOW - timedelta(minutes=4))) == CALLER


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda h: {k: v for k, v in h.items() if k != "Authorization"}, MISSING_TOKEN),
        (
            lambda h: (
                h
                | {
                    "Authorization": h["Authorization"].replace(
                        "LOCALKEY000000000001", "LOCALKEY000000000002"
                    )
                }
            ),
            INVALID_TOKEN,
        ),
        (lambda h: h | {"Authorization": h["Authorization"][:-4] + "0000"}, SIGNATURE_MISMATCH),
        (lambda h: h | {"X-Amz-Date": "20261121T120001Z"}, SIGNATURE_MISMATCH),
        (
            lambda h: h | {"Authorization": h["Authorization"].replace("execute-api", "lambda")},
            "execute-api",
        ),
        (lambda h: h | {"Authorization": "Bearer abc"}, "requires 'Credential'"),
    ],
)
def test_tampered_or_missing_authorization_is_refused(tamper, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AuthError, match=message.replace(".", r"\.").replace("(", r"\(")[:40]):
        check(tamper(headers()))


def test_a_changed_query_or_method_breaks_the_signature() -> None:
    with pytest.raises(AuthError, match="does not match"):
        check(headers(), path=PATH.replace("30", "31"))
    with pytest.raises(AuthError, match="does not match"):
        check(headers(), method="POST")


def test_a_wrong_secret_key_breaks_the_signature() -> None:
    with pytest.raises(AuthError, match="does not match"):
        check(headers(secret="not-the-key"))


@pytest.mark.parametrize(("offset", "message"), [(-6, "Signature expired"), (6, "not yet current")])
def test_signatures_older_or_newer_than_five_minutes_are_refused(offset: int, message: str) -> None:
    with pytest.raises(AuthError, match=message):
        check(headers(at=NOW + timedelta(minutes=offset)))


REFRESH = "/tokens/emea/stats/refresh"


def signed_post(body: bytes, payload_hash: str, host: str = HOST) -> dict[str, str]:
    return signed_headers(
        "POST",
        f"http://{host}{REFRESH}",
        CALLER.access_key_id,
        CALLER.secret_access_key,
        body=body,
        at=NOW,
        extra={"X-Amz-Content-SHA256": payload_hash},
    )


def test_a_signed_payload_hash_must_match_the_body_received() -> None:
    signed_body = b'{"rejected_token_sha256": null}'
    sent = signed_post(signed_body, hashlib.sha256(signed_body).hexdigest())
    assert check(sent, path=REFRESH, method="POST", body=signed_body) == CALLER
    with pytest.raises(AuthError, match="x-amz-content-sha256"):
        check(sent, path=REFRESH, method="POST", body=b"{}")  # swapped after signing
    assert "does not match what was computed" in PAYLOAD_MISMATCH


def test_an_unsigned_payload_is_refused() -> None:
    sent = signed_post(b"{}", "UNSIGNED-PAYLOAD")
    with pytest.raises(AuthError) as refused:
        check(sent, path=REFRESH, method="POST", body=b"{}")
    assert refused.value.message == UNSIGNED_PAYLOAD


def test_a_signature_for_another_host_is_refused() -> None:
    sent = signed_headers(
        "GET",
        f"http://api.example.com{PATH}",
        CALLER.access_key_id,
        CALLER.secret_access_key,
        at=NOW,
    )
    with pytest.raises(AuthError, match="does not match"):
        check({**sent, "Host": "api.example.com"})


def test_an_authorization_that_is_no_signature_is_not_echoed_back() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.a-bearer-token-sent-by-mistake"
    with pytest.raises(AuthError) as refused:
        check(headers() | {"Authorization": token})
    assert token not in str(refused.value)
    assert "Authorization=(not shown)" in str(refused.value)
    with pytest.raises(AuthError, match=r"Authorization=Bearer$"):
        check(headers() | {"Authorization": f"Bearer {token}"})
