"""`vcc-token admin check-rules` and `explain`: the entitlement rules, checked by the service's own
code (vcc_tokens, the [admin] extra), so the answer is the service's.

    vcc-token admin check-rules FILE                     is this entitlements document valid?
    vcc-token admin explain CALLER_ARN REGION SCOPE      which rule lets this caller have it?
        [--rules FILE | --parameter NAME]                (a file, or the SSM parameter)
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path

import botocore.session

from vcc_token_client.admin.support import AdminError, aws_client, aws_error, service_code
from vcc_token_client.errors import Exit
from vcc_token_contract.entitlements import (
    Entitlements,
    InvalidEntitlements,
    Rule,
    parse_entitlements,
)
from vcc_token_contract.vcc import REGIONS


def load_rules(text: str, source: str) -> Entitlements:
    try:
        return parse_entitlements(text)
    except InvalidEntitlements as problem:
        raise AdminError(f"{source}: {problem}", Exit.BAD_INPUT) from None


# SSM Parameter Store's limits on a value: 4 KB for a Standard parameter, 8 KB for an Advanced
# one (charged per parameter and month). put-parameter refuses a larger value.
PARAMETER_TIER_BYTES = {"Standard": 4096, "Advanced": 8192}


def check_rules(path: Path, tier: str = "Standard") -> str:
    """Valid for the service, and without the mistakes it would silently live with: a scope
    pattern that names no scope VCC has (a typo: the rule never matches), or no rule at all
    (every caller refused). The service itself accepts both, so a typo locks nobody out.
    It must also fit in the SSM parameter's tier."""
    text = _read(path)
    size, limit = len(text.encode("utf-8")), PARAMETER_TIER_BYTES[tier]
    if size > limit:
        hint = (
            "store it as an Advanced parameter (check-rules --tier Advanced; put-parameter "
            "--tier Advanced, up to 8 KB, charged per parameter and month) or merge rules"
            if tier == "Standard"
            else "merge rules: SSM holds no larger value"
        )
        raise AdminError(
            f"{path}: {size} bytes, over the {limit}-byte limit of an SSM {tier} parameter: {hint}",
            Exit.BAD_INPUT,
        )
    rules = load_rules(text, str(path))
    if not rules.rules:
        raise AdminError(f"{path}: no rules: the service would refuse every caller", Exit.BAD_INPUT)
    allowed = _allowed_scopes()
    for number, rule in enumerate(rules.rules):
        for pattern in rule.scopes:
            if not any(fnmatch.fnmatchcase(scope, pattern) for scope in allowed):
                raise AdminError(
                    f"{path}: rule {number}: the scope {pattern!r} matches no scope; "
                    f"allowed: {', '.join(sorted(allowed))}",
                    Exit.BAD_INPUT,
                )
    count = len(rules.rules)
    return f"{path}: valid, {count} rule{'' if count == 1 else 's'}"


CALLER_ARN = re.compile(r"^arn:aws[a-z-]*:(iam::\d{12}:(role|user)/|sts::\d{12}:assumed-role/)\S+$")


def check_request(caller_arn: str, region: str, scope: str) -> None:
    """explain's inputs, checked as the service checks a request (exit 2 if wrong)."""
    if region not in REGIONS:
        raise AdminError(
            f"unknown region {region!r}; allowed: {', '.join(REGIONS)}", Exit.BAD_INPUT
        )
    allowed = _allowed_scopes()
    if scope not in allowed:
        raise AdminError(
            f"unknown scope {scope!r}; allowed: {', '.join(sorted(allowed))}", Exit.BAD_INPUT
        )
    if not CALLER_ARN.match(caller_arn):
        raise AdminError(
            f"{caller_arn!r} is not a caller's ARN: arn:aws:iam::ACCOUNT:role/NAME, "
            "arn:aws:iam::ACCOUNT:user/NAME or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION",
            Exit.BAD_INPUT,
        )


def _allowed_scopes() -> frozenset[str]:
    """The service's reading of ALLOWED_SCOPES (exit 2 if it would not start with it)."""
    with service_code():
        from vcc_tokens.values.config import ConfigurationError, allowed_scopes
    try:
        return allowed_scopes(os.environ)
    except ConfigurationError as problem:
        raise AdminError(str(problem), Exit.BAD_INPUT) from None


def credential_behind(region: str, scope: str, routes_text: str | None) -> tuple[bool, str]:
    """(served, which credential serves the scope in the region, or why none does), from the
    routes (the stack's CredentialRoutes; none: each region's default credential)."""
    with service_code():
        from vcc_tokens.values.routes import RouteError, parse_routes
    try:
        routes = parse_routes(routes_text, REGIONS, _allowed_scopes())
    except RouteError as problem:
        raise AdminError(f"the credential routes {problem}", Exit.BAD_INPUT) from None
    credential = routes.credential_for(region, scope)
    if credential is None:
        served = ", ".join(sorted(routes.served(region) or ()))
        return (
            False,
            f"refused: region {region} does not serve scope {scope!r}; it serves: {served}",
        )
    return True, f"served with credential {credential!r}"


@dataclass(frozen=True)
class Miss:
    number: int
    failed: tuple[str, ...]  # which of principal, region, scope the rule does not match


def explain(rules: Entitlements, caller_arn: str, region: str, scope: str) -> tuple[bool, str]:
    """(allowed, the sentence that says why)."""
    misses = []
    for number, rule in enumerate(rules.rules):
        failed = _failed_parts(rule, caller_arn, region, scope)
        if not failed:
            return True, f"allowed by rule {number}: {_describe(rule)}"
        misses.append(Miss(number, failed))
    if not misses:
        return False, "refused: the document has no rules"
    nearest = min(misses, key=lambda miss: len(miss.failed))
    rule = rules.rules[nearest.number]
    return False, (
        f"refused: no rule allows {caller_arn} {scope!r} in {region!r}; nearest miss: rule "
        f"{nearest.number} ({_describe(rule)}) does not match the {' or '.join(nearest.failed)}"
    )


def _failed_parts(rule: Rule, caller_arn: str, region: str, scope: str) -> tuple[str, ...]:
    part_of = type(rule)  # vcc_tokens.aws.entitlements.Rule: each part alone, the others any
    checks = {
        "principal": part_of(rule.principals, ("*",), ("*",)),
        "region": part_of(("*",), rule.regions, ("*",)),
        "scope": part_of(("*",), ("*",), rule.scopes),
    }
    return tuple(
        part for part, check in checks.items() if not check.allows(caller_arn, region, scope)
    )


def _describe(rule: Rule) -> str:
    return (
        f"principals {list(rule.principals)}, regions {list(rule.regions)}, "
        f"scopes {list(rule.scopes)}"
    )


def rules_from_ssm(parameter: str, session: botocore.session.Session | None = None) -> str:
    client = aws_client("ssm", session)
    try:
        answer = client.get_parameter(Name=parameter)
    except Exception as exc:  # botocore's errors: say which, never the service's text
        raise aws_error(exc, f"the SSM parameter {parameter!r}") from None
    return str(answer["Parameter"]["Value"])


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AdminError(f"cannot read {path} ({exc.strerror})", Exit.BAD_INPUT) from None
