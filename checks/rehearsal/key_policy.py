"""A KMS key policy must not let anyone grant themselves use of the key: kms:CreateGrant (also
through kms:Create* or kms:*) without a condition that ties the grant to an AWS service
(kms:GrantIsForAWSResource, kms:ViaService) gives its holder every cryptographic use.
(KMS Developer Guide, "Grants in AWS KMS"; "Default key policy".)
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
            actions = statement.get("Action", [])
            actions = actions if isinstance(actions, list) else [actions]
            grants = any(fnmatchcase("kms:creategrant", str(a).lower()) for a in actions)
            conditions = statement.get("Condition", {})
            keys = {key for operator in conditions.values() for key in operator}
            if statement.get("Effect") == "Allow" and grants and not keys & set(SERVICE_BOUND):
                found.append(
                    Finding(
                        ("Resources", logical_id, "Properties", "KeyPolicy", "Statement", number),
                        f"statement {statement.get('Sid', number)} allows kms:CreateGrant with no "
                        f"{' or '.join(SERVICE_BOUND)} condition: its principals can grant "
                        "themselves use of the key",
                    )
                )
    return found
