"""A token endpoint that misbehaves on purpose, on loopback, for the tests and `make bench`:
answers VCC should never give (odd lifetimes, odd tokens), sent at once or dripped a byte at a
time (the body after the headers, or the status line and headers themselves). It counts the
requests it received (the grants VCC would have issued) and the bytes it got out (headers when
dripped, body) before the client hung up."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OddUpstream:
    def __init__(self) -> None:
        self.body = b"{}"
        self.drip_seconds = 0.0  # between body bytes; 0: the body at once
        self.header_drip_seconds = 0.0  # between bytes of the status line and headers
        self.requests = 0
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def token_url_template(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/{{region}}/Auth/connect/token"

    def answer(self, **fields: Any) -> None:
        """Answer 200 with these JSON fields from now on."""
        self.body = json.dumps(fields).encode()

    def reset(self) -> None:
        with self._lock:
            self.body, self.drip_seconds, self.requests, self.bytes_sent = b"{}", 0.0, 0, 0
            self.header_drip_seconds = 0.0

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _count(self, requests: int = 0, sent: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.bytes_sent += sent


class _Handler(BaseHTTPRequestHandler):
    upstream: OddUpstream  # set by _handler_for

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.upstream._count(requests=1)
        body, drip = self.upstream.body, self.upstream.drip_seconds
        try:
            if self.upstream.header_drip_seconds:
                self._drip_headers(len(body), self.upstream.header_drip_seconds)
            else:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
            if not drip:
                self.wfile.write(body)
                self.upstream._count(sent=len(body))
                return
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                self.upstream._count(sent=1)
                time.sleep(drip)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: what it was sent is counted

    def _drip_headers(self, length: int, seconds: float) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        ).encode()
        for byte in head:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            self.upstream._count(sent=1)
            time.sleep(seconds)


def _handler_for(upstream: OddUpstream) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"upstream": upstream})
