"""A local stand-in for the API Gateway REST API of template.yaml.

It serves exactly the template's Api routes, checks AWS_IAM authorization (SigV4) the way API
Gateway does before any handler runs, builds the REST proxy event with requestContext.identity
filled from the verified caller, and calls the same handler code that runs in Lambda, in
process, one invocation at a time (as one Lambda execution environment would).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local.lambda_runtime import LambdaContext
from local.sigv4 import MISSING_TOKEN, AuthError, Caller, verify

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
STAGE = "local"


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
    pairs = parse_qsl(query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for key, value in pairs:
        multi_query.setdefault(key, []).append(value)
    role_session = caller.principal_arn.split("/", 1)[-1].replace("/", ":")
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
            "identity": {
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
            },
            "apiId": "local",
        },
        "body": body.decode("utf-8", errors="replace") if body else None,
        "isBase64Encoded": False,
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
    ) -> None:
        self.routes = routes
        self.handlers = handlers
        self.callers = callers
        self.clock = clock
        # Handlers run one at a time, as in one Lambda execution environment; the lock may be
        # shared with other in-process invokers (the local scheduler).
        self._invoke_lock = invoke_lock or threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _request_handler(self))
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], bytes]:
        request_id = str(uuid.uuid4())
        path = urlsplit(raw_path).path
        for route in self.routes:
            path_parameters = route.match(method, path)
            if path_parameters is not None:
                break
        else:  # API Gateway answers an unknown resource or method like this, signed or not
            return _gateway_error(403, MISSING_TOKEN, request_id)
        try:
            caller = verify(
                method=method,
                raw_path=raw_path,
                headers=headers,
                body=body,
                callers=self.callers,
                now=self.clock(),
            )
        except AuthError as refused:
            return _gateway_error(403, refused.message, request_id)
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
        response_headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            response_headers[name] = ", ".join(values)
        response_headers["x-amzn-RequestId"] = request_id
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        return result["statusCode"], response_headers, data


def _gateway_error(status: int, message: str, request_id: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
    body = json.dumps({"message": message}).encode()
    return status, headers, body


def _request_handler(front: ApiFront) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # the handler logs each request itself, as it does in Lambda

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = dict(self.headers.items())
            status, response_headers, data = front.answer(
                self.command, self.path, headers, body, self.client_address[0]
            )
            self.send_response(status)
            for name, value in response_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def __getattr__(self, name: str) -> Any:
            # Every method reaches the routing (and API Gateway's 403 for what no route takes),
            # not http.server's 501 for methods it has no do_<METHOD> for.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

    return RequestHandler
