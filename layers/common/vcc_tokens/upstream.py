"""The OAuth 2.0 client-credentials request to VCC's token endpoint (RFC 6749 §4.4).

One pooled requests.Session per execution environment, made (and requests imported) on the
first fetch: an environment serving cached tokens never pays for it. Certificates verified;
redirects never followed (a token request carries the client secret); every failure becomes a typed
UpstreamError whose message holds the region, scope and status, never a body or a header.

Retries: only connection errors, 429 and 5xx, at most `max_attempts` in all, with exponential
backoff and full jitter, waiting at least what Retry-After asks, but only while that is at most
MAX_RETRY_AFTER_WAIT: a longer Retry-After ends the fetch at once (the key's failure memory,
vcc_tokens.backoff, then keeps everyone from asking again until it has passed; no caller sleeps
through it). Never past the time budget, so one fetch always ends well inside the function's
timeout. A read timeout is not retried (the budget is spent), nor is any 4xx (invalid_client,
invalid_scope...): retrying cannot help.

Size: the answer is read up to MAX_ANSWER_BYTES, and a token longer than `max_token_bytes` (what
the cache can hold) is a bad response: it could be neither stored nor shared.

What VCC sends is checked before anything is cached: `access_token` in RFC 6750 b64token syntax
(no spaces, CR, LF or non-ASCII: it goes into Authorization headers), `expires_in` an integer (a
JSON number or ASCII digits) within `lifetimes`. Anything else is UpstreamBadResponse (502,
remembered with backoff like any failure).

Time: one deadline for the whole answer. The body is read against it (every socket read waits
at most what is left), and while the status line and headers are awaited a watchdog shuts the
connection down when it passes (vcc_tokens.deadline_http): an endpoint that drips its headers or
its body ends as UpstreamTimeout at the deadline, not after a read timeout per byte.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from vcc_tokens.backoff import jittered
from vcc_tokens.credentials import ClientCredentials
from vcc_tokens.deadline_http import watched, watched_session

if TYPE_CHECKING:
    import requests
from vcc_tokens.errors import (
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRefusedScope,
    UpstreamRejectedCredentials,
    UpstreamRejectedRequest,
    UpstreamTimeout,
    UpstreamUnavailable,
)

# Retry-After we suggest when VCC gives none: its fair-usage limit resets "after a short period".
DEFAULT_RETRY_AFTER = 5
MAX_RETRY_AFTER = 300
BACKOFF_BASE = 0.2  # seconds; attempt n waits up to BACKOFF_BASE * 2**(n-1), capped
BACKOFF_CAP = 2.0
MIN_ATTEMPT_SECONDS = 0.5  # no retry unless at least this much budget is left for it
MAX_RETRY_AFTER_WAIT = 1.0  # the longest Retry-After a fetch waits out before retrying
MAX_ANSWER_BYTES = 1024 * 1024  # a token answer past this is not read
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1
MAX_LIFETIME_DIGITS = 12  # more digits than any allowed expires_in: refused before int() reads them


@dataclass(frozen=True)
class IssuedToken:
    access_token: str = field(repr=False)
    expires_in: int
    token_type: str = "Bearer"


class TokenEndpoint(ABC):
    @abstractmethod
    def fetch(
        self,
        region: str,
        scope: str,
        credentials: ClientCredentials,
        budget: float | None = None,
    ) -> IssuedToken:
        """Request a new token for one scope within `budget` seconds (retries included; None:
        the endpoint's own budget), or raise an UpstreamError."""


def basic_authorization(client_id: str, client_secret: str) -> str:
    """HTTP Basic value per RFC 6749 §2.3.1: id and secret are form-urlencoded before base64."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


class VccTokenEndpoint(TokenEndpoint):
    def __init__(
        self,
        token_url: Callable[[str], str],
        *,
        connect_timeout: float,
        read_timeout: float,
        fallback_expires_in: int,
        max_token_bytes: int,
        lifetimes: tuple[int, int] = (60, 365 * 86_400),
        budget_seconds: float = 8.0,
        max_attempts: int = 3,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._token_url = token_url
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._fallback_expires_in = fallback_expires_in
        self._max_token_bytes = max_token_bytes
        self._lifetimes = lifetimes  # the shortest and longest expires_in taken
        self._budget = budget_seconds
        self._max_attempts = max_attempts
        self._session = session
        self._clock = clock
        self._sleep = sleep

    def fetch(
        self,
        region: str,
        scope: str,
        credentials: ClientCredentials,
        budget: float | None = None,
    ) -> IssuedToken:
        deadline = self._clock() + min(self._budget, budget or self._budget)
        attempt = 1
        while True:
            try:
                return self._attempt(region, scope, credentials, deadline)
            except UpstreamUnavailable as error:  # 429, 5xx, connection errors: retryable
                delay = jittered(attempt - 1, BACKOFF_BASE, BACKOFF_CAP)
                asked = error.upstream_retry_after
                if asked is not None:
                    delay = max(delay, asked)
                left_after_wait = deadline - self._clock() - delay
                if (
                    attempt >= self._max_attempts
                    or left_after_wait < MIN_ATTEMPT_SECONDS
                    or (asked is not None and asked > MAX_RETRY_AFTER_WAIT)
                ):
                    raise
                self._sleep(delay)
                attempt += 1

    def _attempt(
        self, region: str, scope: str, credentials: ClientCredentials, deadline: float
    ) -> IssuedToken:
        where = f"the {region} token endpoint"
        status, response_headers, body = self._exchange(region, scope, credentials, deadline)
        if body is None:
            raise UpstreamBadResponse(
                f"{where} answered ({status}) with more than {MAX_ANSWER_BYTES} bytes; not read"
            )
        if status == 200:
            return self._parse_token(_json_object(body), where)
        raise error_for_response(status, response_headers, body, region, scope)

    def _exchange(
        self, region: str, scope: str, credentials: ClientCredentials, deadline: float
    ) -> tuple[int, Mapping[str, str], bytes | None]:
        """One POST and its whole answer by `deadline`: (status, headers, body or None if
        too long); transport failures as UpstreamErrors."""
        form, headers = _token_request(scope, credentials)
        where = f"the {region} token endpoint"
        if self._session is None:
            self._session = watched_session()  # requests is imported here, on the first fetch
        with watched(deadline, self._clock) as watchdog:
            try:
                return self._post(self._session, form, headers, region, deadline)
            except UpstreamUnavailable:
                if watchdog.fired:  # the connection was ended at the deadline, not lost
                    raise UpstreamTimeout(f"{where} did not answer in time") from None
                raise

    def _post(
        self,
        session: requests.Session,
        form: dict[str, str],
        headers: dict[str, str],
        region: str,
        deadline: float,
    ) -> tuple[int, Mapping[str, str], bytes | None]:
        import requests
        from urllib3.exceptions import HTTPError, ReadTimeoutError

        where = f"the {region} token endpoint"
        budget = max(0.01, deadline - self._clock())
        try:
            response = session.post(
                self._token_url(region),
                data=form,  # requests form-urlencodes it and sets the Content-Type
                headers=headers,
                timeout=(min(self._connect_timeout, budget), min(self._read_timeout, budget)),
                allow_redirects=False,
                verify=True,
                stream=True,  # read below, up to MAX_ANSWER_BYTES
            )
            body = _read_limited(response, MAX_ANSWER_BYTES, deadline, self._clock)
        except requests.ConnectTimeout:
            raise UpstreamUnavailable(
                f"{where} did not accept a connection in time", DEFAULT_RETRY_AFTER
            ) from None
        except (requests.Timeout, _DeadlinePassed, TimeoutError, ReadTimeoutError):
            raise UpstreamTimeout(f"{where} did not answer in time") from None
        except (requests.RequestException, HTTPError, OSError) as exc:
            raise UpstreamUnavailable(
                f"{where} is unreachable ({type(exc).__name__})", DEFAULT_RETRY_AFTER
            ) from None
        return response.status_code, response.headers, body

    def _parse_token(self, body: dict[str, Any] | None, where: str) -> IssuedToken:
        if body is None:
            raise UpstreamBadResponse(f"{where} answered 200 without a JSON object")
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise UpstreamBadResponse(f"{where} answered 200 without an access_token")
        if not B64TOKEN.fullmatch(access_token):
            raise UpstreamBadResponse(
                f"{where} issued an access_token outside RFC 6750's b64token syntax (letters, "
                "digits, -._~+/ and trailing =)"
            )
        size = len(access_token.encode("utf-8"))
        if size > self._max_token_bytes:
            raise UpstreamBadResponse(
                f"{where} issued a token of {size} bytes; the cache holds tokens of at most "
                f"{self._max_token_bytes} bytes"
            )
        token_type = body.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise UpstreamBadResponse(f"{where} issued a token_type other than Bearer")
        expires_in = _whole_number(body.get("expires_in", self._fallback_expires_in))
        shortest, longest = self._lifetimes
        if expires_in is None or not shortest <= expires_in <= longest:
            raise UpstreamBadResponse(
                f"{where} issued an expires_in that is not an integer from {shortest} to "
                f"{longest} s"
            )
        return IssuedToken(access_token=access_token, expires_in=expires_in)


def error_for_response(
    status: int, headers: Mapping[str, str], body: bytes, region: str, scope: str
) -> UpstreamError:
    """Map a non-200 answer of the token endpoint to the typed error callers see."""
    error = (_json_object(body) or {}).get("error")
    where = f"the {region} token endpoint"
    if status == 429 or status >= 500:
        retry_after = retry_after_seconds(headers)
        cls = UpstreamRateLimited if status == 429 else UpstreamUnavailable
        reason = "is rate limiting requests" if status == 429 else "failed"
        return cls(f"{where} {reason} ({status})", retry_after or DEFAULT_RETRY_AFTER, retry_after)
    if error == "invalid_client" or (status == 401 and error is None):
        return UpstreamRejectedCredentials(
            f"{where} rejected the {region} client credentials (invalid_client); "
            f"check the region's secret"
        )
    if error == "invalid_scope":
        return UpstreamRefusedScope(
            f"the {region} client credentials are not granted scope {scope!r} (invalid_scope)"
        )
    if 300 <= status < 400:
        return UpstreamBadResponse(f"{where} answered with a redirect ({status}); not followed")
    label = error if isinstance(error, str) and error.isidentifier() else "no OAuth error code"
    return UpstreamRejectedRequest(f"{where} rejected the token request ({status}, {label})")


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> int | None:
    """Retry-After as seconds (RFC 9110: delay-seconds or an HTTP date), kept between 1 s and
    MAX_RETRY_AFTER; None when absent or unreadable."""
    raw = headers.get("Retry-After", "").strip()
    if raw.isascii() and raw.isdigit():
        seconds = int(raw)
    else:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = math.ceil(when.timestamp() - (time.time() if now is None else now))
    return max(1, min(seconds, MAX_RETRY_AFTER))


class _DeadlinePassed(Exception):
    """The answer did not arrive whole before the fetch's deadline."""


def _read_limited(
    response: requests.Response, limit: int, deadline: float, clock: Callable[[], float]
) -> bytes | None:
    """The answer's body, or None (and the connection closed) if it is longer than `limit`.
    Each socket read waits at most until `deadline`; past it, _DeadlinePassed."""
    with response:
        body = bytearray()
        while True:
            left = deadline - clock()
            if left <= 0:
                raise _DeadlinePassed
            sock = getattr(response.raw.connection, "sock", None)
            if sock is not None:
                sock.settimeout(min(left, sock.gettimeout() or left))
            chunk = response.raw.read1(64 * 1024, decode_content=True)
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > limit:
                return None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _whole_number(value: object) -> int | None:
    """An integer given as a JSON number or as ASCII digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        digits = value.strip()
        ascii_digits = digits.isascii() and digits.isdigit()
        value = int(digits) if ascii_digits and len(digits) <= MAX_LIFETIME_DIGITS else None
    return value if isinstance(value, int) else None


def _token_request(
    scope: str, credentials: ClientCredentials
) -> tuple[dict[str, str], dict[str, str]]:
    """The client-credentials form and headers, the client authenticated as its secret says
    (RFC 6749 §2.3.1: in the body by default, or HTTP Basic)."""
    form = {"grant_type": "client_credentials", "scope": scope}
    headers = {"Accept": "application/json"}
    if credentials.auth_method == "client_secret_basic":
        headers["Authorization"] = basic_authorization(
            credentials.client_id, credentials.client_secret
        )
    else:
        form["client_id"] = credentials.client_id
        form["client_secret"] = credentials.client_secret
    return form, headers
