"""`vcc-token admin rotate`: a re-issued VCC secret in, without downtime.

    vcc-token admin rotate --region R [--credential NAME] --function REFRESHER [--scope S] < secret

VCC shows a re-issued secret once, in its admin portal. This stores it (read from stdin, never
from argv or the environment, which other processes can read) as the credential's AWSPENDING
version, then invokes the refresher, which proves it with one token request and only then makes
it AWSCURRENT (vcc_tokens.rotation). Given only the secret, the current document's client_id,
auth_method and scopes are kept. The output names the credential, never its id or secret.
Needs the stack's RotationPolicy (secretsmanager Get/PutSecretValue, lambda:InvokeFunction).
"""

from __future__ import annotations

import codecs
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.session

from vcc_token_client.admin.support import AdminError, aws_client, aws_error, service_code
from vcc_token_client.errors import Exit
from vcc_token_contract.events import rotation_event
from vcc_token_contract.names import secret_name


def decoded(data: bytes) -> str:
    """stdin's bytes as text: UTF-8, with or without a byte-order mark, or UTF-16 with one (what
    a Windows editor saves). Anything else is refused, never stored as mangled characters."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise AdminError(
                "stdin starts like UTF-16 but is not: save it as UTF-8", Exit.BAD_INPUT
            ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AdminError(
            "stdin is neither UTF-8 nor UTF-16 with a byte-order mark: save it as UTF-8",
            Exit.BAD_INPUT,
        ) from None


def _given_document(given: str, current: Callable[[], str]) -> Any:
    """The JSON document given, or the current document with its client_secret replaced by
    the one word given."""
    if given.startswith("{"):
        try:
            return json.loads(given)
        except (ValueError, RecursionError):
            raise AdminError("stdin starts with '{' but is not JSON", Exit.BAD_INPUT) from None
    if any(character.isspace() for character in given):
        raise AdminError(
            "stdin holds more than one word: give only the client secret", Exit.BAD_INPUT
        )
    try:
        document = json.loads(current())
    except ValueError:
        raise AdminError(
            "the current secret is not JSON; give the whole document", Exit.BAD_INPUT
        ) from None
    document["client_secret"] = given
    return document


def pending_secret(text: str, current: Callable[[], str], secret_id: str) -> str:
    """What to store as AWSPENDING: the JSON document given, or the current document with only
    its client_secret replaced by the one given; refused (exit 2) if the service could not use
    it (its own validation). Errors never repeat what was given."""
    given = text.removeprefix("\ufeff").strip()
    if not given:
        raise AdminError(
            "no secret on stdin: pipe the re-issued client secret (or JSON)", Exit.BAD_INPUT
        )
    document = _given_document(given, current)
    if not isinstance(document, dict) or not all(
        isinstance(document.get(key), str) and document[key]
        for key in ("client_id", "client_secret")
    ):
        raise AdminError(
            "the pending secret needs client_id and client_secret strings", Exit.BAD_INPUT
        )
    stored = json.dumps(document)
    with service_code():
        from vcc_tokens.aws.credentials import parse_credentials
        from vcc_tokens.values.errors import CredentialsUnavailable
    try:
        parse_credentials(secret_id, stored, "AWSPENDING")
    except CredentialsUnavailable as refused:  # names the secret, never a value
        raise AdminError(f"not stored: {refused.message}", Exit.BAD_INPUT) from None
    return stored


@dataclass(frozen=True)
class Rotation:
    """Which credential: its secret is named from the stack's SecretPrefix as the service names
    it, and `scope` (optional) is the one the refresher proves the new secret with."""

    secret_prefix: str
    region: str
    credential: str
    scope: str | None = None

    @property
    def secret(self) -> str:
        return secret_name(self.secret_prefix, self.region, self.credential)


def rotate(
    rotation: Rotation,
    text: str,
    function: str,
    session: botocore.session.Session | None = None,
) -> tuple[bool, str]:
    """Store `text` (see pending_secret) as the secret's AWSPENDING version, then have the
    refresher prove and promote it; (rotated, why)."""
    secret = rotation.secret
    secrets = aws_client("secretsmanager", session)

    def current() -> str:
        try:
            return str(secrets.get_secret_value(SecretId=secret)["SecretString"])
        except Exception as exc:  # botocore's errors: say which, never the service's text
            raise aws_error(exc, f"the secret {secret!r}") from None

    document = pending_secret(text, current, secret)
    try:
        stored = secrets.put_secret_value(
            SecretId=secret,
            SecretString=document,
            VersionStages=["AWSPENDING"],
            ClientRequestToken=str(uuid.uuid4()),
        )
    except Exception as exc:  # botocore's errors: say which, never the service's text
        raise aws_error(exc, f"the secret {secret!r}", "write") from None
    # the version stored: if a scheduled run proves and promotes it first, the refresher says so
    event = rotation_event(
        rotation.region, rotation.credential, rotation.scope, str(stored["VersionId"])
    )
    try:
        answer = _invoke(function, event, session)
    except AdminError as stopped:  # half-way: say what is left behind
        raise AdminError(
            f"{stopped}; the secret is stored as AWSPENDING, not current: the next scheduled "
            "run proves and promotes it (within ROTATION_GRACE_SECONDS), or run this again",
            stopped.code,
        ) from None
    return bool(answer.get("rotated")), str(answer.get("reason", "no reason given"))


def _invoke(
    function: str, event: dict[str, Any], session: botocore.session.Session | None
) -> dict[str, Any]:
    client = aws_client("lambda", session)
    try:
        answer = client.invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event)
        )
    except Exception as exc:  # botocore's errors: say which, never the service's text
        raise aws_error(exc, f"the function {function!r}", "invoke") from None
    payload = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError") or not isinstance(payload, dict):
        # Lambda's error payload carries a message and a stack trace: the log is their place
        kind = payload.get("errorType", "no answer") if isinstance(payload, dict) else "no answer"
        raise AdminError(
            f"the function {function!r} failed ({str(kind)[:80]}); its log has the details",
            Exit.UNREACHABLE,
        )
    return payload
