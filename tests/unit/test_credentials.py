"""The secret's JSON is validated; errors name the secret and never repeat a value."""

import base64
from urllib.parse import unquote_plus

import pytest

from vcc_tokens.aws.credentials import ClientCredentials, parse_credentials
from vcc_tokens.values.errors import CredentialsUnavailable
from vcc_tokens.vcc.upstream import basic_authorization

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


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("[" * 10_000 + "]" * 10_000, "is 20000 characters long"),
        ("[" * 4_090 + "]" * 4_090, "is not a JSON object"),  # the deepest that fits
        ('{"client_id": "id", "client_secret": "x", "n": ' + "9" * 5_000 + "}", "not a JSON"),
        ('{"client_id": "id", "client_secret": "\\udcff\\udcfe"}', "'client_secret' that is not"),
        ('{"client_id": "id\\u0000", "client_secret": "x"}', "'client_id' that is not"),
        ('{"client_id": "id", "client_secret": "' + "x" * 2_000 + '"}', "at most 1024"),
        (b"\xff\xfe{\x00", "is binary that is not UTF-8 text"),
    ],
    ids=["10000-deep", "4090-deep", "5000-digits", "lone-surrogates", "nul", "long", "utf-16"],
)
def test_odd_secrets_are_credentials_unavailable_naming_secret_and_stage(
    raw: str | bytes, why: str
) -> None:
    # Given a secret no operator meant, but anyone with PutSecretValue can store
    # When parsed, Then it is refused with one clear reason, never a RecursionError, a
    # ValueError or (later, on the wire) a UnicodeEncodeError
    with pytest.raises(CredentialsUnavailable) as caught:
        parse_credentials("vcc/emea", raw, "AWSPENDING")
    assert caught.value.message.startswith("secret 'vcc/emea' (AWSPENDING) ")
    assert why in caught.value.message


def test_a_byte_order_mark_before_the_json_is_accepted() -> None:
    raw = f'\ufeff{{"client_id": "id", "client_secret": "{SECRET}"}}'
    assert parse_credentials("vcc/emea", raw).client_secret == SECRET


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
