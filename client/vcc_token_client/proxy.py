"""`vcc-token proxy`: a local forward proxy that injects VCC bearer tokens, for callers in any
language (and shell jobs) that cannot sign SigV4 or keep tokens themselves.

    GET http://127.0.0.1:8700/emea/agents-availability?skillNames=French
      -> GET https://emea.api.cc.vonage.com/agents-availability?skillNames=French
         with Authorization: Bearer <the service's token for agents-availability:read>

The first path segment is the region; the rest is matched against the config file's routes
(longest prefix wins), which say which scope the VCC API needs:

    {"service_url": "https://abc123.execute-api.eu-west-1.amazonaws.com/v1",
     "api_base_url": "https://{region}.api.cc.vonage.com",
     "routes": [{"path": "/agents-availability", "scope": "agents-availability:read"},
                {"path": "/stats", "scope": "stats"}]}

It listens on loopback only, forwards only to the configured VCC API origin (the URL is always
built from `api_base_url`, and the token is bound to that origin), strips any Authorization the
caller sent and hop-by-hop headers, passes status and headers through, streams answers back, and
bounds concurrency, body size and timeouts.

A web page the developer opens must not be able to use it: requests are answered only when their
Host is the proxy's own address (127.0.0.1, localhost or [::1] with its port: DNS rebinding
fails) and they carry no cross-site Origin or Sec-Fetch-Site (a browser's cross-site request
fails), with 403. Paths with dot segments or encoded slashes are refused (400) before a route
is matched, and the path is forwarded as the caller sent it (still percent-encoded), so a path
cannot climb out of its route into another scope. Any failure is a JSON 502 naming only the
error's type; a refusal by the token service keeps its own 4xx.

Tokens are cached and renewed ahead by the client (TokenClient); after a 401 from VCC the token
is replaced once through the service's refresh by hash and the request retried once, which is
why a request body is buffered (up to MAX_BODY).
HTTP is served by waitress (framing, limits, timeouts), never parsed by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from vcc_token_client.client import TokenClient
from vcc_token_client.errors import BadRequest, TokenServiceError, UpstreamUnavailable
from vcc_token_client.failover import service_urls
from vcc_token_client.wsgi import request_headers
from vcc_token_contract.vcc import API_BASE_URL_TEMPLATE, REGIONS, SCOPES

MAX_BODY = 10 * 1024 * 1024
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
NOT_FORWARDED = HOP_BY_HOP | {"host", "authorization", "content-length"}
TIMEOUT = (5.0, 30.0)  # connect, read: each call to VCC's API
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)  # an encoded / or \


class ConfigError(ValueError):
    """The proxy's config file is unusable; the message says where."""


@dataclass(frozen=True)
class Route:
    path: str
    scope: str


def _service_urls(path: Path, given: object) -> tuple[str, ...]:
    if not isinstance(given, str | list) or not all(isinstance(u, str) for u in given):
        raise ConfigError(
            f'{path}: expected {{"service_url": "...", "routes": [...]}} (or --deployments)'
        )
    try:  # a list: deployments in different regions, tried in order
        return service_urls(given)
    except BadRequest as problem:
        raise ConfigError(
            f"{path}: service_url must be the service's URL (the stack's ApiUrl) or a list "
            f"of them: {problem.message}"
        ) from None


@dataclass(frozen=True)
class ProxyConfig:
    # one URL, or deployments to fail over between, in order; None: --deployments' URLs
    service_url: str | tuple[str, ...] | None
    routes: tuple[Route, ...]
    api_base_url: str = API_BASE_URL_TEMPLATE

    @classmethod
    def load(cls, path: Path, deployments_given: bool = False) -> ProxyConfig:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read it as JSON ({type(exc).__name__})") from None
        given = document.get("service_url") if isinstance(document, dict) else None
        urls = None if given is None and deployments_given else _service_urls(path, given)
        routes = document.get("routes")
        if not isinstance(routes, list) or not routes:
            raise ConfigError(f"{path}: routes must be a non-empty list")
        parsed = []
        for number, route in enumerate(routes):
            if (
                not isinstance(route, dict)
                or not isinstance(route.get("path"), str)
                or not route["path"].startswith("/")
                or not isinstance(route.get("scope"), str)
                or not route["scope"]
            ):
                raise ConfigError(f'{path}: route {number} needs "path" (from /) and "scope"')
            if route["scope"] not in SCOPES:
                raise ConfigError(
                    f"{path}: route {number} has the unknown scope {route['scope'][:64]!r}; "
                    f"VCC's scopes: {', '.join(SCOPES)}"
                )
            parsed.append(Route(route["path"].rstrip("/") or "/", route["scope"]))
        api_base_url = document.get("api_base_url", API_BASE_URL_TEMPLATE)
        if not isinstance(api_base_url, str) or "{region}" not in api_base_url:
            raise ConfigError(f"{path}: api_base_url must contain {{region}}")
        service_url = urls[0] if urls and len(urls) == 1 else urls
        return cls(service_url, tuple(parsed), api_base_url)

    def scope_for(self, path: str) -> str | None:
        """The scope of the longest route that is `path` or a parent of it."""
        matching = [
            route
            for route in self.routes
            if route.path == "/" or path == route.path or path.startswith(route.path + "/")
        ]
        return max(matching, key=lambda route: len(route.path)).scope if matching else None


