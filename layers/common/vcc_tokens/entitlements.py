"""Which caller may obtain which (region, scope): denied unless a rule allows it.

The rules are a JSON document in an SSM parameter, read at most once per ENTITLEMENTS_MAX_AGE
and validated; a document that does not validate refuses everything (fails closed).

    {"version": 1,
     "rules": [{"principals": ["arn:aws:iam::111122223333:role/orders-*"],
                "regions": ["emea", "nam"],
                "scopes": ["agents-availability:read"]}]}

`*` and `?` are wildcards in principals, regions and scopes (as in IAM, `*` also spans `/`).
A caller's STS assumed-role ARN (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) also matches
rules written for its role (arn:aws:iam::ACCOUNT:role/PATH/ROLE). API Gateway does not show the
role's path, and a role's name is unique in its account, so a rule naming the role matches
whatever its path; a rule whose path narrows a wildcard name (role/payments/*) cannot be checked
for an assumed role and does not match it (rules can name assumed-role ARNs directly instead).
"""

from __future__ import annotations

import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from vcc_token_contract.ledger import Field
from vcc_token_contract.metrics import Metric
from vcc_token_contract.vcc import REGIONS
from vcc_tokens.aws import calling
from vcc_tokens.errors import (
    DependencyError,
    DependencyUnavailable,
    EntitlementsUnavailable,
    Forbidden,
)
from vcc_tokens.observability import MetricUnit, logger, metrics
from vcc_tokens.ttl_cache import TtlCache

_ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>aws[\w-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/.+$"
)
_ROLE_RULE = re.compile(
    r"^arn:(?P<partition>[^:]+):iam::(?P<account>[^:]+):role/(?P<path_and_name>.+)$"
)
_RULE_KEYS = {"principals", "regions", "scopes"}
_WILDCARDS = set("*?[")


@dataclass(frozen=True)
class Rule:
    principals: tuple[str, ...]
    regions: tuple[str, ...]
    scopes: tuple[str, ...]

    def allows(self, principal_arn: str, region: str, scope: str) -> bool:
        return (
            any(principal_matches(pattern, principal_arn) for pattern in self.principals)
            and any(fnmatchcase(region, pattern) for pattern in self.regions)
            and any(fnmatchcase(scope, pattern) for pattern in self.scopes)
        )


@dataclass(frozen=True)
class Entitlements:
    rules: tuple[Rule, ...]

    def allows(self, principal_arn: str | None, region: str, scope: str) -> bool:
        if not principal_arn:
            return False
        return any(rule.allows(principal_arn, region, scope) for rule in self.rules)


def principal_matches(pattern: str, principal_arn: str) -> bool:
    if fnmatchcase(principal_arn, pattern):
        return True
    caller = _ASSUMED_ROLE.match(principal_arn)
    rule = _ROLE_RULE.match(pattern)
    if caller is None or rule is None:
        return False
    path, _, name = rule["path_and_name"].rpartition("/")
    if path not in ("", "*") and _WILDCARDS & set(name):
        return False  # the role's path would decide, and an assumed-role ARN does not show it
    return (
        fnmatchcase(caller["partition"], rule["partition"])
        and fnmatchcase(caller["account"], rule["account"])
        and fnmatchcase(caller["role"], name)
    )


class InvalidEntitlements(ValueError):
    """The document does not validate; the message says where, never what a caller sent."""


def parse_entitlements(raw: str) -> Entitlements:
    try:
        document = json.loads(raw)
    except ValueError:
        raise InvalidEntitlements("not JSON") from None
    if not isinstance(document, dict) or document.get("version") != 1:
        raise InvalidEntitlements('expected {"version": 1, "rules": [...]}')
    rules = document.get("rules")
    if not isinstance(rules, list) or set(document) != {"version", "rules"}:
        raise InvalidEntitlements('expected exactly the keys "version" and "rules" (a list)')
    return Entitlements(tuple(_parse_rule(number, rule) for number, rule in enumerate(rules)))


