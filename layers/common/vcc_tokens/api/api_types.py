"""The API's answers per route and status, for the OpenAPI document: the answers' types are the
contract's (vcc_token_contract.api); pydantic reads them at build time only, and at run time
they are plain TypedDicts that cost nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vcc_token_contract.api import (
    ErrorAnswer,
    GatewayErrorAnswer,
    OAuthErrorAnswer,
    OAuthTokenAnswer,
    TokenAnswer,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse


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
