"""The token API for IAM-authorized callers:
GET /tokens/{region}/{scope}: a cached VCC bearer token;
POST /tokens/{region}/{scope}/refresh: replace a token VCC rejected (401), once for all callers;
POST /oauth2/token: the same tokens for standard OAuth 2.0 client-credentials clients.

API Gateway has already verified the caller's SigV4 signature (AWS_IAM authorization); this
function only resolves the route. Domain errors are mapped to HTTP answers once, below.
"""

import functools
import time
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from vcc_token_contract.api import NO_STORE, ROUTES, error_body, oauth_token_body, token_body
from vcc_token_contract.ledger import SERVED, Field
from vcc_token_contract.vcc import Region
from vcc_tokens.api.api_types import OAUTH_RESPONSES, TOKEN_RESPONSES
from vcc_tokens.api.oauth2 import OAuthError, oauth_error, parse_token_form
from vcc_tokens.api.rest import APIGatewayRestResolver, NotFoundError, Response, content_types
from vcc_tokens.aws.clients import deadline_in
from vcc_tokens.aws.entitlements import authorize
from vcc_tokens.observability import flushes_metrics, logger, request_ids
from vcc_tokens.values.config import ConfigurationError, get_settings
from vcc_tokens.values.errors import UpstreamError, VendError
from vcc_tokens.values.token_request import (
    TokenRequest,
    check_no_body,
    check_query,
    parse_rejected_token,
    parse_token_request,
)
from vcc_tokens.vending import Vend
from vcc_tokens.wiring import entitlement_store, token_vendor

GET_QUERY = frozenset({"min_ttl"})
REFRESH_QUERY: frozenset[str] = frozenset()

app = APIGatewayRestResolver()


def json_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={**NO_STORE, **(headers or {})},
    )


Route = Callable[..., Response[dict[str, Any]]]


def within_deadline(route: Route) -> Route:
    """Every AWS call, lease wait and VCC fetch of the route keeps to one deadline. A plain
    decorator, not a resolver middleware: Powertools' middleware stack costs a cached answer
    about a tenth of its time; inside the route, a ConfigurationError still meets the app's
    handler."""

    @functools.wraps(route)
    def bounded(*args: Any, **kwargs: Any) -> Response[dict[str, Any]]:
        with deadline_in(get_settings()):
            return route(*args, **kwargs)

    return bounded


def token_request(region: str, scope: str, query_parameters: frozenset[str]) -> TokenRequest:
    """The caller's request, validated, then authorized before any cache or upstream access."""
    logger.append_keys(**{Field.REGION: region[:64], Field.SCOPE: scope[:64]})
    check_query(app.current_event.multi_value_query_string_parameters, query_parameters)
    query = app.current_event.get_query_string_value("min_ttl")
    request = parse_token_request(region, scope, query, get_settings())
    if request.scope != scope:  # as the rules and the cache know it
        logger.append_keys(**{Field.SCOPE: request.scope})
    return authorized(request)


def authorized(request: TokenRequest) -> TokenRequest:
    """The request, if the entitlement rules let the verified caller have it; else Forbidden."""
    caller = app.current_event.request_context.identity.user_arn
    authorize(entitlement_store().get(), caller, request.region, request.scope)
    return request


def record(vend: Vend) -> None:
    """The served token on the request's one INFO line: the issuance ledger `vcc-token admin
    who-had` reads (which token by its SHA-256, never the token; its key; the caller)."""
    token = vend.token
    logger.append_keys(
        **{
            Field.CACHE: vend.outcome,
            Field.SOURCE: vend.source,
            Field.TOKEN: token.sha256,
            Field.CREDENTIAL: token.credential,
        },
    )


def vended(vend: Vend, min_ttl: int = 0) -> Response[dict[str, Any]]:
    record(vend)
    token = vend.token
    region = cast("Region", token.region)  # a request's region: validated on the way in
    body = token_body(
        token.access_token, region, token.scope, token.expires_at, time.time(), min_ttl
    )
    return json_response(200, dict(body))


