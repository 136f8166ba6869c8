"""The OAuth 2.0 client-credentials request to VCC's token endpoint (RFC 6749 §4.4).

One pooled requests.Session per execution environment, made (and requests imported) on the
first fetch: an environment serving cached tokens never pays for it. Certificates verified;
redirects never followed (a token request carries the client secret); every failure becomes a typed
UpstreamError whose message holds the region, scope and status, never a body or a header.

Retries (one `Retries` value, vcc_tokens.values.backoff, built in wiring from the settings):
only connection errors, 429 and 5xx, with the one jittered backoff, waiting at least what
Retry-After asks but only while that is short (a longer one ends the fetch at once: the key's
failure memory then keeps everyone from asking again until it has passed, and no caller sleeps
through it). Never past the time budget, so one fetch always ends well inside the function's
timeout. A read timeout is not retried (the budget is spent), nor is any 4xx (invalid_client,
invalid_scope...): retrying cannot help.

Size: the answer is read up to MAX_ANSWER_BYTES, and a token longer than `max_token_bytes` (what
the cache can hold) is a bad response: it could be neither stored nor shared.

What VCC sends is checked before anything is cached, by plain functions of the answer
(vcc_tokens.vcc.token_answer): this module is the transport and the retries.

Time: one deadline for the whole answer. The body is read against it (every socket read waits
at most what is left), and while the status line and headers are awaited a watchdog shuts the
connection down when it passes (vcc_token_contract.deadline_http): an endpoint that drips its
headers or its body ends as UpstreamTimeout at the deadline, not after a read timeout per byte.
"""

from __future__ import annotations

import base64
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from vcc_token_contract.deadline_http import watched, watched_session
from vcc_tokens.aws.credentials import ClientCredentials
from vcc_tokens.values.backoff import Retries
from vcc_tokens.values.errors import UpstreamBadResponse, UpstreamTimeout, UpstreamUnavailable
from vcc_tokens.vcc.token_answer import (
    DEFAULT_RETRY_AFTER,
    AnswerBounds,
    IssuedToken,
    error_for_response,
    issued_token,
    json_object,
)

if TYPE_CHECKING:
    import requests

MAX_ANSWER_BYTES = 1024 * 1024  # a token answer past this is not read


@dataclass(frozen=True)
class Call:
    """One token request: what it asks for, with which credentials, and when it must end."""

    region: str
    scope: str
    credentials: ClientCredentials = field(repr=False)
    deadline: float  # on the endpoint's clock

    @property
    def where(self) -> str:
        return f"the {self.region} token endpoint"


class TokenEndpoint(ABC):
    @abstractmethod
    def fetch(
        self,
        region: str,
        scope: str,
        credentials: ClientCredentials,
        budget: float,
    ) -> IssuedToken:
        """Request a new token for one scope within `budget` seconds (retries included: the
        caller's whole allowance, already cut to its own deadline), or raise an UpstreamError."""


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
        lifetimes: tuple[int, int],
        retries: Retries,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._token_url = token_url
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._bounds = AnswerBounds(max_token_bytes, fallback_expires_in, lifetimes)
        self._retries = retries
        self._session = session
        self._clock = clock
        self._sleep = sleep

    def fetch(
        self,
        region: str,
        scope: str,
        credentials: ClientCredentials,
        budget: float,
    ) -> IssuedToken:
        deadline = self._clock() + budget
        call = Call(region, scope, credentials, deadline)
        attempt = 1
        while True:
            try:
                return self._attempt(call)
            except UpstreamUnavailable as error:  # 429, 5xx, connection errors: retryable
                delay = self._retries.delay(attempt, error.upstream_retry_after)
                left = call.deadline - self._clock() - (delay or 0.0)
                if delay is None or left < self._retries.least_budget:
                    raise
                self._sleep(delay)
                attempt += 1

    def _attempt(self, call: Call) -> IssuedToken:
        status, response_headers, body = self._exchange(call)
        if body is None:
            raise UpstreamBadResponse(
                f"{call.where} answered ({status}) with more than {MAX_ANSWER_BYTES} bytes; "
                "not read"
            )
        if status == 200:
            return issued_token(json_object(body), call.where, self._bounds)
        raise error_for_response(status, response_headers, body, call.region, call.scope)

    def _exchange(self, call: Call) -> tuple[int, Mapping[str, str], bytes | None]:
        """One POST and its whole answer by the call's deadline: (status, headers, body or
        None if too long); transport failures as UpstreamErrors."""
        if self._session is None:
            self._session = watched_session()  # requests is imported here, on the first fetch
        with watched(call.deadline, self._clock) as watchdog:
            try:
                return self._post(self._session, call)
            except UpstreamUnavailable:
                if watchdog.fired:  # the connection was ended at the deadline, not lost
                    raise UpstreamTimeout(f"{call.where} did not answer in time") from None
                raise

    def _post(
        self, session: requests.Session, call: Call
    ) -> tuple[int, Mapping[str, str], bytes | None]:
        import requests
        from urllib3.exceptions import HTTPError, ReadTimeoutError

        form, headers = _token_request(call.scope, call.credentials)
        where, deadline = call.where, call.deadline
        budget = max(0.01, deadline - self._clock())
        try:
            response = session.post(
                self._token_url(call.region),
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