class TokenProxy:
    def __init__(self, config: ProxyConfig, tokens: TokenClient, port: int = 0) -> None:
        self.config = config
        self.tokens = tokens
        self.http = requests.Session()
        self.port = port  # the port it listens on (set once bound): its Host and Origin

    def refusal(self, environ: dict[str, Any]) -> tuple[int, str] | None:
        """Why a request may not use the proxy's tokens, if it may not."""
        hosts = {f"{name}:{self.port}" for name in LOOPBACK_NAMES}
        if environ.get("HTTP_HOST", "").lower() not in hosts:
            return 403, f"the Host must be this proxy's own address: {', '.join(sorted(hosts))}"
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin.lower() not in {f"http://{host}" for host in hosts}:
            return 403, "cross-origin requests (an Origin other than this proxy's) are refused"
        if environ.get("HTTP_SEC_FETCH_SITE", "same-origin") not in ("same-origin", "none"):
            return 403, "cross-site requests (Sec-Fetch-Site) are refused"
        raw_path = urlsplit(environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")).path
        segments = unquote(raw_path).split("/")
        if ENCODED_SEPARATOR.search(raw_path) or "." in segments or ".." in segments:
            return 400, "paths with dot segments or encoded slashes are refused"
        return None

    def target(self, environ: dict[str, Any]) -> Target | tuple[int, str]:
        """Where the request goes and with which token, or why it goes nowhere (404, 413)."""
        raw_path = urlsplit(environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")).path
        region, _, rest = raw_path.lstrip("/").partition("/")
        path = "/" + rest  # still percent-encoded, as the caller sent it
        if region not in REGIONS:
            return 404, f"the path must start with a region: {', '.join(REGIONS)}"
        scope = self.config.scope_for(unquote(path))
        if scope is None:
            known = ", ".join(route.path for route in self.config.routes)
            return 404, f"no route for {path[:100]}; routes: {known}"
        if int(environ.get("CONTENT_LENGTH") or 0) > MAX_BODY:
            return 413, f"bodies are limited to {MAX_BODY} bytes"
        url = self.config.api_base_url.format(region=region).rstrip("/") + path
        if environ.get("QUERY_STRING"):
            url += "?" + environ["QUERY_STRING"]
        return Target(region, scope, url)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        refused = self.refusal(environ)
        if refused is not None:
            return _json(start_response, *refused)
        target = self.target(environ)
        if isinstance(target, tuple):
            return _json(start_response, *target)
        region, scope, url = target.region, target.scope, target.url
        body = environ["wsgi.input"].read()  # all of it, chunked too (waitress bounds it)
        try:
            answer = self.http.request(
                environ["REQUEST_METHOD"],
                url,
                headers=_forwarded_headers(environ),
                data=body or None,
                auth=self.tokens.bearer(region, scope),
                timeout=TIMEOUT,
                stream=True,
                allow_redirects=False,  # the caller decides; a redirect never carries the token
            )
        except UpstreamUnavailable as error:
            return _json(start_response, 503, str(error), error.retry_after)
        except TokenServiceError as error:  # the service's own refusal keeps its 4xx
            status = error.status if error.status and 400 <= error.status < 500 else 502
            return _json(start_response, status, f"no token from the token service: {error}")
        except Exception as exc:  # the VCC API call; its text may hold the token: type only
            return _json(start_response, 502, f"the VCC API call failed ({type(exc).__name__})")
        headers = [
            (name, value)
            for name, value in answer.raw.headers.items()
            if name.lower() not in HOP_BY_HOP
        ]
        start_response(f"{answer.status_code} {answer.reason}", headers)
        return _streamed(answer)


@dataclass(frozen=True)
class Target:
    region: str
    scope: str
    url: str  # the VCC API's, with the caller's path and query


def _forwarded_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = request_headers(environ).items()
    return {name: value for name, value in headers if name.lower() not in NOT_FORWARDED}


def _streamed(answer: requests.Response) -> Iterator[bytes]:
    """The answer's bytes as VCC sent them (still encoded), chunk by chunk."""
    try:
        yield from answer.raw.stream(64 * 1024, decode_content=False)
    finally:
        answer.close()


def _json(
    start_response: Callable[..., Any], status: int, message: str, retry_after: int | None = None
) -> list[bytes]:
    body = json.dumps({"error": HTTPStatus(status).phrase, "message": message}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if retry_after:
        headers.append(("Retry-After", str(retry_after)))
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [body]


class WaitressMissing(ImportError):
    """The proxy's optional dependency is not installed."""


def serve(config: ProxyConfig, tokens: TokenClient, port: int, threads: int = 8) -> Any:
    """A waitress server on 127.0.0.1:`port` (not started: call .run())."""
    try:
        import waitress
    except ImportError:
        raise WaitressMissing(
            "needs waitress, an optional dependency: pip install 'vcc-token-client[proxy]'"
        ) from None
    app = TokenProxy(config, tokens)
    server = waitress.create_server(
        app,
        host="127.0.0.1",
        port=port,
        threads=threads,  # at most this many requests at once; the rest wait in line
        connection_limit=100,
        channel_timeout=30,
        max_request_body_size=MAX_BODY,
        ident="vcc-token-proxy",
        asyncore_use_poll=True,  # a socket closed by stop() is then a POLLNVAL, not EBADF
    )
    app.port = server.effective_port
    return server
