"""cfn-lint rules of the deploy rehearsal (checks/rehearsal): `make lint` appends them with
`cfn-lint --append-rules checks/rehearsal/rules`. Each wraps one plain check."""

from __future__ import annotations

from pathlib import Path

from cfnlint.rules import CloudFormationLintRule, RuleMatch
from cfnlint.template import Template

from checks.rehearsal import Finding
from checks.rehearsal.first_deploy import (
    FIRST_DEPLOY,
    every_allowed_value,
    fresh_account_failures,
    translated,
)
from checks.rehearsal.key_policy import self_granting_statements
from checks.rehearsal.names import blocking_names
from checks.rehearsal.sar import refused_schedule_options, unnamed_capabilities, unsupported_by_sar
from checks.rehearsal.sections import misplaced_functions
from iam.deployment import ROOT, Stack, load_sam_template, parameter_values

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
    description = (
        "Every resource type is on SAR's list; no Schedule event option SAR refused; "
        "the deploy docs name every capability"
    )
    source_url = (
        "https://docs.aws.amazon.com/serverlessrepo/latest/devguide/list-supported-resources.html"
    )
    tags = ["rehearsal"]

    def match(self, cfn: Template) -> list[RuleMatch]:
        sam = load_sam_template(Path(cfn.filename))
        translation = translated(sam)
        return _matches(
            unsupported_by_sar(translation, ROOT)
            + unnamed_capabilities(translation, ROOT)
            + refused_schedule_options(sam)
        )


class KeyAdministratorsCannotGrant(CloudFormationLintRule):
    id = "E9104"
    shortdesc = "No key policy lets a principal grant itself use of the key"
    description = "kms:CreateGrant only with kms:GrantIsForAWSResource or kms:ViaService"
    source_url = "https://docs.aws.amazon.com/kms/latest/developerguide/grants.html"
    tags = ["rehearsal"]

    def match(self, cfn: Template) -> list[RuleMatch]:
        return _matches(self_granting_statements(cfn.template))


class NamesBlockNoSecondStack(CloudFormationLintRule):
    id = "E9105"
    shortdesc = "Names let a second stack, a second region and a redeploy in"
    description = (
        "Names unique where AWS keeps them (region, account), within AWS's length for a "
        "128-character stack name, and no retained resource with a name"
    )
    source_url = GUIDE + "aws-attribute-deletionpolicy.html"
    tags = ["rehearsal"]

    def match(self, cfn: Template) -> list[RuleMatch]:
        sam = load_sam_template(Path(cfn.filename))
        first_deploy = parameter_values(sam, Stack(parameters=FIRST_DEPLOY))
        return _matches(blocking_names(translated(sam), every_allowed_value(sam, first_deploy)))
