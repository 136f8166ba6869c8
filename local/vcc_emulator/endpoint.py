"""VCC's rules as the emulator keeps them: its clients and their secrets, the tokens it issued,
the token endpoint's and the API's answers, and the failures tests inject (FAILURES). The HTTP
side is server.py's."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from local.vcc_emulator.server import QuietServer, handler_for

INVALID_TOKEN = "The access token is invalid or has expired"
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
        self._server = QuietServer((host, port), handler_for(self))
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
