"""Intrinsic functions each template section accepts, as the CloudFormation User Guide documents
them ("Rule functions", "Condition functions", "Intrinsic function reference"). CloudFormation
refuses any other when the change set is created ("Template format error: Following functions
are not supported in the Rules block of the template"); cfn-lint 1.58 accepts some of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from checks.rehearsal import Finding

RULE_FUNCTIONS = frozenset(
    {
        "Ref",
        "Fn::And",
        "Fn::Contains",
        "Fn::EachMemberEquals",
        "Fn::EachMemberIn",
        "Fn::Equals",
        "Fn::Not",
        "Fn::Or",
        "Fn::RefAll",
        "Fn::ValueOf",
        "Fn::ValueOfAll",
    }
)
# The Conditions page lists the condition functions, Ref and Fn::FindInMap; Fn::Join, Fn::Select
# and Fn::Split work there too (cfn-lint #881; the template's HasAccounts needs Fn::Join to test
# a list parameter for emptiness). Fn::Sub is on neither list.
CONDITION_FUNCTIONS = frozenset(
    {
        "Condition",
        "Ref",
        "Fn::And",
        "Fn::Equals",
        "Fn::If",
        "Fn::Not",
        "Fn::Or",
        "Fn::FindInMap",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
    }
)
# Resource properties and outputs: the intrinsic functions, none of the condition or rule ones
# (those live in Conditions and Rules; Fn::If names a condition instead).
PROPERTY_FUNCTIONS = frozenset(
    {
        "Ref",
        "Fn::Base64",
        "Fn::Cidr",
        "Fn::FindInMap",
        "Fn::GetAtt",
        "Fn::GetAZs",
        "Fn::If",
        "Fn::ImportValue",
        "Fn::Join",
        "Fn::Length",
        "Fn::Select",
        "Fn::Split",
        "Fn::Sub",
        "Fn::ToJsonString",
        "Fn::Transform",
    }
)
SOURCE = "CloudFormation User Guide, intrinsic function reference"


def misplaced_functions(template: dict[str, Any]) -> list[Finding]:
    """Every function used in a section that does not accept it."""
    found = []
    for name, rule in _items(template.get("Rules")):
        parts = [("RuleCondition", rule.get("RuleCondition"))] if "RuleCondition" in rule else []
        for number, assertion in enumerate(rule.get("Assertions") or []):
            parts.append((f"Assertions/{number}/Assert", (assertion or {}).get("Assert")))
        for where, node in parts:
            found += _refused(node, ("Rules", name, *where.split("/")), RULE_FUNCTIONS, "Rules")
    for name, condition in _items(template.get("Conditions")):
        found += _refused(condition, ("Conditions", name), CONDITION_FUNCTIONS, "Conditions")
    for name, output in _items(template.get("Outputs")):
        found += _refused(output, ("Outputs", name), PROPERTY_FUNCTIONS, "Outputs")
    for name, resource in _items(template.get("Resources")):
        properties = resource.get("Properties")
        path = ("Resources", name, "Properties")
        found += _refused(properties, path, PROPERTY_FUNCTIONS, "resource properties")
    return found


def _items(section: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(section, dict):
        yield from ((name, value) for name, value in section.items() if isinstance(value, dict))


def _refused(
    node: Any, path: tuple[str | int, ...], allowed: frozenset[str], section: str
) -> list[Finding]:
    found = []
    for where, function in _functions(node, path, counts_condition=section in {"Rules"}):
        if function not in allowed:
            listed = ", ".join(sorted(allowed))
            message = f"{section} do not accept {function} (only {listed}): {SOURCE}"
            found.append(Finding(where, message))
    return found


def _functions(
    node: Any, path: tuple[str | int, ...], counts_condition: bool
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, name) of every intrinsic function in `node`. A one-key {"Condition": ...} is a
    function only where it cannot be anything else (Rules); elsewhere it is, for instance, an
    IAM statement's Condition."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _functions(item, (*path, index), counts_condition)
    elif isinstance(node, dict):
        for key, value in node.items():
            is_function = key == "Ref" or key.startswith("Fn::")
            if len(node) == 1 and (is_function or (key == "Condition" and counts_condition)):
                yield (*path, key), key
            yield from _functions(value, (*path, key), counts_condition)
