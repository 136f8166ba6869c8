"""The token API as its callers see it: its routes, the shapes of its answers and the HTTP status
of each error code. The service answers with these (functions/vend/app.py,
vcc_tokens.values.errors), the OpenAPI document is generated from them
(vcc_tokens.api.api_types) and the client's test double (vcc_token_client.testing) answers with
them too, so the three cannot drift apart."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal, NotRequired, TypedDict

from vcc_token_contract.vcc import Region

TOKEN_ROUTE = "/tokens/{region}/{scope}"
REFRESH_ROUTE = "/tokens/{region}/{scope}/refresh"
OAUTH_ROUTE = "/oauth2/token"
ROUTES = f"GET {TOKEN_ROUTE}, POST {REFRESH_ROUTE}, POST {OAUTH_ROUTE}"
OAUTH_FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # on every answer of a route

DEFAULT_MIN_TTL = 60  # seconds a token has left at least, when a caller asks for no min_ttl
MAX_MIN_TTL = 600  # the largest min_ttl a caller may ask for (both are the settings' defaults)

# What API Gateway answers (403) for a request without a signature, and for a path or stage it
# does not have, signed or not
MISSING_TOKEN = "Missing Authentication Token"

# Every error code the token routes answer with, and its HTTP status
ERROR_STATUS: dict[str, int] = {
    # the caller's mistakes
    "invalid_request": 400,
    "unknown_region": 400,
    "unknown_scope": 400,
    "scope_not_served": 400,
    "forbidden": 403,
    "not_found": 404,
    # the service's own configuration and AWS access: an operator must act
    "internal_error": 500,
    "service_misconfigured": 500,
    "credentials_unavailable": 500,
    "entitlements_unavailable": 500,
    "dependency_error": 500,
    "dependency_unavailable": 503,
    # VCC's token endpoint
    "upstream_error": 502,
    "upstream_rejected_credentials": 502,
    "scope_not_granted": 403,
    "upstream_rejected_request": 502,
    "upstream_bad_response": 502,
    "upstream_unavailable": 503,
    "upstream_rate_limited": 503,
    "upstream_timeout": 504,
}

OAuthErrorCode = Literal[
    "invalid_request",
    "invalid_scope",
    "unsupported_grant_type",
    "temporarily_unavailable",
    "server_error",
]


class TokenAnswer(TypedDict):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int  # seconds left
    expires_at: str  # RFC 3339, UTC
    region: Region
    scope: str
    # false when the token has less than the min_ttl asked for (absent otherwise)
    min_ttl_met: NotRequired[bool]


class ErrorAnswer(TypedDict):
    error: str  # a stable code (ERROR_STATUS): unknown_scope, forbidden, upstream_unavailable...
    message: str  # what is wrong and what is allowed


class GatewayErrorAnswer(TypedDict):
    """API Gateway's own answer when IAM authorization fails (403)."""

    message: str


class OAuthTokenAnswer(TypedDict):
    """RFC 6749 §5.1."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class OAuthErrorAnswer(TypedDict):
    """RFC 6749 §5.2."""

    error: OAuthErrorCode
    error_description: str


def token_body(
    access_token: str, region: Region, scope: str, expires_at: int, now: float, min_ttl: int = 0
) -> TokenAnswer:
    """The body of GET /tokens/{region}/{scope} and of a refresh. A token with less than the
    `min_ttl` asked for (served as a fallback, or capped at half its lifetime) says so."""
    body = TokenAnswer(
        access_token=access_token,
        token_type="Bearer",
        expires_in=max(0, int(expires_at - now)),
        expires_at=rfc3339(expires_at),
        region=region,
        scope=scope,
    )
    if body["expires_in"] < min_ttl:
        body["min_ttl_met"] = False
    return body


def error_body(code: str, message: str) -> ErrorAnswer:
    if code not in ERROR_STATUS:
        raise ValueError(f"{code!r} is not one of the API's error codes")
    return ErrorAnswer(error=code, message=message)


def oauth_token_body(access_token: str, scope: str, expires_in: int) -> OAuthTokenAnswer:
    return OAuthTokenAnswer(
        access_token=access_token, token_type="Bearer", expires_in=expires_in, scope=scope
    )


def oauth_error_body(error: OAuthErrorCode, description: str) -> OAuthErrorAnswer:
    return OAuthErrorAnswer(error=error, error_description=description)


def oauth_error_for(code: str) -> tuple[OAuthErrorCode, int]:
    """The RFC 6749 §5.2 error and HTTP status that stand for one of the API's error codes."""
    status = ERROR_STATUS[code]
    if code in ("unknown_scope", "scope_not_served", "forbidden", "scope_not_granted"):
        return "invalid_scope", 400
    if status < 500:
        return "invalid_request", 400
    if status in (503, 504):
        return "temporarily_unavailable", 503
    return "server_error", 500


@lru_cache(maxsize=1024)  # a served token's expiry, written on every answer that serves it
def rfc3339(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
