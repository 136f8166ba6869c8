"""An emulator of VCC's OAuth 2.0 token endpoint, faithful to docs/vcc-authentication.md.

- `POST /Auth/connect/token` (also lower case, and under a `/{region}` prefix so one emulator
  serves every region: `http://127.0.0.1:PORT/{region}/Auth/connect/token`).
- client-credentials grant, client authentication in the form body or with HTTP Basic
  (id and secret form-urlencoded before base64, RFC 6749 §2.3.1), never both;
- per-client allowed scopes, configurable `expires_in` (or none), latency and token size (a JWT
  with many claims can be tens of KB; VCC documents no limit);
- the documented error bodies: invalid_client, invalid_scope, unsupported_grant_type, 429, 500;
- failures injected on demand for tests (`fail_next`), and a count of the requests it served;
- a VCC API endpoint, `GET /agents-availability` (also under `/{region}`), that accepts only
  live tokens it issued and answers 401 "The access token is invalid or has expired" otherwise;
  tokens can be revoked on demand, so callers' 401 handling can be tested for real.

Run alone for development:
    python -m local.vcc_emulator --port 8081 --expires-in 900 --latency 0.15
Control endpoints (JSON): GET /_emulator/stats, POST /_emulator/fail {"failure": ..., "count": N},
POST /_emulator/reset (counters and pending failures), POST /_emulator/revoke
{"token_sha256": hex} (or {} to revoke every token), POST /_emulator/reissue {"client_id",
"previous_for": seconds} (a new secret, as VCC's portal re-issues one). It prints its routes and
clients at start.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import json
import secrets
import signal
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from vcc_token_contract.vcc import REGIONS, SCOPES

TOKEN_PATH = "/auth/connect/token"
API_PATH = "/agents-availability"
INVALID_TOKEN = "The access token is invalid or has expired"
MAX_BODY = 64 * 1024  # a token request is a short form; the controls' JSON shorter still
MAX_PENDING_FAILURES = 1000  # what one test could want queued

# Canned answers for injected failures: (status, body, headers). Bodies as VCC documents them.
FAILURES: dict[str, tuple[int, Any, dict[str, str]]] = {
    "invalid_client": (400, {"error": "invalid_client"}, {}),
    "unsupported_grant_type": (
        400,
        {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"},
        {},
    ),
    "rate_limited": (429, {"error": "Too Many Requests"}, {"Retry-After": "7"}),
    "rate_limited_briefly": (429, {"error": "Too Many Requests"}, {"Retry-After": "1"}),
    "server_error": (
        500,
        {"error": "Internal Server Error", "error_description": "An unexpected error occurred"},
        {},
    ),
    "bad_gateway": (502, "<html><body>502 Bad Gateway</body></html>", {}),
    "non_json": (200, "<html><body>Sign in</body></html>", {}),
    "no_access_token": (200, {"expires_in": 900, "token_type": "Bearer"}, {}),
    "wrong_token_type": (200, {"access_token": "x", "expires_in": 900, "token_type": "mac"}, {}),
    "redirect": (302, "", {"Location": "https://login.example.invalid/"}),
    "timeout": (200, None, {}),  # the answer comes only after `hang_seconds`
}


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str = field(repr=False)
    scopes: frozenset[str]
    # A re-issue (VccEmulator.reissue): the new secret works from `secret_from` (VCC
    # propagating it), the previous one until `previous_until`
    secret_from: float = 0.0
    previous_secret: str | None = field(default=None, repr=False)
    previous_until: float = 0.0

    def accepts(self, secret: str, now: float) -> bool:
        if now >= self.secret_from and secrets.compare_digest(self.client_secret, secret):
            return True
        previous = self.previous_secret
        return (
            previous is not None
            and now < self.previous_until
            and (secrets.compare_digest(previous, secret))
        )

    def reissued(self, new_secret: str, previous_for: float, propagation: float) -> Client:
        now = time.time()
        return Client(
            self.client_id, new_secret, self.scopes, now + propagation, self.client_secret,
            now + previous_for,
        )  # fmt: skip


def _queued(failure: str, count: int, pending: int) -> list[str]:
    """`count` more of a known failure, within MAX_PENDING_FAILURES in all."""
    if failure not in FAILURES:
        raise ValueError(f"unknown failure {failure!r}; known: {', '.join(FAILURES)}")
    if not 1 <= count <= MAX_PENDING_FAILURES - pending:
        raise ValueError(f"count: 1 to {MAX_PENDING_FAILURES} pending failures in all")
    return [failure] * count


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    client_id: str
    scope: str
    region: str | None
    expires_at: float


class VccEmulator:
    """The emulator's state and server. Usable as a context manager in tests."""

    def __init__(
        self,
        clients: list[Client],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        expires_in: int | None = 900,
        latency: float = 0.0,
        token_type: str = "Bearer",
        hang_seconds: float = 30.0,
        token_size: int | None = None,
    ) -> None:
        self.clients = {client.client_id: client for client in clients}
        self.expires_in = expires_in
        self.latency = latency
        self.token_type = token_type
        self.hang_seconds = hang_seconds
        self.token_size = token_size  # bytes per issued token; None: about 300
        self.token_requests = 0
        self.api_requests = 0
        self.requests_by_region: Counter[str] = Counter()
        self.issued: dict[str, IssuedToken] = {}
        self._failures: deque[str] = deque()
        self._lock = threading.Lock()
        self._server = _QuietServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token_url_template(self) -> str:
        return self.base_url + "/{region}/Auth/connect/token"

    def start(self) -> VccEmulator:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until `stop()` is called from another thread."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> VccEmulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- test controls -----------------------------------------------------------------------
    def fail_next(self, failure: str, count: int = 1) -> None:
        with self._lock:
            self._failures.extend(_queued(failure, count, len(self._failures)))

    def reissue(
        self, client_id: str, new_secret: str, *, previous_for: float, propagation: float = 0.0
    ) -> Client:
        """VCC's admin portal re-issues the client's secret: the new one works after
        `propagation` seconds, the old one stops working after `previous_for` seconds."""
        reissued = self.clients[client_id].reissued(new_secret, previous_for, propagation)
        self.clients[client_id] = reissued
        return reissued

    def revoke(self, token_sha256: str | None = None) -> int:
        """Revoke one issued token (by its SHA-256) or all of them; how many were revoked."""
        with self._lock:
            doomed = [t for t in self.issued if token_sha256 in (None, _sha256(t))]
            for token in doomed:
                del self.issued[token]
            return len(doomed)

    def api_answer(self, authorization: str) -> tuple[int, Any, dict[str, str]]:
        """The Agents Availability API: only live tokens this emulator issued get through."""
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            self.api_requests += 1
            issued = self.issued.get(token.strip()) if scheme.lower() == "bearer" else None
        if issued is None or issued.expires_at <= time.time():
            challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            return 401, {"message": INVALID_TOKEN}, challenge
        return 200, [{"agentId": "a-1", "skillName": "French", "available": True}], {}

    def reset(self) -> None:
        with self._lock:
            self.token_requests = 0
            self.api_requests = 0
            self.requests_by_region.clear()
            self.issued.clear()
            self._failures.clear()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "token_requests": self.token_requests,
                "api_requests": self.api_requests,
                "requests_by_region": dict(self.requests_by_region),
                "tokens_issued": len(self.issued),
                "pending_failures": list(self._failures),
            }

    # --- the token endpoint --------------------------------------------------------------------
    def token_answer(
        self, region: str | None, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """The (status, JSON body, headers) the token endpoint gives to one request."""
        with self._lock:
            self.token_requests += 1
            self.requests_by_region[region or "-"] += 1
            failure = self._failures.popleft() if self._failures else None
        if self.latency:
            time.sleep(self.latency)
        if failure == "timeout":
            time.sleep(self.hang_seconds)
        elif failure is not None:
            return FAILURES[failure]

        asked = client_request(self.clients, headers, body)
        if not isinstance(asked, Asked):
            return asked
        client, scope = asked.client, asked.scope
        return 200, self._issue(client, scope, region), {}

    def _issue(self, client: Client, scope: str, region: str | None) -> dict[str, Any]:
        lifetime = self.expires_in if self.expires_in is not None else 3600
        token = _jwt_like(client.client_id, scope, lifetime, self.token_size)
        with self._lock:
            self.issued[token] = IssuedToken(
                client.client_id, scope, region, time.time() + lifetime
            )
        answer: dict[str, Any] = {"access_token": token, "token_type": self.token_type}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return answer


Refusal = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class Asked:
    client: Client
    scope: str


def client_request(
    clients: dict[str, Client], headers: dict[str, str], body: bytes
) -> Asked | Refusal:
    """The authenticated client and the scope it asks for, or the OAuth error (RFC 6749 §5.2)."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request", "Content-Type must be form-urlencoded")
    form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Invalid grant_type")

    basic = _basic_credentials(headers.get("authorization", ""))
    if basic is not None and ("client_id" in form or "client_secret" in form):
        return _oauth_error(400, "invalid_request", "Use only one client authentication method")
    client_id, client_secret = basic or (form.get("client_id"), form.get("client_secret"))
    client = clients.get(client_id or "")
    if client is None or not client.accepts(client_secret or "", time.time()):
        status, error_body, error_headers = 400, {"error": "invalid_client"}, {}
        if basic is not None:  # RFC 6749 §5.2: 401 when the client used the Authorization header
            status, error_headers = 401, {"WWW-Authenticate": 'Basic realm="vcc"'}
        return status, error_body, error_headers

    scope = form.get("scope", "").strip()
    if not scope:
        return _oauth_error(400, "invalid_scope", "You must specify a scope")
    for requested in scope.split():
        if requested not in client.scopes:
            return _oauth_error(400, "invalid_scope", f'"{requested}" is an invalid scope')
    return Asked(client, scope)


def _oauth_error(status: int, error: str, description: str) -> tuple[int, Any, dict[str, str]]:
    return status, {"error": error, "error_description": description}, {}


def _basic_credentials(authorization: str) -> tuple[str, str] | None:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")  # Basic was attempted but is unreadable: invalid_client
    client_id, _, client_secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(client_secret)


def _jwt_like(client_id: str, scope: str, lifetime: int, size: int | None = None) -> str:
    """An opaque token shaped like VCC's (an RS256 JWT); nobody should parse it. With `size`,
    padded with role claims to exactly that many bytes (at least the unpadded length)."""

    def part(data: dict[str, Any] | bytes) -> str:
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "client_id": client_id,
        "scope": scope,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_hex(8),
    }
    header, signature = part({"alg": "RS256", "typ": "JWT"}), part(secrets.token_bytes(32))
    token = ".".join([header, part(claims), signature])
    if size is not None and size > len(token):
        # base64 grows 3 bytes into 4 characters: pad the claims, then trim to the exact size
        claims["roles"] = "r" * ((size - len(token)) * 3 // 4 + 3)
        token = ".".join([header, part(claims)])[: size - len(signature) - 1] + "." + signature
    return token


def _split_region(path: str) -> tuple[str | None, str]:
    """`/emea/Auth/connect/token` -> ("emea", "/auth/connect/token")."""
    path = path.split("?")[0].lower()
    first, _, rest = path.lstrip("/").partition("/")
    if first in REGIONS:
        return first, "/" + rest
    return None, path


class _QuietServer(ThreadingHTTPServer):
    """A client that closes its connection (a proxy dropping a 401 it will retry) is normal
    traffic, not an error worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    emulator: VccEmulator  # set by _handler_for
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


def _handler_for(emulator: VccEmulator) -> type[BaseHTTPRequestHandler]:
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


DEMO_SCOPES = frozenset(s for s in SCOPES if s.endswith(":read") or s == "stats")  # reads only
# One client for every region (what the benchmark and a second local deployment use), then one
# per region, which make run seeds each region's secret with: re-issuing one region's secret
# (the rotation rehearsal) leaves the other regions' working
DEMO_CLIENTS = [
    Client("demo-client", "demo-secret-not-for-production", DEMO_SCOPES),
    *(
        Client(f"demo-{region}", f"demo-{region}-secret-not-for-production", DEMO_SCOPES)
        for region in REGIONS
    ),
]


def demo_client(region: str) -> Client:
    """The emulator's demo client that make run seeds `region`'s secret with."""
    return next(client for client in DEMO_CLIENTS if client.client_id == f"demo-{region}")


def describe(emulator: VccEmulator) -> str:
    """What a developer running the emulator alone needs: its routes and its clients (demo
    secrets, for local use only)."""
    base = emulator.base_url
    lines = [
        f"VCC emulator on {base}",
        f"  token endpoint  POST {emulator.token_url_template}  (region: {', '.join(REGIONS)})",
        f"  VCC API         GET  {base}/{{region}}{API_PATH}  (Authorization: Bearer <token>)",
        f"  control         GET {base}/_emulator/stats; POST /_emulator/fail "
        '{"failure": NAME, "count": N}, /_emulator/reset, /_emulator/revoke {}, '
        '/_emulator/reissue {"client_id": ID, "previous_for": S}',
        f"  failures        {', '.join(FAILURES)}",
        "  clients (local demo credentials):",
    ]
    for client in emulator.clients.values():
        lines.append(
            f"    client_id={client.client_id} client_secret={client.client_secret} "
            f"scopes={','.join(sorted(client.scopes))}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--expires-in", type=int, default=900, help="0 omits expires_in")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--clients", help='JSON file: [{"client_id", "client_secret", "scopes"}]')
    args = parser.parse_args()
    clients = DEMO_CLIENTS
    if args.clients:
        with open(args.clients, encoding="utf-8") as file:
            clients = [
                Client(c["client_id"], c["client_secret"], frozenset(c["scopes"]))
                for c in json.load(file)
            ]
    emulator = VccEmulator(
        clients,
        host=args.host,
        port=args.port,
        expires_in=args.expires_in or None,
        latency=args.latency,
    )
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=emulator.stop).start())
    print(describe(emulator), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emulator.serve_forever()


if __name__ == "__main__":
    main()