@app.get(
    "/tokens/<region>/<scope>",
    summary="A cached VCC bearer token for one region and scope",
    responses=TOKEN_RESPONSES,
    tags=["tokens"],
)
@within_deadline
def get_token(region: str, scope: str) -> Response[dict[str, Any]]:
    check_no_body(app.current_event.body, "GET")
    request = token_request(region, scope, GET_QUERY)
    return vended(token_vendor().vend(request), request.min_ttl)


@app.post(
    "/tokens/<region>/<scope>/refresh",
    summary="Replace a token VCC rejected with 401, once for all callers",
    responses=TOKEN_RESPONSES,
    tags=["tokens"],
)
@within_deadline
def refresh_token(region: str, scope: str) -> Response[dict[str, Any]]:
    request = token_request(region, scope, REFRESH_QUERY)
    rejected = parse_rejected_token(app.current_event.body)
    return vended(token_vendor().refresh(request.key, rejected))


@app.post(
    "/oauth2/token",
    summary="OAuth 2.0 token endpoint (client-credentials grant, RFC 6749 4.4)",
    responses=OAUTH_RESPONSES,
    tags=["oauth2"],
)
@within_deadline
def oauth2_token() -> Response[dict[str, Any]]:
    event = app.current_event
    if event.query_string_parameters:
        raise OAuthError("invalid_request", "send the parameters in the form body, not the query")
    request = parse_token_form(
        event.headers.get("content-type"), event.decoded_body, get_settings()
    )
    logger.append_keys(**{Field.REGION: request.region, Field.SCOPE: request.scope})
    try:
        vend = token_vendor().vend(authorized(request))
    except VendError as error:
        logger.append_keys(service_error=error.code, service_error_detail=error.message)
        raise oauth_error(error) from None
    record(vend)
    token = vend.token
    body = oauth_token_body(token.access_token, request.scope, token.seconds_left(time.time()))
    return json_response(200, dict(body))


@app.exception_handler(OAuthError)  # type: ignore[untyped-decorator]
def oauth_error_answer(error: OAuthError) -> Response[dict[str, Any]]:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
    log = logger.error if error.status >= 500 else logger.info
    log("token request refused", extra={"error": error.error, "reason": error.description})
    return json_response(error.status, dict(error.body()), headers)


@app.exception_handler(VendError)  # type: ignore[untyped-decorator]
def vend_error(error: VendError) -> Response[dict[str, Any]]:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
    if isinstance(error, UpstreamError):  # counted where it happened (the vendor's fetch)
        logger.append_keys(upstream_error=error.kind)
    log = logger.error if error.status >= 500 else logger.info
    log("request refused", extra={"error": error.code, "reason": error.message})
    return json_response(error.status, dict(error_body(error.code, error.public_message)), headers)


@app.exception_handler(ConfigurationError)  # type: ignore[untyped-decorator]
def misconfigured(error: ConfigurationError) -> Response[dict[str, Any]]:
    """A setting the service cannot start with: one line naming it, never a traceback per
    request; callers are told an operator must act."""
    logger.error("the service is misconfigured", extra={"problem": str(error)})
    message = "the service is misconfigured: an operator must fix its settings (the log says which)"
    return json_response(500, dict(error_body("service_misconfigured", message)))


@app.not_found
def no_route(_: NotFoundError) -> Response[dict[str, Any]]:
    event = app.current_event
    message = f"no route for {event.http_method} {event.path[:100]}; routes: {ROUTES}"
    return json_response(404, dict(error_body("not_found", message)))


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def unexpected_error(_: Exception) -> Response[dict[str, Any]]:
    logger.exception("unexpected error")
    message = "internal error; the service log has the details under this request's id"
    return json_response(500, dict(error_body("internal_error", message)))


@request_ids(caller=Field.CALLER)
@flushes_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = app.resolve(event, context)
    logger.info(SERVED, extra={"status": response["statusCode"]})
    return response
