"""`vcc-token admin smoke`: after a deploy, one pass over what callers and operators rely on.

    1. a signed GET /tokens/{region}/{scope}             (the caller's path: IAM, the API's
                                                           resource policy, entitlements, VCC)
    2. POST .../refresh naming that token's SHA-256       (replaces it once: one VCC grant)
    3. POST /oauth2/token (client-credentials form)       (the OAuth 2.0 route)
    4. with --stack: every alarm of the stack (by its name prefix, `<stack>-`), none in ALARM,
       and the refresher's last run, younger than twice the schedule's rate

Steps 1-3 need what a caller needs (the stack's CallerPolicy and an entitlement rule for the
scope); step 4 the OperatorPolicy. A check that cannot look (no region, no permission, no alarm
or log group by that name) fails, saying why: a smoke check that cannot see must not pass.
Nothing printed holds a token: each line says what was checked and how long the token has left.
Exit codes are the CLI's: 0 every check passed; 2, 3, 4, 6 as for `vcc-token token`; 5 an AWS
call of step 4 failed (credentials, region, permission); 1 an alarm in ALARM, a refresher that
has not run lately, or anything else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import botocore.session
import requests

from vcc_token_client.client import TokenClient
from vcc_token_client.errors import (
    Exit,
    ServiceUnreachable,
    TokenServiceError,
    error_for,
    exit_code,
)
from vcc_token_client.sigv4 import SigV4RequestsAuth
from vcc_token_contract.events import DEFAULT_RENEW_RATE_MINUTES
from vcc_token_contract.names import log_group


@dataclass(frozen=True)
class Check:
    name: str
    outcome: str  # "ok", "FAIL" or "skip"
    detail: str
    exit_code: Exit = Exit.OK  # what a failure of this check makes the command exit with

    def line(self) -> str:
        return f"{self.outcome:<4}  {self.name}: {self.detail}"


def smoke(
    api_url: str,
    region: str,
    scope: str,
    stack: str | None = None,
    session: botocore.session.Session | None = None,
    signing_region: str | None = None,
    rate_minutes: int = DEFAULT_RENEW_RATE_MINUTES,
) -> list[Check]:
    """Every check, in order; the API checks stop at the first failure."""
    session = session or botocore.session.get_session()
    client = TokenClient(
        api_url, min_ttl=0, botocore_session=session, signing_region=signing_region
    )
    checks = _api_checks(client, api_url, region, scope, SigV4RequestsAuth(session, signing_region))
    if stack:
        checks += [alarm_states(session, stack), refresher_last_run(session, stack, rate_minutes)]
    return checks


def overall_exit_code(checks: list[Check]) -> Exit:
    return next((check.exit_code for check in checks if check.outcome == "FAIL"), Exit.OK)


def _failed(name: str, error: TokenServiceError) -> Check:
    return Check(name, "FAIL", str(error), exit_code(error))


def _api_checks(
    client: TokenClient, api_url: str, region: str, scope: str, auth: SigV4RequestsAuth
) -> list[Check]:
    get = f"GET /tokens/{region}/{scope}"
    try:
        token = client.token(region, scope)
    except TokenServiceError as error:
        return [_failed(get, error)]
    checks = [Check(get, "ok", f"a token with {int(token.seconds_left())} s left")]
    refresh = f"POST /tokens/{region}/{scope}/refresh"
    try:
        replaced = client.refresh(region, scope, token.sha256)
    except TokenServiceError as error:
        return [*checks, _failed(refresh, error)]
    replaced_or_kept = "replaced" if replaced.sha256 != token.sha256 else "kept (refreshed lately)"
    checks.append(Check(refresh, "ok", f"the token was {replaced_or_kept}"))
    oauth = "POST /oauth2/token"
    try:
        response = requests.post(
            api_url.rstrip("/") + "/oauth2/token",
            data={"grant_type": "client_credentials", "scope": scope, "region": region},
            auth=auth,
            timeout=25,
        )
        body: Any = response.json()
    except (requests.RequestException, ValueError) as exc:
        return [
            *checks,
            _failed(oauth, ServiceUnreachable(None, "unreachable", type(exc).__name__)),
        ]
    if response.status_code != 200 or body.get("token_type") != "Bearer":
        refused = error_for(response.status_code, body, response.headers.get("Retry-After"))
        return [*checks, _failed(oauth, refused)]
    return [*checks, Check(oauth, "ok", f"a Bearer token with {body.get('expires_in')} s left")]


def alarm_states(session: botocore.session.Session, stack: str) -> Check:
    """Every alarm whose name starts with `<stack>-` (the template names them so), none in ALARM."""
    prefix = f"{stack}-"
    try:
        cloudwatch: Any = session.create_client("cloudwatch")
        pages = cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix)
        alarms = [alarm for page in pages for alarm in page["MetricAlarms"]]
    except Exception as exc:  # botocore's errors: say which, never the service's text
        return Check("alarms", "FAIL", f"cannot read them ({_code(exc)})", Exit.UNREACHABLE)
    if not alarms:
        return Check(
            "alarms",
            "FAIL",
            f"no alarm is named {prefix}*: is the stack's name right?",
            Exit.FAILED,
        )
    states = {alarm["AlarmName"]: alarm["StateValue"] for alarm in alarms}
    firing = sorted(name for name, state in states.items() if state == "ALARM")
    summary = ", ".join(
        f"{name.removeprefix(prefix)} {state}" for name, state in sorted(states.items())
    )
    if firing:
        return Check("alarms", "FAIL", f"in ALARM: {', '.join(firing)} ({summary})", Exit.FAILED)
    return Check("alarms", "ok", summary)


def refresher_last_run(
    session: botocore.session.Session, stack: str, rate_minutes: int = DEFAULT_RENEW_RATE_MINUTES
) -> Check:
    """The refresher's log group has an event younger than twice the schedule's rate."""
    group = log_group(stack, "refresher")
    try:
        logs: Any = session.create_client("logs")
        answer = logs.describe_log_streams(
            logGroupName=group, orderBy="LastEventTime", descending=True, limit=1
        )
    except Exception as exc:  # botocore's errors: say which, never the service's text
        if _code(exc) == "ResourceNotFoundException":
            return Check(
                "refresher",
                "FAIL",
                f"no log group {group}: is the stack's name right?",
                Exit.FAILED,
            )
        return Check("refresher", "FAIL", f"cannot read {group} ({_code(exc)})", Exit.UNREACHABLE)
    streams = answer.get("logStreams", [])
    last = streams[0].get("lastEventTimestamp") if streams else None
    if last is None:
        return Check("refresher", "FAIL", f"no run logged in {group} yet", Exit.FAILED)
    minutes = (time.time() - last / 1000) / 60
    if minutes > 2 * rate_minutes:
        return Check(
            "refresher",
            "FAIL",
            f"last run logged {minutes:.0f} min ago, over twice the schedule's {rate_minutes} min "
            "(docs/operating.md: the refresher is not running)",
            Exit.FAILED,
        )
    return Check("refresher", "ok", f"last run logged {minutes:.0f} min ago")


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__))
