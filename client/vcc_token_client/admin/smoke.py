"""`vcc-token admin smoke`: after a deploy, one pass over what callers and operators rely on.

    1. a signed GET /tokens/{region}/{scope}             (the caller's path: IAM, the API's
                                                           resource policy, entitlements, VCC)
    2. POST .../refresh naming that token's SHA-256       (replaces it once: one VCC grant)
    3. POST /oauth2/token (client-credentials form)       (the OAuth 2.0 route)
    4. with --stack: every alarm of the stack (by its name prefix, `<stack>-`), none in ALARM,
       and the refresher's last completed run, younger than twice the schedule's rate and
       without a failed key (its summary line, `scheduled renewal finished`); with
       --run-refresher FUNCTION, that function is run once first, as its schedule does (right
       after a deploy, before the first scheduled run)

Every check is printed: ok, FAILED, or "not run" and why (an API check after a failed one).
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

from vcc_token_client.admin import support
from vcc_token_client.admin.ledger import Search, log_lines
from vcc_token_client.client import TokenClient
from vcc_token_client.errors import (
    Exit,
    ServiceUnreachable,
    TokenServiceError,
    error_for,
    exit_code,
)
from vcc_token_client.sigv4 import SigV4RequestsAuth
from vcc_token_contract.events import DEFAULT_RENEW_RATE_MINUTES, RENEWAL_SUMMARY, SCHEDULED_RUN
from vcc_token_contract.names import log_group


@dataclass(frozen=True)
class Check:
    name: str
    outcome: str  # "ok", "FAIL" or "not run"
    detail: str
    exit_code: Exit = Exit.OK  # what a failure of this check makes the command exit with

    def line(self) -> str:
        shown = {"FAIL": "FAILED"}.get(self.outcome, self.outcome)
        return f"{shown:<7}  {self.name}: {self.detail}"


def smoke(
    api_url: str,
    region: str,
    scope: str,
    stack: str | None = None,
    session: botocore.session.Session | None = None,
    signing_region: str | None = None,
    rate_minutes: int = DEFAULT_RENEW_RATE_MINUTES,
    *,
    run_refresher: str | None = None,
) -> list[Check]:
    """Every check, in order; the API checks stop at the first failure. `run_refresher`: the
    refresher function to run once, as its schedule does, before its last run is read (right
    after a deploy, when the first scheduled run is still to come)."""
    session = session or botocore.session.get_session()
    client = TokenClient(
        api_url, min_ttl=0, botocore_session=session, signing_region=signing_region
    )
    checks = _api_checks(client, api_url, region, scope, SigV4RequestsAuth(session, signing_region))
    if stack:
        ran = [scheduled_run(session, run_refresher)] if run_refresher else []
        last = refresher_last_run(session, stack, rate_minutes)
        checks += [alarm_states(session, stack), *ran, last]
    return checks


def scheduled_run(session: botocore.session.Session, function: str) -> Check:
    """One run of the refresher, as its schedule starts it (synchronously, invoked once)."""
    try:
        why = support.run_refresher(support.refresher_client(session), function, SCHEDULED_RUN)
    except support.AdminError as error:
        return Check("scheduled run", "FAIL", str(error), error.code)
    if why is not None:
        return Check("scheduled run", "FAIL", f"{function}: {why}", Exit.FAILED)
    return Check("scheduled run", "ok", f"{function} ran once, as its schedule does")


def overall_exit_code(checks: list[Check]) -> Exit:
    return next((check.exit_code for check in checks if check.outcome == "FAIL"), Exit.OK)


def _failed(name: str, error: TokenServiceError) -> Check:
    return Check(name, "FAIL", str(error), exit_code(error))


def _api_checks(
    client: TokenClient, api_url: str, region: str, scope: str, auth: SigV4RequestsAuth
) -> list[Check]:
    """The three API checks in order; after a failed one, the rest are listed as not run."""
    names = [
        f"GET /tokens/{region}/{scope}",
        f"POST /tokens/{region}/{scope}/refresh",
        "POST /oauth2/token",
    ]
    checks: list[Check] = []
    try:
        token = client.token(region, scope)
        checks.append(Check(names[0], "ok", f"a token with {int(token.seconds_left())} s left"))
        replaced = client.refresh(region, scope, token.sha256)
        kept = "replaced" if replaced.sha256 != token.sha256 else "kept (refreshed lately)"
        checks.append(Check(names[1], "ok", f"the token was {kept}"))
        checks.append(_oauth_check(names[2], api_url, region, scope, auth))
    except TokenServiceError as error:
        checks.append(_failed(names[len(checks)], error))
    not_run = f"not run: {names[len(checks) - 1]} failed"
    return checks + [Check(name, "not run", not_run) for name in names[len(checks) :]]


def _oauth_check(
    name: str, api_url: str, region: str, scope: str, auth: SigV4RequestsAuth
) -> Check:
    try:
        response = requests.post(
            api_url.rstrip("/") + "/oauth2/token",
            data={"grant_type": "client_credentials", "scope": scope, "region": region},
            auth=auth,
            timeout=25,
        )
        body: Any = response.json()
    except (requests.RequestException, ValueError) as exc:
        return _failed(name, ServiceUnreachable(None, "unreachable", type(exc).__name__))
    if response.status_code != 200 or body.get("token_type") != "Bearer":
        return _failed(
            name, error_for(response.status_code, body, response.headers.get("Retry-After"))
        )
    return Check(name, "ok", f"a Bearer token with {body.get('expires_in')} s left")


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
    """The refresher's last completed run (its summary line) is younger than twice the
    schedule's rate and failed no key. A run that crashed (and went to the dead-letter queue)
    logs no summary: if none completed since, this fails too."""
    group = log_group(stack, "refresher")
    try:
        summary = _last_summary(session, group, 2 * rate_minutes)
    except SearchCutShort as cut:  # it could not look: a failure, never "no run"
        return Check("refresher", "FAIL", f"{group}: {cut}", Exit.FAILED)
    except Exception as exc:  # botocore's errors: say which, never the service's text
        if _code(exc) == "ResourceNotFoundException":
            why = f"no log group {group}: is the stack's name right?"
            return Check("refresher", "FAIL", why, Exit.FAILED)
        return Check("refresher", "FAIL", f"cannot read {group} ({_code(exc)})", Exit.UNREACHABLE)
    return _judged_run(summary, group, rate_minutes)


def _judged_run(summary: tuple[int, dict[str, Any]] | None, group: str, rate_minutes: int) -> Check:
    if summary is None:
        why = (
            f"no completed run logged in {group} in the last {2 * rate_minutes} min, twice the "
            f"schedule's {rate_minutes} min. Right after a deploy, the first scheduled run is "
            f"up to {rate_minutes} min away: wait for it, or run one now (docs/deploying.md, "
            '"The first run and the smoke check"); otherwise the refresher is not running, or '
            "its runs fail: see its dead-letter queue (docs/operating.md)"
        )
        return Check("refresher", "FAIL", why, Exit.FAILED)
    at, line = summary
    minutes = (time.time() - at / 1000) / 60
    failed = line.get("failed") or []
    if failed:
        keys = "; ".join(str(item) for item in failed)
        why = f"the last run ({minutes:.0f} min ago) failed {len(failed)} key(s): {keys[:300]}"
        return Check("refresher", "FAIL", why, Exit.FAILED)
    renewed = line.get("renewed", 0)
    return Check(
        "refresher", "ok", f"last run {minutes:.0f} min ago, {renewed} renewed, none failed"
    )


def _last_summary(
    session: botocore.session.Session, group: str, window_minutes: int
) -> tuple[int, dict[str, Any]] | None:
    """(timestamp, line) of the latest summary line within the window, if any. A search cut
    short (ledger.Search's limits) before finding one is SearchCutShort, never "none"."""
    logs: Any = session.create_client("logs")
    since = int((time.time() - window_minutes * 60) * 1000)
    search = Search()
    found = log_lines(logs, group, RENEWAL_SUMMARY, RENEWAL_SUMMARY, since, search)
    latest = max(found, key=lambda item: item[0], default=None)
    if latest is None and not search.complete:
        raise SearchCutShort(search.how_far())
    return latest


class SearchCutShort(Exception):
    """The refresher's log could not be read to the end of the window."""


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__))
