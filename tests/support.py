"""Helpers shared by the tests: events from events/, API calls through the handler."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from local.lambda_runtime import LambdaContext

EVENTS = Path(__file__).resolve().parent.parent / "events"
GET_TOKEN_EVENT = "get_token_emea_agents_availability.json"


@cache
def _event_file(name: str) -> str:
    return (EVENTS / name).read_text(encoding="utf-8")


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of events/<name>, the file `sam local invoke -e` uses."""
    return copy.deepcopy(json.loads(_event_file(name)))


def api_event(
    region: str, scope: str, query: dict[str, str] | None = None, *, encode: bool = False
) -> dict[str, Any]:
    """The realistic GET event, pointed at another region, scope or query."""
    event = load_event(GET_TOKEN_EVENT)
    raw_scope = quote(scope, safe="") if encode else scope
    event["path"] = f"/tokens/{region}/{raw_scope}"
    event["requestContext"]["path"] = "/v1" + event["path"]
    event["pathParameters"] = {"region": region, "scope": raw_scope}
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = (
        {key: [value] for key, value in query.items()} if query else None
    )
    return event


# Every error body and every header a handler returned in this test session; the secrets guard
# (tests/conftest.py) checks them after each test.
OBSERVED_RESPONSES: list[str] = []


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def invoke(handler: Any, event: dict[str, Any]) -> ApiResponse:
    """Call a Lambda handler with an API Gateway event and decode its proxy response."""
    result = handler(event, LambdaContext(event["requestContext"]["requestId"]))
    headers = dict(result.get("headers") or {})
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = values[-1]
    body = json.loads(result["body"])
    OBSERVED_RESPONSES.append(json.dumps(headers))
    if result["statusCode"] != 200:
        OBSERVED_RESPONSES.append(result["body"])
    return ApiResponse(result["statusCode"], headers, body)


def timed(handler: Any, event: dict[str, Any]) -> tuple[ApiResponse, float]:
    """`invoke`, and how many seconds the answer took."""
    started = time.monotonic()
    response = invoke(handler, event)
    return response, time.monotonic() - started
