"""AWS Signature Version 4 verification, as API Gateway's AWS_IAM authorization does it: used by
the test double of the service (vcc_token_client.testing) and by `make run`'s local API front.

The signature is recomputed with botocore's own SigV4 implementation from what the caller sent:
the method, the raw path and query, the headers named in SignedHeaders and the body, at the
caller's X-Amz-Date, with the secret key of the access key id in Credential. Failures carry the
messages API Gateway answers with (403).

botocore signs the value of an X-Amz-Content-SHA256 header in place of the body's hash, so that
header, when present, must be the SHA-256 of the body received (else a body swapped after
signing would pass); UNSIGNED-PAYLOAD is refused, as execute-api does. The signed Host must be
this API's own address. Without known callers (`callers=None`), any access key is taken: the
request must still be signed, for execute-api, within the 5 minutes, with a signed Host that is
this API's, but the signature itself cannot be checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from vcc_token_contract.api import MISSING_TOKEN

MAX_SKEW = timedelta(minutes=5)
AMZ_DATE = "%Y%m%dT%H%M%SZ"

INVALID_TOKEN = "The security token included in the request is invalid."
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD is not supported: sign the request's body."
PAYLOAD_MISMATCH = "The provided 'x-amz-content-sha256' header does not match what was computed."

_SCHEME = re.compile(r"[A-Za-z0-9-]{1,32}")  # Bearer, AWS4-HMAC-SHA256, Basic...
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed_headers>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


class AuthError(Exception):
    """The request is not authenticated; `message` is what API Gateway would answer (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Caller:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    principal_arn: str
    organization_id: str | None = None  # the caller's AWS Organization, if any

    @property
    def account_id(self) -> str:
        return self.principal_arn.split(":")[4]


def load_callers(path: Path) -> dict[str, Caller]:
    """Known callers: a JSON list of {"access_key_id", "secret_access_key", "principal_arn"}
    (its account is the one the API's resource policy sees), with an optional
    "organization_id" (o-...) when the caller's account belongs to an AWS Organization."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    callers = {}
    for number, entry in enumerate(entries):
        try:
            caller = Caller(
                entry["access_key_id"],
                entry["secret_access_key"],
                entry["principal_arn"],
                entry.get("organization_id"),
            )
        except (KeyError, TypeError):
            raise ValueError(
                f"{path}: entry {number} needs access_key_id, secret_access_key, principal_arn"
            ) from None
        if not re.match(
            r"^arn:aws[\w-]*:(iam|sts)::\d{12}:(role|assumed-role)/", caller.principal_arn
        ):
            raise ValueError(
                f"{path}: entry {number}: principal_arn must be an IAM role or STS assumed-role ARN"
            )
        callers[caller.access_key_id] = caller
    return callers


def verify(
    *,
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes,
    callers: Mapping[str, Caller] | None,
    now: datetime,
    hosts: set[str],
    anyone: str = "",
) -> Caller:
    """The verified caller, or AuthError with API Gateway's message. `hosts`: the Host values
    this API answers to. `callers=None`: any access key, as the principal `anyone`."""
    lowered = {name.lower(): value for name, value in headers.items()}
    match = _authorization(lowered)
    access_key_id, date, region, service, _ = (match["credential"].split("/") + [""] * 5)[:5]
    known = callers.get(access_key_id) if callers is not None else Caller(access_key_id, "", anyone)
    if known is None:
        raise AuthError(INVALID_TOKEN)
    amz_date = lowered.get("x-amz-date", "")
    if date != _signed_at(amz_date, now).strftime(AMZ_DATE)[:8]:
        raise AuthError(SIGNATURE_MISMATCH)
    signed_names = match["signed_headers"].split(";")
    _check_signed_content(signed_names, lowered, body, hosts)
    if callers is not None:
        request = AWSRequest(
            method=method,
            url=f"http://{lowered['host']}{raw_path}",
            headers={name: lowered[name] for name in signed_names},
            data=body,
        )
        request.context["timestamp"] = amz_date
        _check_signature(request, known, (service, region), match["signature"])
    return known


def _check_signature(
    request: AWSRequest, caller: Caller, scope: tuple[str, str], signature: str
) -> None:
    service, region = scope
    signer = SigV4Auth(Credentials(caller.access_key_id, caller.secret_access_key), service, region)
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected, signature):
        raise AuthError(SIGNATURE_MISMATCH)


def _authorization(lowered: dict[str, str]) -> re.Match[str]:
    """The Authorization header's parts, its credential scoped to execute-api."""
    authorization = lowered.get("authorization")
    if not authorization:
        raise AuthError(MISSING_TOKEN)
    match = _AUTHORIZATION.match(authorization.strip())
    if match is None:  # API Gateway names the scheme; anything longer is not echoed back
        scheme = authorization.split(" ")[0]
        shown = scheme if _SCHEME.fullmatch(scheme) else "(not shown)"
        raise AuthError(
            f"Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
            f"parameters. Authorization={shown}"
        )
    scope = (match["credential"].split("/") + [""] * 5)[:5]
    if scope[3] != "execute-api" or scope[4] != "aws4_request":
        raise AuthError("Credential should be scoped to correct service: 'execute-api'.")
    return match


def _signed_at(amz_date: str, now: datetime) -> datetime:
    """X-Amz-Date, within API Gateway's 5 minutes of `now`."""
    try:
        signed_at = datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise AuthError(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        ) from None
    if signed_at < now - MAX_SKEW:
        raise AuthError(
            f"Signature expired: {amz_date} is now earlier than "
            f"{(now - MAX_SKEW).strftime(AMZ_DATE)} ({now.strftime(AMZ_DATE)} - 5 min.)"
        )
    if signed_at > now + MAX_SKEW:
        raise AuthError(
            f"Signature not yet current: {amz_date} is still later than "
            f"{(now + MAX_SKEW).strftime(AMZ_DATE)} ({now.strftime(AMZ_DATE)} + 5 min.)"
        )
    return signed_at


def _check_signed_content(
    signed_names: list[str], lowered: dict[str, str], body: bytes, hosts: set[str]
) -> None:
    """The host is signed and is this API's, every signed header is present, and the payload
    hash, if sent, is the body's."""
    if "host" not in signed_names or any(name not in lowered for name in signed_names):
        raise AuthError(SIGNATURE_MISMATCH)
    if lowered["host"] not in hosts:
        raise AuthError(SIGNATURE_MISMATCH)  # signed for another API
    payload_hash = lowered.get("x-amz-content-sha256")
    if payload_hash == "UNSIGNED-PAYLOAD":
        raise AuthError(UNSIGNED_PAYLOAD)
    if payload_hash is not None and payload_hash != hashlib.sha256(body).hexdigest():
        raise AuthError(PAYLOAD_MISMATCH)
