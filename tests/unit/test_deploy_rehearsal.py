"""The deploy rehearsal (checks/rehearsal, run by `make lint` through cfn-lint): each rule passes
the project's template and fails when the defect it stands for is seeded into a copy of it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file

from checks.rehearsal.first_deploy import translated
from checks.rehearsal.key_policy import self_granting_statements
from checks.rehearsal.sar import sar_capabilities, unnamed_capabilities, unsupported_by_sar
from iam.deployment import ROOT, load_sam_template

RULES = str(ROOT / "checks" / "rehearsal" / "rules")
Template = dict[str, Any]


def rehearse(template: Template, directory: Path) -> list[tuple[str, str]]:
    """(rule id, message) of every rehearsal rule that fails `template`, run as make lint does."""
    path = directory / "template.json"
    path.write_text(json.dumps(template), encoding="utf-8")
    matches = lint_file(path, config=ManualArgs(append_rules=[RULES], regions=["eu-west-1"]))
    return [(m.rule.id, m.message) for m in matches if m.rule.id.startswith("E91")]


def test_the_projects_template_passes_the_rehearsal(tmp_path: Path) -> None:
    assert rehearse(load_sam_template(), tmp_path) == []


def rule_assert(template: Template, rule: str) -> dict[str, Any]:
    assertion: dict[str, Any] = template["Rules"][rule]["Assertions"][0]
    return assertion


def join_in_rules(t: Template) -> None:  # what the template had: CloudFormation refuses it
    rule_assert(t, "PrivateApiNeedsEndpoints")["Assert"] = {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "VpcEndpointIds"}]}, ""]}]
    }


def if_in_rules(t: Template) -> None:
    rule_assert(t, "SomeoneMayInvoke")["Assert"] = {
        "Fn::If": [
            "HasAccounts",
            True,
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "AllowedOrganizationId"}, ""]}]},
        ]
    }


def condition_function_in_properties(t: Template) -> None:
    properties = t["Resources"]["TokenTable"]["Properties"]
    properties["DeletionProtectionEnabled"] = {"Fn::Equals": [{"Ref": "LogLevel"}, "DEBUG"]}


def rule_function_in_outputs(t: Template) -> None:
    t["Outputs"]["TokenTableName"]["Value"] = {"Fn::Contains": [["a"], "a"]}


def access_logs_on_by_default(t: Template) -> None:
    t["Parameters"]["EnableApiAccessLogs"]["Default"] = "true"


def execution_logs_on(t: Template) -> None:
    t["Resources"]["TokenApi"]["Properties"]["MethodSettings"] = [
        {"HttpMethod": "*", "ResourcePath": "/*", "LoggingLevel": "INFO"}
    ]


def reserved_concurrency_by_default(t: Template) -> None:
    t["Parameters"]["RefresherReservedConcurrency"]["Default"] = 1


def plural_minute(t: Template) -> None:  # what the template had: rate(1 minutes)
    rule = t["Resources"]["RefreshFunctionRenewal"]["Properties"]
    rule["ScheduleExpression"] = {"Fn::Sub": "rate(${RefreshRateMinutes} minutes)"}


def a_first_deploy_the_rules_refuse(t: Template) -> None:
    rule_assert(t, "SomeoneMayInvoke")["Assert"] = {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AllowedOrganizationId"}, ""]}]
    }


def scheduler_schedule(t: Template) -> None:  # what the template had
    t["Resources"]["Extra"] = {
        "Type": "AWS::Scheduler::Schedule",
        "Properties": {
            "ScheduleExpression": "rate(5 minutes)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": {"Fn::GetAtt": ["RefreshFunction", "Arn"]},
                "RoleArn": "arn:aws:iam::123456789012:role/x",
            },
        },
    }


def event_invoke_config(t: Template) -> None:  # what the template had (SAM makes the resource)
    t["Resources"]["RefreshFunction"]["Properties"]["EventInvokeConfig"] = {
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 600,
    }


def unconditional_sampling_rule(t: Template) -> None:  # SAR: unverified, so only conditional
    del t["Resources"]["TracingSamplingRule"]["Condition"]


def create_star_for_administrators(t: Template) -> None:  # what the template had
    statements = t["Resources"]["TokenKey"]["Properties"]["KeyPolicy"]["Statement"]
    statements[0]["Action"] = ["kms:Create*", *statements[0]["Action"][1:]]


def sub_in_conditions(t: Template) -> None:
    t["Conditions"]["IsPrivateApi"] = {"Fn::Equals": [{"Fn::Sub": "${EndpointType}"}, "PRIVATE"]}


def not_action_for_administrators(t: Template) -> None:  # every action but those listed
    statement = t["Resources"]["TokenKey"]["Properties"]["KeyPolicy"]["Statement"][0]
    statement["NotAction"] = ["kms:Decrypt", "kms:Encrypt"]
    del statement["Action"]


def retry_policy_on_the_schedule_event(t: Template) -> None:  # what the template had (SAR)
    t["Resources"]["RefreshFunction"]["Properties"]["Events"] = {
        "Nightly": {
            "Type": "Schedule",
            "Properties": {
                "Schedule": "rate(5 minutes)",
                "RetryPolicy": {"MaximumRetryAttempts": 2},
            },
        }
    }


def dashboard_named_by_stack_only(t: Template) -> None:  # what the template had
    t["Resources"]["OperationsDashboard"]["Properties"]["DashboardName"] = {
        "Fn::Sub": "${AWS::StackName}-tokens"
    }


def fixed_table_name(t: Template) -> None:
    t["Resources"]["TokenTable"]["Properties"]["TableName"] = "vcc-tokens"


def retained_log_group(t: Template) -> None:
    t["Resources"]["VendFunctionLogGroup"]["DeletionPolicy"] = "Retain"


def sampling_rule_named_by_stack(t: Template) -> None:  # conditional: Tracing=Active only
    rule = t["Resources"]["TracingSamplingRule"]["Properties"]["SamplingRule"]
    rule["RuleName"] = {"Fn::Sub": "${AWS::StackName}-api"}


SEEDED: dict[str, tuple[Callable[[Template], None], str, str]] = {
    "Fn::Join in Rules": (join_in_rules, "E9101", "Rules do not accept Fn::Join"),
    "Fn::If in Rules": (if_in_rules, "E9101", "Rules do not accept Fn::If"),
    "Fn::Equals in properties": (
        condition_function_in_properties,
        "E9101",
        "resource properties do not accept Fn::Equals",
    ),
    "Fn::Contains in Outputs": (
        rule_function_in_outputs,
        "E9101",
        "Outputs do not accept Fn::Contains",
    ),
    "access logs on by default": (access_logs_on_by_default, "E9102", "logging role"),
    "execution logs": (execution_logs_on, "E9102", "logging role"),
    "reserved concurrency": (reserved_concurrency_by_default, "E9102", "reserves 1 executions"),
    "rate(1 minutes)": (plural_minute, "E9102", "'rate(1 minutes)'"),
    "Rules refuse a first deploy": (a_first_deploy_the_rules_refuse, "E9102", "are refused"),
    "AWS::Scheduler::Schedule": (scheduler_schedule, "E9103", "AWS::Scheduler::Schedule is not"),
    "EventInvokeConfig": (event_invoke_config, "E9103", "AWS::Lambda::EventInvokeConfig is not"),
    "kms:Create*": (create_star_for_administrators, "E9104", "allows kms:CreateGrant"),
    "Fn::Sub in Conditions": (sub_in_conditions, "E9101", "Conditions do not accept Fn::Sub"),
    "NotAction for administrators": (
        not_action_for_administrators,
        "E9104",
        "allows kms:CreateGrant",
    ),
    "RetryPolicy on a Schedule event": (
        retry_policy_on_the_schedule_event,
        "E9103",
        "refused RetryPolicy on a Schedule event",
    ),
    "dashboard named by the stack only": (
        dashboard_named_by_stack_only,
        "E9105",
        "the same stack name in us-east-1",
    ),
    "a fixed table name": (fixed_table_name, "E9105", "a second stack in the region"),
    "a retained log group with a name": (retained_log_group, "E9105", "outlives its stack"),
    "a sampling rule named by the stack": (
        sampling_rule_named_by_stack,
        "E9105",
        "over AWS's 32",
    ),
    "an unverified type by default": (
        unconditional_sampling_rule,
        "E9103",
        "AWS::XRay::SamplingRule is not",
    ),
}


@pytest.mark.parametrize("defect", list(SEEDED))
def test_each_rule_fails_the_defect_it_stands_for(defect: str, tmp_path: Path) -> None:
    # Given the project's template with one defect seeded
    seed, rule, words = SEEDED[defect]
    template = copy.deepcopy(load_sam_template())
    seed(template)
    # When rehearsed
    found = rehearse(template, tmp_path)
    # Then the rule for that defect fails it, naming it, and no other rehearsal rule does
    assert any(rule_id == rule and words in message for rule_id, message in found), found
    assert {rule_id for rule_id, _ in found} == {rule}, found


def test_the_deploy_docs_and_samconfig_name_every_capability(tmp_path: Path) -> None:
    cfn = translated(load_sam_template())
    # SAR asks for both: IAM roles and policies, and resource policies (Lambda, SQS)
    assert sar_capabilities(cfn) == {"CAPABILITY_IAM", "CAPABILITY_RESOURCE_POLICY"}
    assert unnamed_capabilities(cfn, ROOT) == []
    # and a deploy page that forgets one is caught
    (tmp_path / "docs").mkdir()
    (tmp_path / "samconfig.toml").write_bytes((ROOT / "samconfig.toml").read_bytes())
    (tmp_path / "docs" / "deploying.md").write_text("sam deploy --capabilities CAPABILITY_IAM")
    missing = [finding.message for finding in unnamed_capabilities(cfn, tmp_path)]
    assert missing == ["docs/deploying.md does not name CAPABILITY_RESOURCE_POLICY"]


def test_an_unverified_sar_type_passes_only_while_the_deploy_docs_say_so(tmp_path: Path) -> None:
    cfn = translated(load_sam_template())
    assert unsupported_by_sar(cfn, ROOT) == []
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "deploying.md").write_text("nothing said about SAR")
    (found,) = unsupported_by_sar(cfn, tmp_path)
    assert found.message.startswith("AWS::XRay::SamplingRule is not on SAR's list")


def test_a_key_policys_condition_keys_are_read_in_any_case() -> None:
    # IAM compares condition key names case-insensitively: a service-bound grant written in
    # lower case is bound all the same, and the same statement unbound is reported
    sam = load_sam_template()
    key = copy.deepcopy(sam["Resources"]["TokenKey"])
    key["Properties"]["KeyPolicy"]["Statement"] = [
        {
            "Sid": "DynamoDbGrants",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:viaservice": "dynamodb.eu-west-1.amazonaws.com"}},
        }
    ]
    assert self_granting_statements({"Resources": {"TokenKey": key}}) == []
    del key["Properties"]["KeyPolicy"]["Statement"][0]["Condition"]
    (found,) = self_granting_statements({"Resources": {"TokenKey": key}})
    assert "DynamoDbGrants allows kms:CreateGrant" in found.message


def test_a_grant_condition_that_must_be_false_binds_nothing() -> None:
    sam = load_sam_template()
    key = copy.deepcopy(sam["Resources"]["TokenKey"])
    statement = {
        "Sid": "Grants",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "false"}},
    }
    key["Properties"]["KeyPolicy"]["Statement"] = [statement]
    (found,) = self_granting_statements({"Resources": {"TokenKey": key}})
    assert "Grants allows kms:CreateGrant" in found.message
    statement["Condition"] = {"Bool": {"kms:grantisforawsresource": True}}
    assert self_granting_statements({"Resources": {"TokenKey": key}}) == []
