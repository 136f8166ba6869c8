"""Retry-After from VCC, as delay-seconds or an HTTP date, becomes the seconds we pass on."""

import pytest
import requests

from vcc_tokens.vcc.token_answer import MAX_RETRY_AFTER, retry_after_seconds

NOW = 1_795_262_400.0  # Sat, 21 Nov 2026 12:00:00 GMT


def answer(retry_after: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7),
        ("0", 1),
        ("86400", MAX_RETRY_AFTER),
        ("Sat, 21 Nov 2026 12:00:30 GMT", 30),
        ("Sat, 21 Nov 2026 11:00:00 GMT", 1),  # already past
        (None, None),
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_in_seconds(header: str | None, seconds: int | None) -> None:
    assert retry_after_seconds(answer(header).headers, now=NOW) == seconds
