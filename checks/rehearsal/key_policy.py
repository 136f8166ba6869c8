"""A KMS key policy must not let anyone grant themselves use of the key: kms:CreateGrant (also
through kms:Create* or kms:*) without a condition that ties the grant to an AWS service
(kms:GrantIsForAWSResource, kms:ViaService) gives its holder every cryptographic use.
A statement written with NotAction grants every action it does not list. (KMS Developer Guide,
"Grants in AWS KMS"; "Default key policy"; IAM User Guide, "IAM JSON policy elements: NotAction",
"Condition": condition key names are not case-sensitive.)
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from checks.rehearsal import Finding

SERVICE_BOUND = ("kms:GrantIsForAWSResource", "kms:ViaService")


def self_granting_statements(cfn: dict[str, Any]) -> list[Finding]:
    found = []
    for logical_id, resource in (cfn.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::KMS::Key":
            continue
        statements = resource.get("Properties", {}).get("KeyPolicy", {}).get("Statement", [])
        for number, statement in enumerate(statements if isinstance(statements, list) else []):
            if statement.get("Effect") == "Allow" and _grants(statement) and not _bound(statement):
                found.append(
                    Finding(
                        ("Resources", logical_id, "Properties", "KeyPolicy", "Statement", number),
                        f"statement {statement.get('Sid', number)} allows kms:CreateGrant with no "
                        f"{' or '.join(SERVICE_BOUND)} condition: its principals can grant "
                        "themselves use of the key",
                    )
                )
    return found


def _grants(statement: dict[str, Any]) -> bool:
    """Whether the statement's actions include kms:CreateGrant: one of Action's patterns matches
    it, or none of NotAction's does. IAM matches action names case-insensitively."""
    if "NotAction" in statement:
        return not _matches_create_grant(statement["NotAction"])
    return _matches_create_grant(statement.get("Action", []))


def _matches_create_grant(patterns: Any) -> bool:
    patterns = patterns if isinstance(patterns, list) else [patterns]
    return any(fnmatchcase("kms:creategrant", str(pattern).lower()) for pattern in patterns)


def _bound(statement: dict[str, Any]) -> bool:
    """Whether a condition ties the statement to an AWS service. Condition keys are
    case-insensitive in IAM ("kms:viaservice" is kms:ViaService)."""
    conditions = statement.get("Condition") or {}
    for values in conditions.values():
        for key, value in (values if isinstance(values, dict) else {}).items():
            if str(key).lower() == "kms:viaservice":
                return True
            # kms:GrantIsForAWSResource binds only when it must be true ("false" binds nothing)
            if str(key).lower() == "kms:grantisforawsresource" and str(value).lower() == "true":
                return True
    return False
