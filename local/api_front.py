"""A local stand-in for the API Gateway REST API of template.yaml.

It serves exactly the template's Api routes, checks AWS_IAM authorization (SigV4) the way API
Gateway does before any handler runs, builds the REST proxy event with requestContext.identity
filled from the verified caller, and calls the same handler code that runs in Lambda, in
process, one invocation at a time (as one Lambda execution environment would).

HTTP itself is waitress's job (a well-kept WSGI server): framing, chunked bodies, header and
body limits (API Gateway's 10 KB of headers, 10 MB of body), and timing out clients that stall.
What waitress refuses itself (a malformed Content-Length, an over-long request line...) is
answered in API Gateway's JSON shape, like everything else.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import waitress
import waitress.utilities
from vcc_token_client.testing.sigv4 import AuthError, Caller, verify
from vcc_token_client.wsgi import request_headers
from vcc_token_client.wsgi import stop as stop_waitress

from iam.gateway import ResourcePolicy
from local.lambda_runtime import LambdaContext
from vcc_token_contract.api import MISSING_TOKEN

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
STAGE = "local"
MAX_HEADER_BYTES = 10 * 1024  # API Gateway's limit on a request's headers
MAX_BODY_BYTES = 10 * 1024 * 1024  # and on its payload
CLIENT_TIMEOUT = 10.0  # seconds a client may stall mid-request before it is dropped


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # as in the template: /tokens/{region}/{scope}
    function: str  # the function's folder under functions/
    pattern: re.Pattern[str]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method and self.method != "ANY":
            return None
        found = self.pattern.match(path)
        return found.groupdict() if found else None


def template_routes(template: dict[str, Any]) -> list[Route]:
    """Every `Type: Api` event of every function in the template."""
    routes = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        function = resource["Properties"]["CodeUri"].rstrip("/").split("/")[-1]
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            path = event["Properties"]["Path"]
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
            routes.append(
                Route(
                    event["Properties"]["Method"].upper(), path, function, re.compile(f"^{regex}$")
                )
            )
    return routes


def proxy_event(
    *,
    route: Route,
    method: str,
    raw_path: str,
    path_parameters: dict[str, str],
    headers: dict[str, str],
    body: bytes,
    caller: Caller,
    source_ip: str,
    request_id: str,
) -> dict[str, Any]:
    """The API Gateway REST (v1) Lambda proxy event for one verified request."""
    path, _, query = raw_path.partition("?")
    multi_query = _multi_query(query)
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {name: [value] for name, value in headers.items()} or None,
        "queryStringParameters": {key: values[-1] for key, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.resource,
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "requestId": request_id,
            "requestTimeEpoch": int(datetime.now(UTC).timestamp() * 1000),
            "identity": identity(caller, source_ip, headers),
            "apiId": "local",
        },
        "body": body.decode("utf-8", errors="replace") if body else None,
        "isBase64Encoded": False,
    }


def _multi_query(query: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(key, []).append(value)
    return values


def identity(caller: Caller, source_ip: str, headers: dict[str, str]) -> dict[str, Any]:
    """requestContext.identity of an IAM-authorized request, as API Gateway fills it."""
    role_session = caller.principal_arn.split("/", 1)[-1].replace("/", ":")
    return {
        "accountId": caller.account_id,
        "accessKey": caller.access_key_id,
        "caller": role_session,
        "user": role_session,
        "userArn": caller.principal_arn,
        "sourceIp": source_ip,
        "userAgent": headers.get("User-Agent") or headers.get("user-agent"),
        "cognitoIdentityPoolId": None,
        "cognitoIdentityId": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
    }


class ApiFront:
    def __init__(
        self,
        routes: list[Route],
        handlers: dict[str, Handler],
        callers: dict[str, Caller],
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        invoke_lock: threading.Lock | None = None,
        client_timeout: float = CLIENT_TIMEOUT,
        resource_policy: ResourcePolicy | None = None,
        on_answer: Callable[[int], None] | None = None,
    ) -> None:
        self.routes = routes
        self.on_answer = on_answer  # told each answer's status (API Gateway's 5XXError metric)
        # The API's resource policy (iam.gateway); None lets every verified caller in.
        self.resource_policy = resource_policy
        self.handlers = handlers
        self.callers = callers
        self.clock = clock
        # Handlers run one at a time, as in one Lambda execution environment; the lock may be
        # shared with other in-process invokers (the local scheduler).
        self._invoke_lock = invoke_lock or threading.Lock()
        self._server: Any = waitress.create_server(
            self.wsgi,
            host=host,
            port=port,
            threads=4,
            channel_timeout=client_timeout,
            cleanup_interval=max(1, round(client_timeout)),  # how often stalls are looked for
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=MAX_BODY_BYTES,
            expose_tracebacks=False,
            ident="local-api-front",
            asyncore_use_poll=True,  # a socket closed by stop() is then a POLLNVAL, not EBADF
        )
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def host(self) -> str:
        """host:port, as callers sign it (the Host header is bound to it)."""
        return f"{self._server.effective_host}:{self._server.effective_port}"

    def serve_forever(self) -> None:
        self._server.run()

    def stop(self) -> None:
        """Close the listener, every connection and the worker threads; harmless when called
        again."""
        if not self._stopped.is_set():
            self._stopped.set()
            stop_waitress(self._server)

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """One HTTP request, as waitress has parsed it."""
        headers = request_headers(environ)
        body = environ["wsgi.input"].read()
        status, response_headers, data = self.answer(
            environ["REQUEST_METHOD"],
            environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/",
            headers,
            body,
            environ.get("REMOTE_ADDR", ""),
        )
        if self.on_answer is not None:
            self.on_answer(status)
        response_headers["Content-Length"] = str(len(data))
        start_response(f"{status} {HTTPStatus(status).phrase}", list(response_headers.items()))
        return [data] if environ["REQUEST_METHOD"] != "HEAD" else []

    def route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            path_parameters = route.match(method, path)
            if path_parameters is not None:
                return route, path_parameters
        return None

    def answer(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], bytes]:
        request_id = str(uuid.uuid4())
        path = urlsplit(raw_path).path
        matched = self.route(method, path)
        if matched is None:  # API Gateway answers an unknown resource or method like this
            return _gateway_error(403, MISSING_TOKEN, request_id)
        route, path_parameters = matched
        try:
            caller = verify(
                method=method,
                raw_path=raw_path,
                headers=headers,
                body=body,
                callers=self.callers,
                now=self.clock(),
                hosts={self.host, self.host.replace("127.0.0.1", "localhost")},
            )
        except AuthError as refused:
            return _gateway_error(403, refused.message, request_id)
        policy = self.resource_policy
        if policy and not policy.admits(caller.access_key_id, route.method, route.resource):
            message = policy.refusal(caller.principal_arn, method, path)
            return _gateway_error(403, message, request_id, key="Message")
        event = proxy_event(
            route=route,
            method=method,
            raw_path=raw_path,
            path_parameters=path_parameters,
            headers=headers,
            body=body,
            caller=caller,
            source_ip=source_ip,
            request_id=request_id,
        )
        with self._invoke_lock:
            result = self.handlers[route.function](event, LambdaContext(request_id))
        return proxy_answer(result, request_id)


def _gateway_error(
    status: int, message: str, request_id: str, key: str = "message"
) -> tuple[int, dict[str, str], bytes]:
    """API Gateway's error body: {"message": ...}, or {"Message": ...} for IAM's refusals."""
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
    body = json.dumps({key: message}).encode()
    return status, headers, body


def _gateway_shaped_error(self: waitress.utilities.Error, ident: str | None = None) -> Any:
    """waitress's own refusals (bad framing, limits) in API Gateway's JSON shape."""
    body = json.dumps({"message": f"{self.reason}: {self.body}"}).encode()
    return f"{self.code} {self.reason}", [("Content-Type", "application/json")], body


waitress.utilities.Error.to_response = _gateway_shaped_error


def proxy_answer(result: dict[str, Any], request_id: str) -> tuple[int, dict[str, str], bytes]:
    """A Lambda proxy integration's result as the HTTP answer API Gateway makes of it."""
    response_headers = dict(result.get("headers") or {})
    for name, values in (result.get("multiValueHeaders") or {}).items():
        response_headers[name] = ", ".join(values)
    response_headers["x-amzn-RequestId"] = request_id
    payload = result.get("body") or ""
    data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
    return result["statusCode"], response_headers, data
