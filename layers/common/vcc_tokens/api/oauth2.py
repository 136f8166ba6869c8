"""`POST /oauth2/token`: the service as an OAuth 2.0 token endpoint (RFC 6749 §4.4).

A standard client-credentials client pointed at it (with SigV4 signing added) gets VCC tokens:
form body `grant_type=client_credentials&scope=...`, optional `region` (default configurable).
The caller is authenticated by IAM, so no client id or secret is taken. Answers and errors are
in RFC 6749 form (§5.1, §5.2).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from vcc_token_contract.api import OAUTH_FORM as FORM
from vcc_token_contract.api import (
    OAuthErrorAnswer,
    OAuthErrorCode,
    oauth_error_body,
    oauth_error_for,
)
from vcc_tokens.values.config import Settings
from vcc_tokens.values.errors import VendError
from vcc_tokens.values.token_request import TokenRequest, parse_token_request


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(
        self,
        error: OAuthErrorCode,
        description: str,
        status: int = 400,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.retry_after = retry_after

    def body(self) -> OAuthErrorAnswer:
        return oauth_error_body(self.error, self.description)


def parse_token_form(
    content_type: str | None, body: str | None, settings: Settings
) -> TokenRequest:
    """The (region, scope) a client-credentials request asks for, or OAuthError."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != FORM:
        raise OAuthError("invalid_request", f"the request body must be {FORM}")
    try:
        fields = parse_qs(body or "", keep_blank_values=True, strict_parsing=bool(body))
    except ValueError:
        raise OAuthError("invalid_request", "the form body is malformed") from None
    repeated = sorted(name for name, values in fields.items() if len(values) > 1)
    if repeated:
        raise OAuthError(
            "invalid_request", f"parameters given more than once: {', '.join(repeated)}"
        )
    form = {name: values[0] for name, values in fields.items()}
    if "client_secret" in form or "client_assertion" in form:
        raise OAuthError(
            "invalid_request",
            "this endpoint authenticates callers with AWS SigV4; send no client credentials",
        )
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise OAuthError("invalid_request", "grant_type is required (client_credentials)")
    if grant_type != "client_credentials":
        raise OAuthError(
            "unsupported_grant_type", "only grant_type=client_credentials is supported"
        )
    scope = form.get("scope", "").strip()
    if not scope or " " in scope:
        raise OAuthError("invalid_scope", "exactly one scope is required per token request")
    region = form.get("region") or settings.default_vcc_region
    try:
        return parse_token_request(region, scope, None, settings)
    except VendError as error:
        raise oauth_error(error) from None


def oauth_error(error: VendError) -> OAuthError:
    """The RFC 6749 form of one of the service's errors (the contract's mapping)."""
    code, status = oauth_error_for(error.code)
    retry_after = (error.retry_after or 1) if status == 503 else None
    return OAuthError(code, error.public_message, status, retry_after)
