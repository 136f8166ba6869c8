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
bounds concurrency, body size and timeouts. Tokens are cached and renewed ahead by the client
(TokenClient); after a 401 from VCC the token is replaced once through the service's refresh by
hash and the request retried once, which is why a request body is buffered (up to MAX_BODY).
HTTP is served by waitress (framing, limits, timeouts), never parsed by hand.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import requests

from vcc_token_client.client import DEFAULT_API_BASE_URL, TokenClient
from vcc_token_client.errors import TokenServiceError, UpstreamUnavailable
from vcc_token_client.wsgi import request_headers

REGIONS = ("emea", "nam", "apac")
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


class ConfigError(ValueError):
    """The proxy's config file is unusable; the message says where."""


@dataclass(frozen=True)
class Route:
    path: str
    scope: str


@dataclass(frozen=True)
class ProxyConfig:
    service_url: str
    routes: tuple[Route, ...]
    api_base_url: str = DEFAULT_API_BASE_URL

    @classmethod
    def load(cls, path: Path) -> ProxyConfig:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read it as JSON ({type(exc).__name__})") from None
        if not isinstance(document, dict) or not isinstance(document.get("service_url"), str):
            raise ConfigError(f'{path}: expected {{"service_url": "...", "routes": [...]}}')
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
            parsed.append(Route(route["path"].rstrip("/") or "/", route["scope"]))
        api_base_url = document.get("api_base_url", DEFAULT_API_BASE_URL)
        if not isinstance(api_base_url, str) or "{region}" not in api_base_url:
            raise ConfigError(f"{path}: api_base_url must contain {{region}}")
        return cls(document["service_url"], tuple(parsed), api_base_url)

    def scope_for(self, path: str) -> str | None:
        """The scope of the longest route that is `path` or a parent of it."""
        matching = [
            route
            for route in self.routes
            if route.path == "/" or path == route.path or path.startswith(route.path + "/")
        ]
        return max(matching, key=lambda route: len(route.path)).scope if matching else None


class TokenProxy:
    def __init__(self, config: ProxyConfig, tokens: TokenClient) -> None:
        self.config = config
        self.tokens = tokens
        self.http = requests.Session()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        region, _, rest = environ.get("PATH_INFO", "").lstrip("/").partition("/")
        path = "/" + rest
        if region not in REGIONS:
            return _json(start_response, 404, f"the path must start with a region: {REGIONS}")
        scope = self.config.scope_for(path)
        if scope is None:
            known = ", ".join(route.path for route in self.config.routes)
            return _json(start_response, 404, f"no route for {path[:100]}; routes: {known}")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY:
            return _json(start_response, 413, f"bodies are limited to {MAX_BODY} bytes")
        body = environ["wsgi.input"].read()  # all of it, chunked too (waitress bounds it)
        url = self.config.api_base_url.format(region=region).rstrip("/") + path
        if environ.get("QUERY_STRING"):
            url += "?" + environ["QUERY_STRING"]
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
        except TokenServiceError as error:
            return _json(start_response, 502, f"no token from the token service: {error}")
        except requests.RequestException as exc:
            return _json(start_response, 502, f"the VCC API did not answer ({type(exc).__name__})")
        headers = [
            (name, value)
            for name, value in answer.raw.headers.items()
            if name.lower() not in HOP_BY_HOP
        ]
        start_response(f"{answer.status_code} {answer.reason}", headers)
        return _streamed(answer)


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


def serve(config: ProxyConfig, tokens: TokenClient, port: int, threads: int = 8) -> Any:
    """A waitress server on 127.0.0.1:`port` (not started: call .run())."""
    try:
        import waitress
    except ImportError:
        print(
            "vcc-token proxy needs waitress: pip install 'vcc-token-client[proxy]'", file=sys.stderr
        )
        raise
    return waitress.create_server(
        TokenProxy(config, tokens),
        host="127.0.0.1",
        port=port,
        threads=threads,  # at most this many requests at once; the rest wait in line
        connection_limit=100,
        channel_timeout=30,
        max_request_body_size=MAX_BODY,
        ident="vcc-token-proxy",
        asyncore_use_poll=True,  # a socket closed by stop() is then a POLLNVAL, not EBADF
    )
