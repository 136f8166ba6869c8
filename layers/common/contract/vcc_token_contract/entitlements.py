"""The entitlement rules: which caller may obtain which (region, scope), denied unless a rule
allows it. The service reads them from an SSM parameter (vcc_tokens.aws.entitlements), `vcc-token
admin explain` checks them, and the client's test double (vcc_token_client.testing) applies them.

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
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from vcc_token_contract.vcc import REGIONS

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


DECISIONS_KEPT = 4096  # (caller, region, scope) decisions remembered per set of rules


@dataclass(frozen=True)
class Entitlements:
    rules: tuple[Rule, ...]
    # The rules never change once parsed, so each decision is worked out once: a caller asks
    # for the same few keys over and over (bounded: forgotten all at once when full)
    _decisions: dict[tuple[str, str, str], bool] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def allows(self, principal_arn: str | None, region: str, scope: str) -> bool:
        if not principal_arn:
            return False
        asked = (principal_arn, region, scope)
        decision = self._decisions.get(asked)
        if decision is None:
            decision = any(rule.allows(principal_arn, region, scope) for rule in self.rules)
            if len(self._decisions) >= DECISIONS_KEPT:
                self._decisions.clear()
            self._decisions[asked] = decision
        return decision


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
