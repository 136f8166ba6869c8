"""The emulator over HTTP: VCC's token endpoint and API under a `/{region}` prefix (or none),
and the test controls under `/_emulator/`. What each answers is endpoint.py's."""

from __future__ import annotations

import json
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from vcc_token_contract.vcc import REGIONS

if TYPE_CHECKING:
    from local.vcc_emulator.endpoint import VccEmulator

TOKEN_PATH = "/auth/connect/token"
API_PATH = "/agents-availability"
MAX_BODY = 64 * 1024  # a token request is a short form; the controls' JSON shorter still


def _split_region(path: str) -> tuple[str | None, str]:
    """`/emea/Auth/connect/token` -> ("emea", "/auth/connect/token")."""
    path = path.split("?")[0].lower()
    first, _, rest = path.lstrip("/").partition("/")
    if first in REGIONS:
        return first, "/" + rest
    return None, path


class QuietServer(ThreadingHTTPServer):
    """A client that closes its connection (a proxy dropping a 401 it will retry) is normal
    traffic, not an error worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    emulator: VccEmulator  # set by handler_for
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests and `make run` print their own lines

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        is_text = isinstance(body, str)
        payload = (body if is_text else json.dumps(body)).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if is_text else "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Pragma", "no-cache")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes | None:
        """The request's body; None (not read) if it is not 0 to MAX_BODY bytes."""
        length = self.headers.get("Content-Length") or "0"
        if not (length.isascii() and length.isdigit() and int(length) <= MAX_BODY):
            return None
        return self.rfile.read(int(length)) if int(length) else b""

    def do_GET(self) -> None:
        if self.path == "/_emulator/stats":
            self._send(200, self.emulator.stats())
            return
        _, path = _split_region(self.path)
        if path == API_PATH:
            self._send(*self.emulator.api_answer(self.headers.get("Authorization", "")))
        else:
            self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:
        body = self._body()
        if body is None:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            self._send(413, {"error": "invalid_request", "error_description": "body too large"})
            return
        if self.path.startswith("/_emulator/"):
            self._send(*control_answer(self.emulator, self.path, body))
            return
        region, path = _split_region(self.path)
        if path != TOKEN_PATH:
            self._send(404, {"error": "not_found"})
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        self._send(*self.emulator.token_answer(region, headers, body))


def handler_for(emulator: VccEmulator) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"emulator": emulator})


def control_answer(emulator: VccEmulator, path: str, body: bytes) -> tuple[int, Any]:
    """The test controls: inject failures, reset, re-issue a secret (VCC's admin portal), revoke."""
    if path == "/_emulator/reissue":
        return reissue_answer(emulator, body)
    try:
        request = json.loads(body or b"{}")
        if path == "/_emulator/fail":
            emulator.fail_next(request["failure"], int(request.get("count", 1)))
        elif path == "/_emulator/reset":
            emulator.reset()
        elif path == "/_emulator/revoke":
            return 200, {"revoked": emulator.revoke(request.get("token_sha256"))}
        else:
            return 404, {"error": "not_found"}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return 400, {"error": "bad_request", "message": str(exc)}
    return 200, emulator.stats()


def reissue_answer(emulator: VccEmulator, body: bytes) -> tuple[int, Any]:
    """POST /_emulator/reissue {"client_id", "previous_for": seconds}: a new secret for the
    client (shown once, as VCC's portal shows it); the old one is still accepted for
    `previous_for` seconds (VCC's propagation), so a rotation can be rehearsed end to end."""
    try:
        request = json.loads(body or b"{}")
        client_id = str(request["client_id"])
        previous_for = float(request.get("previous_for", 300))
    except (ValueError, KeyError, TypeError, AttributeError):
        return 400, {"error": "bad_request", "message": 'send {"client_id", "previous_for"}'}
    if client_id not in emulator.clients or not 0 <= previous_for <= 86_400:
        return 400, {"error": "bad_request", "message": "unknown client_id or previous_for"}
    secret = f"reissued-{secrets.token_urlsafe(24)}"
    emulator.reissue(client_id, secret, previous_for=previous_for)
    return 200, {"client_id": client_id, "client_secret": secret}