def _parse_rule(number: int, rule: object) -> Rule:
    where = f"rule {number}"
    if not isinstance(rule, dict) or set(rule) != _RULE_KEYS:
        raise InvalidEntitlements(
            f"{where}: needs exactly the keys {', '.join(sorted(_RULE_KEYS))}"
        )
    values = {}
    for key in sorted(_RULE_KEYS):
        items = rule[key]
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(i, str) and i for i in items)
        ):
            raise InvalidEntitlements(f"{where}: {key} must be a non-empty list of strings")
        values[key] = tuple(items)
    for principal in values["principals"]:
        if principal != "*" and not principal.startswith("arn:"):
            raise InvalidEntitlements(f"{where}: principals must be ARNs (wildcards allowed)")
    for region in values["regions"]:
        if not (_WILDCARDS & set(region)) and region not in REGIONS:
            raise InvalidEntitlements(f"{where}: regions must be {', '.join(REGIONS)} or patterns")
    return Rule(values["principals"], values["regions"], values["scopes"])


class EntitlementStore(ABC):
    @abstractmethod
    def get(self) -> Entitlements:
        """The current rules, or EntitlementsUnavailable (everything is refused)."""


class SsmEntitlementStore(EntitlementStore):
    """The parameter's text is read at most once per `max_age` seconds; the parsed rules are
    kept until that text changes, so a request does not validate the document again.

    Fails closed: a document that does not validate, or a parameter that is missing or denied,
    refuses everything at once (500 `entitlements_unavailable`). Only a transient SSM fault
    (throttling, 5xx, unreachable) keeps the rules last read for up to `grace_seconds`, logged
    and counted (`EntitlementsStale`), so a blip does not deny every caller; after that, 503
    `dependency_unavailable`."""

    def __init__(
        self,
        ssm: Any,  # a botocore SSM client
        parameter: str,
        max_age: int,
        grace_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ssm = ssm
        self._text: TtlCache[str, str] = TtlCache(max_age)  # the parameter's text
        self._parameter = parameter
        self._grace = grace_seconds
        self._clock = clock
        self._parsed: tuple[str, Entitlements] | None = None
        self._read_at = 0.0  # when the rules were last read (from SSM or Powertools' cache)

    def get(self) -> Entitlements:
        try:
            raw = self._read()
        except DependencyUnavailable as error:  # transient, or no time left in this request
            return self._within_grace(error)
        except DependencyError as error:  # missing or denied: fail closed
            raise self._unavailable(error.message) from None
        try:
            if self._parsed is None or self._parsed[0] != raw:
                self._parsed = (raw, parse_entitlements(raw))
        except InvalidEntitlements as problem:
            self._parsed = None
            raise self._unavailable(str(problem)) from None
        self._read_at = self._clock()
        return self._parsed[1]

    def _read(self) -> str:
        """The parameter's text: from SSM, or as read within the last `max_age` seconds."""
        now = self._clock()
        text = self._text.get(self._parameter, now)
        if text is None:
            with calling("SSM", self._parameter):
                answer = self._ssm.get_parameter(Name=self._parameter)
            text = str(answer["Parameter"]["Value"])
            self._text.put(self._parameter, text, now)
        return text

    def _within_grace(self, error: DependencyUnavailable) -> Entitlements:
        age = self._clock() - self._read_at
        if self._parsed is None or age > self._grace:
            raise error
        metrics.add_metric(name=Metric.ENTITLEMENTS_STALE, unit=MetricUnit.Count, value=1)
        logger.warning(
            "SSM unavailable; using the entitlements last read",
            extra={"parameter": self._parameter, "age_seconds": round(age), "grace": self._grace},
        )
        return self._parsed[1]

    def _unavailable(self, problem: str) -> EntitlementsUnavailable:
        logger.error(
            "entitlements unavailable: every token is refused until they are fixed",
            extra={"parameter": self._parameter, "problem": problem},
        )
        return EntitlementsUnavailable(
            f"the entitlements in {self._parameter!r} are unavailable ({problem}); "
            f"every token is refused until they are fixed"
        )


def authorize(
    entitlements: Entitlements, principal_arn: str | None, region: str, scope: str
) -> None:
    """Record the decision on the request's one log line (the audit trail: caller, region,
    scope, `entitled`); raise Forbidden unless a rule allows it."""
    allowed = entitlements.allows(principal_arn, region, scope)
    logger.append_keys(
        **{Field.CALLER: principal_arn, Field.REGION: region, Field.SCOPE: scope}, entitled=allowed
    )
    if not allowed:
        raise Forbidden(f"caller may not obtain scope {scope!r} in region {region!r}")
