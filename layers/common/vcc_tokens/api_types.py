"""The API's answers, as types: the OpenAPI document is generated from these (pydantic reads
them at build time only; at run time they are plain TypedDicts and cost nothing)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from vcc_token_contract.vcc import Region

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse


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
    error: str  # a stable code: unknown_scope, forbidden, upstream_unavailable...
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

    error: Literal[
        "invalid_request",
        "invalid_scope",
        "unsupported_grant_type",
        "temporarily_unavailable",
        "server_error",
    ]
    error_description: str


def _json(model: Any, description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


_DENIED = _json(
    ErrorAnswer | GatewayErrorAnswer,
    "Refused: IAM (API Gateway's message), the entitlement rules (forbidden) or VCC "
    "(scope_not_granted)",
)
_UPSTREAM = {
    500: _json(ErrorAnswer, "The service is misconfigured (a secret or the entitlements)"),
    502: _json(ErrorAnswer, "VCC rejected the service's credentials or answered wrongly"),
    503: _json(ErrorAnswer, "VCC is down or rate limiting; see Retry-After"),
    504: _json(ErrorAnswer, "VCC did not answer in time"),
}
TOKEN_RESPONSES: dict[int, OpenAPIResponse] = {
    200: _json(TokenAnswer, "A token with at least min_ttl seconds left"),
    400: _json(ErrorAnswer, "Unknown region or scope, or a bad parameter; the message says which"),
    403: _DENIED,
    **_UPSTREAM,
}
OAUTH_RESPONSES: dict[int, OpenAPIResponse] = {
    200: _json(OAuthTokenAnswer, "A token (RFC 6749 §5.1)"),
    400: _json(OAuthErrorAnswer, "An RFC 6749 §5.2 error"),
    403: _json(GatewayErrorAnswer, "IAM authorization failed (API Gateway's message)"),
    500: _json(OAuthErrorAnswer, "server_error"),
    503: _json(OAuthErrorAnswer, "temporarily_unavailable; see Retry-After"),
}
