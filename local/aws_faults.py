"""A fault-injecting HTTP proxy in front of moto server: the AWS side of a bad day.

The function's AWS clients are pointed at the proxy (AWS_ENDPOINT_URL); each request is matched
by service and operation (from its X-Amz-Target header: DynamoDB, KMS, Secrets Manager and SSM
all speak AWS's JSON protocol) against the active faults, then:

- `refuse`: the connection is closed without an answer (botocore: ConnectionClosedError);
- `throttle`: the service's own throttling answer, status and body as AWS sends them;
- `fail`: the service's own 500 answer;
- `delay`: forwarded to moto after `seconds` (longer than the read timeout: ReadTimeoutError);
- `empty_pages` (CloudWatch Logs' FilterLogEvents): the first `pages` answers are empty pages
  with a nextToken, as AWS answers a scanned time window without a match, before moto's own;
- anything unmatched is forwarded untouched.

Used by the test suite (tests/integration/test_aws_faults.py) and `make bench`.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

FaultKind = Literal["refuse", "throttle", "fail", "delay", "empty_pages"]
SERVICES = {  # X-Amz-Target prefix -> service
    "DynamoDB_20120810": "dynamodb",
    "TrentService": "kms",
    "secretsmanager": "secretsmanager",
    "AmazonSSM": "ssm",
    "Logs_20140328": "logs",
}
EMPTY_PAGE_TOKEN = "fault-proxy-empty-page-"  # the nextToken of a made-up empty page
# (status, __type) of each service's throttling and internal-error answers
THROTTLED = {
    "dynamodb": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "kms": "ThrottlingException",
    "secretsmanager": "ThrottlingException",
    "ssm": "ThrottlingException",
}
INTERNAL = {
    "dynamodb": "com.amazonaws.dynamodb.v20120810#InternalServerError",
    "kms": "KMSInternalException",
    "secretsmanager": "InternalServiceError",
    "ssm": "InternalServerError",
}
WRITES = frozenset({"UpdateItem", "PutItem", "DeleteItem"})


@dataclass(frozen=True)
class Fault:
    service: str  # dynamodb, kms, secretsmanager, ssm
    kind: FaultKind
    operations: frozenset[str] | None = None  # None: every operation of the service
    seconds: float = 0.0  # for `delay`
    pages: int = 0  # for `empty_pages`

    def matches(self, service: str, operation: str) -> bool:
        return service == self.service and (self.operations is None or operation in self.operations)


class AwsFaultProxy:
    def __init__(self, upstream_endpoint: str) -> None:
        target = urlsplit(upstream_endpoint)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.faults: list[Fault] = []
        self.requests: Counter[str] = Counter()  # "service.Operation" -> requests seen
        self._empty_pages_left = 0
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> AwsFaultProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults = list(faults)
            self._empty_pages_left = sum(f.pages for f in faults if f.kind == "empty_pages")

    def take_empty_page(self) -> int | None:
        """The number of the next made-up empty page, or None once they are all answered."""
        with self._lock:
            if self._empty_pages_left <= 0:
                return None
            self._empty_pages_left -= 1
            return self._empty_pages_left

    def clear(self) -> None:
        with self._lock:
            self.faults = []
            self.requests.clear()

    def fault_for(self, service: str, operation: str) -> Fault | None:
        with self._lock:
            self.requests[f"{service}.{operation}"] += 1
            return next((f for f in self.faults if f.matches(service, operation)), None)

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on a delayed answer closed its end: expected here


class _Handler(BaseHTTPRequestHandler):
    proxy: AwsFaultProxy  # set by _handler_for
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        prefix, _, operation = self.headers.get("X-Amz-Target", "").partition(".")
        service = SERVICES.get(prefix, prefix)
        fault = self.proxy.fault_for(service, operation)
        if fault is not None and fault.kind == "refuse":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.kind in ("throttle", "fail"):
            throttled = fault.kind == "throttle"
            error_type = (THROTTLED if throttled else INTERNAL)[service]
            message = "Rate exceeded" if throttled else "Internal server error"
            self._answer(400 if throttled else 500, error_type, message)
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        if service == "logs":
            body = _without_made_up_token(body)
            page = self.proxy.take_empty_page() if fault and fault.kind == "empty_pages" else None
            if page is not None:
                empty = {
                    "events": [],
                    "searchedLogStreams": [],
                    "nextToken": f"{EMPTY_PAGE_TOKEN}{page}",
                }
                self._answer_json(200, empty)
                return
        headers = {**dict(self.headers.items()), "Content-Length": str(len(body))}
        status, answer_headers, answer = self.proxy.forward("POST", self.path, headers, body)
        self.send_response(status)
        for name, value in answer_headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def _answer(self, status: int, error_type: str, message: str) -> None:
        self._answer_json(
            status,
            {"__type": error_type, "message": message},
            {"x-amzn-ErrorType": error_type.rsplit("#", 1)[-1]},
        )

    def _answer_json(
        self, status: int, document: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _without_made_up_token(body: bytes) -> bytes:
    """A FilterLogEvents request continuing after a made-up empty page starts over at moto."""
    try:
        request = json.loads(body)
    except ValueError:
        return body
    if isinstance(request, dict) and str(request.get("nextToken", "")).startswith(EMPTY_PAGE_TOKEN):
        del request["nextToken"]
        return json.dumps(request).encode()
    return body


def _handler_for(proxy: AwsFaultProxy) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"proxy": proxy})
