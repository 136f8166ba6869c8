"""The secret's JSON is validated; errors name the secret and never repeat a value."""

import base64
from urllib.parse import unquote_plus

import pytest

from vcc_tokens.credentials import ClientCredentials, parse_credentials
from vcc_tokens.errors import CredentialsUnavailable
from vcc_tokens.upstream import basic_authorization

SECRET = "s3cr3t-value-that-must-not-leak"


def test_post_is_the_default_auth_method() -> None:
    credentials = parse_credentials(
        "vcc/emea", f'{{"client_id": "id", "client_secret": "{SECRET}"}}'
    )
    assert credentials == ClientCredentials("id", SECRET, "client_secret_post")
    assert SECRET not in repr(credentials)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        '{"client_id": "id"}',
        f'{{"client_id": "", "client_secret": "{SECRET}"}}',
        f'{{"client_id": "id", "client_secret": 42, "note": "{SECRET}"}}',
        f'{{"client_id": "id", "client_secret": "x", "auth_method": "{SECRET}"}}',
    ],
)
def test_malformed_secrets_name_the_secret_but_no_value(raw: str) -> None:
    with pytest.raises(CredentialsUnavailable) as caught:
        parse_credentials("vcc/emea", raw)
    assert "'vcc/emea'" in caught.value.message
    assert SECRET not in caught.value.message


def test_basic_authorization_matches_rfc_6749_example() -> None:
    # RFC 6749 §2.3.1 and §4.4.2 use this client id and secret
    value = basic_authorization("s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw")
    assert value == "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3"


def test_basic_authorization_form_encodes_id_and_secret_first() -> None:
    value = basic_authorization("id:with colon", "p@ss:w+rd/ é")
    decoded = base64.b64decode(value.removeprefix("Basic ")).decode()
    encoded_id, encoded_secret = decoded.split(":")  # the only raw colon is the separator
    assert encoded_id == "id%3Awith+colon"
    assert (unquote_plus(encoded_id), unquote_plus(encoded_secret)) == (
        "id:with colon",
        "p@ss:w+rd/ é",
    )
