"""The test double's server: the service's routes on a loopback port, SigV4 checked as API
Gateway checks it, scripted faults, and every request it received kept for the test to read.

    with ServiceDouble() as service:
        client = TokenClient(service.url, api_base_url=service.vcc_api_base_url)
        service.refuse_next(503, retry_after=2)        # the next token request: 503
        service.revoke_tokens()                        # VCC now answers 401 to every token so far
        service.hang()  /  service.drip()  /  service.down()   # until service.heal()

`vcc_api_base_url` is a stand-in VCC API on the same port (`/vcc/{region}/...`): it answers 200
to a current token of the region and 401 to any other, so a caller's 401 recovery runs for real.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from vcc_token_client.testing.answers import Answer, TokenApi, is_route
from vcc_token_client.testing.faults import Faults
from vcc_token_client.testing.sigv4 import AuthError, Caller, verify
from vcc_token_contract.api import (
    MISSING_TOKEN,
)
from vcc_token_contract.entitlements import parse_entitlements
from vcc_token_contract.vcc import SCOPES

ANY_CALLER = "arn:aws:sts::111122223333:assumed-role/caller/test"  # the principal of any key
MAX_HOLD = 60.0  # seconds a hanging or dripping request is held at most
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's limit on a request's payload
BAD_LENGTH = f"the body must have a Content-Length of at most {MAX_BODY_BYTES} bytes"


@dataclass(frozen=True)
class Received:
    """One request as the double received it, with what it answered."""

    method: str
    path: str  # percent-decoded: /tokens/emea/users:read however the caller encoded it
    query: str
    body: bytes
    caller: str | None  # the principal its signature stood for; None when refused unsigned
    status: int | None  # None: held (hang, drip) and never answered
    headers: dict[str, str] = field(repr=False)  # the Authorization header is in here


class ServiceDouble(Faults):
    """The token service in-process, on 127.0.0.1. `callers`: the only access keys whose
    signatures are accepted (checked for real); None takes any signed request as `principal`.
    `entitlements`: the rules' document (a dict or JSON text), None to allow everything."""

    def __init__(
        self,
        *,
        callers: Iterable[Caller] | None = None,
        principal: str = ANY_CALLER,
        entitlements: dict[str, Any] | str | None = None,
        scopes: Iterable[str] = SCOPES,
        lifetime: int = 3600,
        port: int = 0,
    ) -> None:
        super().__init__()
        rules = None
        if entitlements is not None:
            text = entitlements if isinstance(entitlements, str) else json.dumps(entitlements)
            rules = parse_entitlements(text)
        self.api = TokenApi(scopes=scopes, entitlements=rules, lifetime=lifetime)
        self._callers = {c.access_key_id: c for c in callers} if callers is not None else None
        self._principal = principal
        self.port = port
        self.received: list[Received] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> ServiceDouble:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> ServiceDouble:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        server.daemon_threads = True
        server.double = self  # type: ignore[attr-defined]
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()  # held requests end without an answer
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def vcc_api_base_url(self) -> str:
        """TokenClient's `api_base_url` for this double's stand-in VCC API."""
        return f"http://127.0.0.1:{self.port}/vcc/{{region}}"

    # --- faults ----------------------------------------------------------------------------
    def revoke_tokens(self) -> None:
        """VCC now refuses (401) every token issued so far: a caller's refresh gets a new one."""
        self.api.revoke()

    def down(self) -> None:
        """Stop listening: connections are refused until heal()."""
        self.stop()

    def heal(self) -> None:
        """No more faults: held requests end, scripted refusals are dropped, the port listens."""
        self._clear_faults()
        if self._server is None:
            self.start()

    # --- one request -----------------------------------------------------------------------
    def serve(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        raw = handler.headers.get("Content-Length") or "0"
        if not raw.isdigit() or int(raw) > MAX_BODY_BYTES:  # as API Gateway refuses them
            handler.close_connection = True
            _send(handler, Answer(413 if raw.isdigit() else 400, {"message": BAD_LENGTH}))
            return
        body = handler.rfile.read(int(raw))
        headers = dict(handler.headers.items())
        hold, released, drip_every = self._holding()
        answer, caller = None, None
        if hold == "drip":
            _drip(handler, released, drip_every)
        elif hold is None or (released.wait(MAX_HOLD) and self._server is not None):
            answer, caller = self._answer(handler.command, parts.path, parts.query, headers, body)
        status = answer.status if answer else None
        # kept before the answer goes out: a test reads it as soon as its call returns
        received = Received(
            handler.command, unquote(parts.path), parts.query, body, caller, status, headers
        )
        self.received.append(received)
        if answer is not None:
            _send(handler, answer)

    def _answer(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[Answer, str | None]:
        if path.startswith("/vcc/"):
            return self._vcc_api(path, headers), None
        if not is_route(method, path):
            return Answer(403, {"message": MISSING_TOKEN}), None
        try:
            caller = verify(
                method=method,
                raw_path=path + (f"?{query}" if query else ""),
                headers=headers,
                body=body,
                callers=self._callers,
                now=datetime.now(UTC),
                hosts={f"127.0.0.1:{self.port}", f"localhost:{self.port}"},
                anyone=self._principal,
            )
        except AuthError as refused:
            return Answer(403, {"message": refused.message}), None
        refusal = self._next_refusal(path)
        if refusal is not None:
            return refusal, caller.principal_arn
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        answer = self.api.answer(method, path, query, body, caller.principal_arn, content_type)
        return answer, caller.principal_arn

    def _vcc_api(self, path: str, headers: dict[str, str]) -> Answer:
        region = path.split("/")[2]
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and self.api.vcc_accepts(region, token.strip()):
            return Answer(200, {"region": region, "path": path})
        return Answer(
            401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )


def _send(handler: BaseHTTPRequestHandler, answer: Answer) -> None:
    data = json.dumps(answer.body).encode()
    handler.send_response(answer.status)
    for name, value in {
        "Content-Type": "application/json",
        **answer.headers,
        "Content-Length": str(len(data)),
    }.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def _drip(handler: BaseHTTPRequestHandler, released: threading.Event, every: float) -> None:
    try:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
        deadline = time.monotonic() + MAX_HOLD
        while not released.wait(every) and time.monotonic() < deadline:
            handler.wfile.write(b"a")
            handler.wfile.flush()
    except OSError:
        pass  # the caller gave up: that is what a drip is for
    handler.close_connection = True


class _Handler(BaseHTTPRequestHandler):
    server_version = "vcc-token-double"

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except OSError:
            self.close_connection = True  # the caller hung up mid-answer (a timeout)

    def do_any(self) -> None:
        self.server.double.serve(self)  # type: ignore[attr-defined]

    # the http.server's names for the methods' handlers
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_any  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        """Quiet: the test reads `received` instead."""
