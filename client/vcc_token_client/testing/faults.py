"""The scripted faults of the test double (vcc_token_client.testing.double): refusals with
their codes and Retry-After, and requests held without an answer (hang) or answered a byte at a
time (drip), until healed."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from vcc_token_client.testing.answers import Answer
from vcc_token_contract.api import (
    ERROR_STATUS,
    NO_STORE,
    OAUTH_ROUTE,
    error_body,
    oauth_error_body,
    oauth_error_for,
)

# The error code a scripted refusal carries when none is given
DEFAULT_CODES = {
    400: "invalid_request",
    403: "forbidden",
    500: "internal_error",
    502: "upstream_rejected_credentials",
    503: "upstream_unavailable",
    504: "upstream_timeout",
}
THROTTLED = 429  # API Gateway's own throttling answer: {"message": "Too Many Requests"}


@dataclass(frozen=True)
class _Refusal:
    status: int
    code: str | None
    retry_after: int | None
    message: str


class Faults:
    """What the double is scripted to do instead of answering, each until heal()."""

    def __init__(self) -> None:
        self._refusals: deque[_Refusal] = deque()
        self._hold: str | None = None  # "hang" or "drip"
        self._drip_every = 0.5
        self._released = threading.Event()
        self._lock = threading.Lock()

    def refuse_next(
        self,
        status: int,
        *,
        code: str | None = None,
        retry_after: int | None = None,
        count: int = 1,
        message: str = "refused by the test double",
    ) -> None:
        """The next `count` token requests (any route) get this error answer; 429 is API
        Gateway's throttling. `code` defaults to the usual one for the status."""
        code = code if status == THROTTLED else code or DEFAULT_CODES[status]
        if code is not None and ERROR_STATUS[code] != status:
            raise ValueError(f"{code} is answered with {ERROR_STATUS[code]}, not {status}")
        with self._lock:
            self._refusals.extend([_Refusal(status, code, retry_after, message)] * count)

    def hang(self) -> None:
        """Every request from now is accepted and never answered, until heal()."""
        self._hold_requests("hang")

    def drip(self, every: float = 0.5) -> None:
        """Every request from now gets a status line, then a header byte per `every` seconds
        and never an end, until heal()."""
        self._drip_every = every
        self._hold_requests("drip")

    def _hold_requests(self, how: str) -> None:
        with self._lock:
            self._hold = how
            self._released = threading.Event()

    def _clear_faults(self) -> None:
        """No more refusals; held requests end."""
        with self._lock:
            self._refusals.clear()
            self._hold = None
        self._released.set()

    def _holding(self) -> tuple[str | None, threading.Event, float]:
        with self._lock:
            return self._hold, self._released, self._drip_every

    def _next_refusal(self, path: str) -> Answer | None:
        with self._lock:
            refusal = self._refusals.popleft() if self._refusals else None
        return _scripted(refusal, path) if refusal is not None else None


def _scripted(refusal: _Refusal, path: str) -> Answer:
    headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after else {}
    if refusal.code is None:
        return Answer(refusal.status, {"message": "Too Many Requests"}, headers)
    headers.update(NO_STORE)
    if path == OAUTH_ROUTE:
        error, status = oauth_error_for(refusal.code)
        return Answer(status, dict(oauth_error_body(error, refusal.message)), headers)
    return Answer(refusal.status, dict(error_body(refusal.code, refusal.message)), headers)
