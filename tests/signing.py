"""SigV4 signing as a caller does it (botocore), with an optional fixed signing time."""

from __future__ import annotations

from datetime import datetime

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def signed_headers(
    method: str,
    url: str,
    access_key_id: str,
    secret_access_key: str,
    *,
    body: bytes = b"",
    region: str = "eu-west-1",
    at: datetime | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers a caller sends; `extra` headers are signed too (x-amz-content-sha256...)."""
    request = AWSRequest(method=method, url=url, data=body, headers=extra or {})
    signer = SigV4Auth(Credentials(access_key_id, secret_access_key), "execute-api", region)
    if at is None:
        signer.add_auth(request)  # what a real caller does: now
        return dict(request.headers)
    # The same steps as add_auth, at a chosen time (to make a stale request)
    amz_date = at.strftime("%Y%m%dT%H%M%SZ")
    request.context["timestamp"] = amz_date
    request.headers["X-Amz-Date"] = amz_date
    signature = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    names = signer.signed_headers(signer.headers_to_sign(request))
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key_id}/{signer.credential_scope(request)}, "
        f"SignedHeaders={names}, Signature={signature}"
    )
    return dict(request.headers)
