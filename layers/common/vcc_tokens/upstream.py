"""The OAuth 2.0 client-credentials request to VCC's token endpoint (RFC 6749 §4.4).

One pooled requests.Session per execution environment; redirects are never followed (a token
request carries the client secret); every failure becomes a typed UpstreamError whose message
holds the region, scope and status, never the request or response body.
"""

from __future__ import annotations

import base64
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote_plus

import requests

from vcc_tokens.credentials import ClientCredentials
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


@dataclass(frozen=True)
class IssuedToken:
    access_token: str = field(repr=False)
    expires_in: int
    token_type: str = "Bearer"


class TokenEndpoint(ABC):
    @abstractmethod
    def fetch(self, region: str, scope: str, credentials: ClientCredentials) -> IssuedToken:
        """Request a new token for one scope, or raise an UpstreamError."""


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
        session: requests.Session | None = None,
    ) -> None:
        self._token_url = token_url
        self._timeout = (connect_timeout, read_timeout)
        self._fallback_expires_in = fallback_expires_in
        self._session = session or requests.Session()

    def fetch(self, region: str, scope: str, credentials: ClientCredentials) -> IssuedToken:
        form = {"grant_type": "client_credentials", "scope": scope}
        headers = {"Accept": "application/json"}
        if credentials.auth_method == "client_secret_basic":
            headers["Authorization"] = basic_authorization(
                credentials.client_id, credentials.client_secret
            )
        else:
            form["client_id"] = credentials.client_id
            form["client_secret"] = credentials.client_secret
        where = f"the {region} token endpoint"
        try:
            response = self._session.post(
                self._token_url(region),
                data=form,  # requests form-urlencodes it and sets the Content-Type
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise UpstreamTimeout(f"{where} did not answer in time") from None
        except requests.RequestException as exc:
            raise UpstreamUnavailable(
                f"{where} is unreachable ({type(exc).__name__})", DEFAULT_RETRY_AFTER
            ) from None
        if response.status_code == 200:
            return self._parse_token(response, where)
        raise error_for_response(response, region, scope)

    def _parse_token(self, response: requests.Response, where: str) -> IssuedToken:
        body = _json_object(response)
        if body is None:
            raise UpstreamBadResponse(f"{where} answered 200 without a JSON object")
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token.strip():
            raise UpstreamBadResponse(f"{where} answered 200 without an access_token")
        token_type = body.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise UpstreamBadResponse(f"{where} issued a token_type other than Bearer")
        expires_in = _positive_int(body.get("expires_in", self._fallback_expires_in))
        if expires_in is None:
            raise UpstreamBadResponse(
                f"{where} issued an expires_in that is not a positive integer"
            )
        return IssuedToken(access_token=access_token, expires_in=expires_in)


def error_for_response(response: requests.Response, region: str, scope: str) -> UpstreamError:
    """Map a non-200 answer of the token endpoint to the typed error callers see."""
    status = response.status_code
    error = (_json_object(response) or {}).get("error")
    where = f"the {region} token endpoint"
    if status == 429:
        return UpstreamRateLimited(
            f"{where} is rate limiting requests (429)", retry_after_seconds(response)
        )
    if status >= 500:
        return UpstreamUnavailable(f"{where} failed ({status})", retry_after_seconds(response))
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


def retry_after_seconds(response: requests.Response, now: float | None = None) -> int:
    """Retry-After as seconds (RFC 9110: delay-seconds or an HTTP date), else our default;
    kept between 1 s and MAX_RETRY_AFTER."""
    raw = response.headers.get("Retry-After", "").strip()
    if raw.isascii() and raw.isdigit():
        seconds = int(raw)
    else:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            when = None
        if when is None or when.tzinfo is None:
            seconds = DEFAULT_RETRY_AFTER
        else:
            seconds = math.ceil(when.timestamp() - (time.time() if now is None else now))
    return max(1, min(seconds, MAX_RETRY_AFTER))


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _positive_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and value > 0 else None
