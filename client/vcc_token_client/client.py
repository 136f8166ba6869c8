"""TokenClient: tokens from the service, kept in memory until within `min_ttl` of expiry.

Thread-safe: one request in flight per (region, scope); other threads wait for it and share its
token. `bearer(region, scope)` is a requests auth for calling VCC APIs: it adds the token and, if
VCC answers 401, asks the service to replace that token (naming it by its SHA-256) and retries
the call once.

The token goes only to the region's VCC API origin (scheme, host and port of `api_base_url`): a
request to another origin is refused before anything is sent, a redirect to another origin loses
the Authorization header, and only a 401 from the VCC API origin itself leads to a refresh. One
process asks the service to refresh a key at most once per `refresh_interval`, however many
401s arrive.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import botocore.session
import requests
from requests.auth import AuthBase

from vcc_token_client.deployments import Deployment
from vcc_token_client.errors import (
    ServiceUnreachable,
    TokenServiceError,
    error_for,
)
from vcc_token_client.failover import (
    UNHEALTHY_SECONDS,
    Deployments,
    FailoverMemory,
    most_informative,
)
from vcc_token_client.sigv4 import SigV4RequestsAuth
from vcc_token_contract.api import DEFAULT_MIN_TTL, REFRESH_ROUTE, TOKEN_ROUTE
from vcc_token_contract.deadline_http import watched, watched_session
from vcc_token_contract.vcc import API_BASE_URL_TEMPLATE


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    region: str
    scope: str
    expires_at: float  # epoch seconds, from the service's expires_in when it answered
    # the service's whole answer (expires_at, min_ttl_met when short of min_ttl...), token included
    answer: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def seconds_left(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.access_token.encode()).hexdigest()

    @property
    def authorization(self) -> str:
        return f"Bearer {self.access_token}"


REFRESH_INTERVAL = 30.0  # the service refreshes a key at most this often too


class ForeignOrigin(ValueError):
    """A bearer token was about to be sent somewhere other than its VCC API origin."""


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, with the scheme's default port made explicit."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default


CONNECT_TIMEOUT = 5.0  # seconds to reach a deployment before trying the next
ATTEMPT_DEADLINE = 25.0  # seconds one attempt against one deployment may take, all included


class TokenClient:
    def __init__(
        self,
        base_url: str | Sequence[str],
        *,
        min_ttl: int = DEFAULT_MIN_TTL,
        timeout: float = ATTEMPT_DEADLINE,
        botocore_session: botocore.session.Session | None = None,
        signing_region: str | Mapping[str, str] | None = None,
        http: requests.Session | None = None,
        api_base_url: str = API_BASE_URL_TEMPLATE,
        refresh_interval: float = REFRESH_INTERVAL,
        unhealthy_seconds: float = UNHEALTHY_SECONDS,
        failover_memory: FailoverMemory | None = None,
    ) -> None:
        """`base_url`: the service's URL, or an ordered list of them, or a comma-separated one
        (deployments in different regions: vcc_token_client.failover). `timeout`: the deadline
        of one attempt against one deployment (connecting, the answer's headers and body, a
        drip included), after which the next is tried. `api_base_url`: where the tokens are
        used, `{region}` standing for the region (the legacy
        https://{region}.api.newvoicemedia.com, or a test double). `signing_region`: for URLs
        whose hostname names no region, one for all or one per URL (a custom domain; for_deployments
        gives each deployment's). `http`: a session of your
        own, whose answers `timeout` then bounds per read only (the deadline needs the default)."""
        self._deployments = Deployments(
            base_url if isinstance(base_url, str) else list(base_url),
            unhealthy_seconds,
            memory=failover_memory,
        )
        self._api_base_url = api_base_url
        self._refresh_interval = refresh_interval
        self._refreshed_at: dict[tuple[str, str], float] = {}
        self._min_ttl = min_ttl
        self._timeout = timeout
        self._auth = SigV4RequestsAuth(botocore_session, signing_region)
        self._http = http or watched_session()
        self._tokens: dict[tuple[str, str], Token] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_lock = threading.Lock()

    @classmethod
    def for_deployments(cls, deployments: Sequence[Deployment], **options: Any) -> TokenClient:
        """A client failing over between described deployments (vcc_token_client.deployments),
        in their order, each URL signed for its deployment's region."""
        regions = {deployment.url: deployment.region for deployment in deployments}
        return cls([d.url for d in deployments], signing_region=regions, **options)

    # --- tokens ----------------------------------------------------------------------------
    def token(self, region: str, scope: str) -> Token:
        """A token with at least `min_ttl` seconds left, from memory or from the service."""
        key = (region, scope)
        cached = self._tokens.get(key)
        if cached is not None and cached.seconds_left() >= self._min_ttl:
            return cached
        with self._lock(key):
            cached = self._tokens.get(key)  # another thread may have fetched it meanwhile
            if cached is not None and cached.seconds_left() >= self._min_ttl:
                return cached
            token = self._call(
                "GET", TOKEN_ROUTE, region, scope, params={"min_ttl": str(self._min_ttl)}
            )
            self._tokens[key] = token
            return token

    def refresh(self, region: str, scope: str, rejected_sha256: str | None = None) -> Token:
        """After VCC rejected a token (401), pass its `Token.sha256`: the service replaces it
        once for all its callers. Without it, a forced refresh (rate-limited by the service)."""
        key = (region, scope)
        with self._lock(key):
            current = self._tokens.get(key)
            if rejected_sha256 and current is not None and current.sha256 != rejected_sha256:
                return current  # another thread already replaced it
            last = self._refreshed_at.get(key)
            recently = last is not None and time.monotonic() - last < self._refresh_interval
            if current is not None and recently:
                return current  # refreshed moments ago: a persistent 401 is not ours to fix
            body = {"rejected_token_sha256": rejected_sha256} if rejected_sha256 else None
            token = self._call("POST", REFRESH_ROUTE, region, scope, json=body)
            self._tokens[key] = token
            self._refreshed_at[key] = time.monotonic()
            return token

    def bearer(self, region: str, scope: str) -> VccBearerAuth:
        """A requests auth for VCC API calls with this (region, scope)'s token, to the region's
        VCC API origin only."""
        api_origin = origin(self._api_base_url.format(region=region))
        return VccBearerAuth(self, region, scope, api_origin)

    # --- the wire --------------------------------------------------------------------------
    def _lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(key, threading.Lock())

    def _call(self, method: str, route: str, region: str, scope: str, **kwargs: Any) -> Token:
        """One call, to each deployment in turn until one answers (failover's rules)."""
        path = route.format(region=quote(region, safe=""), scope=quote(scope, safe=""))
        failures: list[tuple[str, TokenServiceError]] = []
        for base in self._deployments.order():
            try:
                response = self._attempt(method, base, path, **kwargs)
            except _NoAnswer as unreachable:
                failures.append((base, unreachable))
                self._deployments.failed(base)
                continue
            if response.status_code >= 500:  # another deployment may answer
                retry_after = response.headers.get("Retry-After")
                failures.append(
                    (base, error_for(response.status_code, _json(response), retry_after))
                )
                self._deployments.failed(base)
                continue
            self._deployments.answered(base)
            return self._token(response, region, scope)
        raise most_informative(failures)

    def _attempt(self, method: str, base: str, path: str, **kwargs: Any) -> requests.Response:
        """One request to one deployment, over by the attempt's deadline whatever the server
        does (a silent or dripping one included: vcc_token_contract.deadline_http)."""
        timeout = (min(CONNECT_TIMEOUT, self._timeout), self._timeout)
        with watched(time.monotonic() + self._timeout, time.monotonic) as watchdog:
            try:
                response = self._http.request(
                    method, base + path, auth=self._auth, timeout=timeout, **kwargs
                )
            except requests.RequestException as exc:
                response, why = None, type(exc).__name__
            if watchdog.fired:  # ended at the deadline: whatever came is not a whole answer
                response, why = None, f"no whole answer within the {self._timeout:g} s deadline"
        if response is None:
            raise _NoAnswer(None, "unreachable", f"{base} ({why})")
        return response

    def _token(self, response: requests.Response, region: str, scope: str) -> Token:
        body = _json(response)
        if response.status_code != 200:
            raise error_for(response.status_code, body, response.headers.get("Retry-After"))
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise TokenServiceError(response.status_code, "unexpected_answer", "no access_token")
        return Token(
            access_token=body["access_token"],
            region=region,
            scope=scope,
            expires_at=time.time() + float(body.get("expires_in", 0)),
            answer=body,
        )


class _NoAnswer(ServiceUnreachable):
    """One deployment gave no answer (connection, deadline): the next one is tried."""


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class VccBearerAuth(AuthBase):
    """Adds `Authorization: Bearer <token>` to requests for the VCC API origin (and refuses
    others); on a 401 from that origin, replaces the token through the service and retries the
    request once. A redirect to another origin is followed without the token."""

    def __init__(
        self, client: TokenClient, region: str, scope: str, api_origin: tuple[str, str, int | None]
    ) -> None:
        self._client = client
        self._region = region
        self._scope = scope
        self._origin = api_origin

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if origin(request.url or "") != self._origin:
            scheme, host, port = self._origin
            raise ForeignOrigin(
                f"the {self._region} token is sent only to {scheme}://{host}:{port}, "
                f"not to {urlsplit(request.url or '').netloc or 'that URL'}"
            )
        token = self._client.token(self._region, self._scope)
        request.headers["Authorization"] = token.authorization
        hook = functools.partial(self._on_response, token)
        request.register_hook("response", hook)  # type: ignore[no-untyped-call]
        return request

    def _on_response(
        self, sent: Token, response: requests.Response, **kwargs: Any
    ) -> requests.Response:
        request = response.request
        if origin(request.url or "") != self._origin:
            request.headers.pop("Authorization", None)  # a redirect's answer: not our API
            return response
        location = response.headers.get("Location")
        if response.is_redirect and location:
            if origin(urljoin(request.url or "", location)) != self._origin:
                # requests copies this request's headers into the redirected one
                request.headers.pop("Authorization", None)
            return response
        if response.status_code != 401:
            return response
        token = self._client.refresh(self._region, self._scope, sent.sha256)
        _drain(response)
        response.close()
        retry = response.request.copy()
        retry.hooks = {"response": []}  # once only
        retry.headers["Authorization"] = token.authorization
        retried = response.connection.send(retry, **kwargs)
        retried.history.append(response)
        retried.request = retry
        return retried


def _drain(response: requests.Response, limit: int = 64 * 1024) -> None:
    """Read what is left of a (small) 401 answer, so its connection goes back to the pool
    instead of being reset under the server's feet."""
    with contextlib.suppress(Exception):  # a connection that fails here is simply not reused
        response.raw.read(limit, decode_content=False)
