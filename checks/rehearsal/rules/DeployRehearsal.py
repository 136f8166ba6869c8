"""cfn-lint rules of the deploy rehearsal (checks/rehearsal): `make lint` appends them with
`cfn-lint --append-rules checks/rehearsal/rules`. Each wraps one plain check."""

from __future__ import annotations

from pathlib import Path

from cfnlint.rules import CloudFormationLintRule, RuleMatch
from cfnlint.template import Template

from checks.rehearsal import Finding
from checks.rehearsal.first_deploy import fresh_account_failures, translated
from checks.rehearsal.key_policy import self_granting_statements
from checks.rehearsal.sar import unnamed_capabilities, unsupported_by_sar
from checks.rehearsal.sections import misplaced_functions
from iam.deployment import ROOT, load_sam_template

GUIDE = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/"


def _matches(findings: list[Finding]) -> list[RuleMatch]:
    return [RuleMatch(list(finding.path), finding.message) for finding in findings]


class FunctionsPerSection(CloudFormationLintRule):
    id = "E9101"
    shortdesc = "Intrinsic functions each section accepts"
    description = "Rules, Conditions, Outputs and resource properties accept different functions"
    source_url = GUIDE + "intrinsic-function-reference-rules.html"
    tags = ["rehearsal"]

    def match(self, cfn: Template) -> list[RuleMatch]:
        return _matches(misplaced_functions(cfn.template))


class FreshAccount(CloudFormationLintRule):
    id = "E9102"
    shortdesc = "The defaults deploy in a brand-new account"
    description = "Rules pass, no logging role, no reserved concurrency, valid schedules"
    source_url = "docs/deploying.md"
    tags = ["rehearsal"]

    def match(self, cfn: Template) -> list[RuleMatch]:
        return _matches(fresh_account_failures(load_sam_template(Path(cfn.filename))))


class ServerlessApplicationRepository(CloudFormationLintRule):
    id = "E9103"
    shortdesc = "Resource types SAR supports, capabilities named"
    description = "Every resource type is on SAR's list; the deploy docs name every capability"
    source_url = (
        "https://docs.aws.amazon.com/serverlessrepo/latest/devguide/list-supported-resources.html"
    )
    tags = ["rehearsal"]

    def match(self, cfn: Template) -> list[RuleMatch]:
        sam = translated(load_sam_template(Path(cfn.filename)))
        return _matches(unsupported_by_sar(sam, ROOT) + unnamed_capabilities(sam, ROOT))


class KeyAdministratorsCannotGrant(CloudFormationLintRule):
    id = "E9104"
    shortdesc = "No key policy lets a principal grant itself use of the key"
    description = "kms:CreateGrant only with kms:GrantIsForAWSResource or kms:ViaService"
    source_url = "https://docs.aws.amazon.com/kms/latest/developerguide/grants.html"
    tags = ["rehearsal"]

    def match(self, cfn: Template) -> list[RuleMatch]:
        return _matches(self_granting_statements(cfn.template))
