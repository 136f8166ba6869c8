"""The local API front on real sockets, as a hostile or merely buggy peer would use it: malformed
framing, chunked bodies, stalled clients, odd Host headers, a body swapped after signing. Every
answer is API Gateway's JSON; nothing crashes or hangs. (A stand-in handler echoes what the
front passed on: the front is what is tested here.)"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from vcc_token_client.testing.sigv4 import (
    PAYLOAD_MISMATCH,
    SIGNATURE_MISMATCH,
    UNSIGNED_PAYLOAD,
    Caller,
)

from local.api_front import ApiFront, template_routes
from local.stack import load_template
from tests.signing import signed_headers

pytestmark = pytest.mark.integration

CALLER = Caller(
    "LOCALKEY000000000009", "front-test-secret", "arn:aws:sts::111122223333:assumed-role/t/s"
)
REFRESH = "/tokens/emea/stats/refresh"


def echo(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    body = {"path": event["path"], "body": event["body"], "caller": event["requestContext"]}
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


@pytest.fixture(scope="module")
def front() -> Iterator[ApiFront]:
    routes = template_routes(load_template())
    front = ApiFront(
        routes,
        dict.fromkeys({route.function for route in routes}, echo),
        {CALLER.access_key_id: CALLER},
        port=0,
        client_timeout=1.0,
    )
    thread = threading.Thread(target=front.serve_forever, daemon=True)
    thread.start()
    yield front
    front.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def exchange(front: ApiFront, raw: bytes, wait: float = 5.0) -> bytes:
    """Send raw bytes; everything the server answers until it closes (or `wait` passes)."""
    host, port = front.host.split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as connection:
        connection.sendall(raw)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):  # a refusal may close before all is read
            pass
    return answer


def status_and_json(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    assert b"content-type: application/json" in head.lower()
    return status, json.loads(body)


def signed_request(
    front: ApiFront, method: str, path: str, body: bytes = b"", **extra: str
) -> dict[str, str]:
    return signed_headers(
        method,
        f"http://{front.host}{path}",
        CALLER.access_key_id,
        CALLER.secret_access_key,
        body=body,
        extra=extra or None,
    )


def raw_request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join([*lines, "Connection: close", "", ""])).encode() + body


def test_a_signed_request_is_passed_on_with_the_verified_caller(front: ApiFront) -> None:
    headers = signed_request(front, "GET", "/tokens/emea/stats")
    status, body = status_and_json(
        exchange(front, raw_request("GET", "/tokens/emea/stats", {"Host": front.host, **headers}))
    )
    assert (status, body["path"]) == (200, "/tokens/emea/stats")
    assert body["caller"]["identity"]["userArn"] == CALLER.principal_arn


@pytest.mark.parametrize("length", ["abc", "-1", "1e3"])
def test_a_malformed_content_length_is_a_json_400(front: ApiFront, length: str) -> None:
    raw = raw_request("POST", REFRESH, {"Host": front.host, "Content-Length": length}, b"{}")
    status, body = status_and_json(exchange(front, raw))
    assert status == 400
    assert "message" in body


def test_a_client_that_stalls_mid_body_is_dropped(front: ApiFront) -> None:
    # Given a Content-Length longer than the body that arrives
    raw = raw_request("POST", REFRESH, {"Host": front.host, "Content-Length": "100"}, b"{}")
    started = time.monotonic()
    answer = exchange(front, raw, wait=8)
    # Then the connection is closed after the client timeout, not held open
    assert answer == b""
    assert time.monotonic() - started < 6


def test_a_chunked_body_is_read_as_one_body_and_verified(front: ApiFront) -> None:
    body = b'{"rejected_token_sha256": "' + b"a" * 64 + b'"}'
    headers = signed_request(front, "POST", REFRESH, body)
    headers.pop("Content-Length", None)
    chunked = (
        b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:10], body[10:]))
        + b"0\r\n\r\n"
    )
    raw = raw_request(
        "POST", REFRESH, {**headers, "Host": front.host, "Transfer-Encoding": "chunked"}, chunked
    )
    status, echoed = status_and_json(exchange(front, raw))
    assert (status, echoed["body"]) == (200, body.decode())


@pytest.mark.parametrize("host", ["[", "api.example.com", "127.0.0.1:1"])
def test_a_host_that_is_not_this_api_is_refused(front: ApiFront, host: str) -> None:
    headers = signed_headers(
        "GET",
        "http://placeholder/tokens/emea/stats",
        CALLER.access_key_id,
        CALLER.secret_access_key,
    )
    raw = raw_request("GET", "/tokens/emea/stats", {**headers, "Host": host})
    status, body = status_and_json(exchange(front, raw))
    assert (status, body["message"]) == (403, SIGNATURE_MISMATCH)


def test_over_long_request_lines_and_headers_are_json_4xx(front: ApiFront) -> None:
    long_path = "/tokens/emea/" + "x" * 10_500  # API Gateway's limit is 10 KB
    status, _ = status_and_json(
        exchange(front, raw_request("GET", long_path, {"Host": front.host}))
    )
    assert 400 <= status < 500
    raw = raw_request("GET", "/tokens/emea/stats", {"Host": front.host, "X-Big": "y" * 10_500})
    status, _ = status_and_json(exchange(front, raw))
    assert 400 <= status < 500


def test_a_body_swapped_after_signing_is_refused(front: ApiFront) -> None:
    signed = b'{"rejected_token_sha256": "' + b"a" * 64 + b'"}'
    headers = signed_request(
        front,
        "POST",
        REFRESH,
        signed,
        **{"X-Amz-Content-SHA256": hashlib.sha256(signed).hexdigest()},
    )
    swapped = signed.replace(b"a" * 64, b"b" * 64)
    raw = raw_request(
        "POST",
        REFRESH,
        {**headers, "Host": front.host, "Content-Length": str(len(swapped))},
        swapped,
    )
    status, body = status_and_json(exchange(front, raw))
    assert (status, body["message"]) == (403, PAYLOAD_MISMATCH)


def test_an_unsigned_payload_is_refused(front: ApiFront) -> None:
    headers = signed_request(
        front, "POST", REFRESH, b"{}", **{"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    )
    raw = raw_request(
        "POST", REFRESH, {**headers, "Host": front.host, "Content-Length": "2"}, b"{}"
    )
    status, body = status_and_json(exchange(front, raw))
    assert (status, body["message"]) == (403, UNSIGNED_PAYLOAD)
