"""Names that stop a second stack, a second region or a redeploy.

A name the template gives a resource must be unique where AWS keeps it: in the region (a table,
a log group, an alarm), in the whole account (a dashboard, IAM names: "All dashboards in your
account are global"), and it must fit AWS's limit for every stack name CloudFormation allows
(1 to 128 characters). A retained resource with a name outlives its stack, so deleting the stack
and deploying it again fails on that name ("already exists").

The translated template is resolved for three stacks (one, a second in its region, the first's
name in a second region) and the longest stack name, with the defaults and each allowed value of
each parameter (so a conditional resource is named too).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from checks.rehearsal import Finding
from iam.deployment import Deployment, Stack, resolve

REGION, ACCOUNT = "the region", "the account"
Parameters = dict[str, str | list[str]]


@dataclass(frozen=True)
class Named:
    path: tuple[str, ...]  # the property that names the resource, under Properties
    scope: str  # where AWS keeps the name unique
    limit: int  # AWS's maximum length


# Each type's name property, where its name is unique, and its maximum length (each service's
# API reference: CreateTable, CreateLogGroup, PutMetricAlarm, PutDashboard, CreateQueue,
# CreateTopic, CreateFunction, CreateAlias, PutParameter, PutRule, CreateSecret,
# CreateSamplingRule, CreateRole/Policy/User/Group/InstanceProfile). A layer's name is left
# out: two stacks publishing versions of one layer name do not collide.
NAMED = {
    "AWS::DynamoDB::Table": Named(("TableName",), REGION, 255),
    "AWS::Logs::LogGroup": Named(("LogGroupName",), REGION, 512),
    "AWS::CloudWatch::Alarm": Named(("AlarmName",), REGION, 255),
    "AWS::SQS::Queue": Named(("QueueName",), REGION, 80),
    "AWS::SNS::Topic": Named(("TopicName",), REGION, 256),
    "AWS::Lambda::Function": Named(("FunctionName",), REGION, 64),
    "AWS::KMS::Alias": Named(("AliasName",), REGION, 256),
    "AWS::SSM::Parameter": Named(("Name",), REGION, 1011),
    "AWS::Events::Rule": Named(("Name",), REGION, 64),
    "AWS::SecretsManager::Secret": Named(("Name",), REGION, 512),
    "AWS::XRay::SamplingRule": Named(("SamplingRule", "RuleName"), REGION, 32),
    "AWS::CloudWatch::Dashboard": Named(("DashboardName",), ACCOUNT, 255),
    "AWS::IAM::Role": Named(("RoleName",), ACCOUNT, 64),
    "AWS::IAM::ManagedPolicy": Named(("ManagedPolicyName",), ACCOUNT, 128),
    "AWS::IAM::User": Named(("UserName",), ACCOUNT, 64),
    "AWS::IAM::Group": Named(("GroupName",), ACCOUNT, 128),
    "AWS::IAM::InstanceProfile": Named(("InstanceProfileName",), ACCOUNT, 128),
    "AWS::S3::Bucket": Named(("BucketName",), ACCOUNT, 63),  # global, so the account's too
}
FIRST = Stack(name="vcc-token-vending", region="eu-west-1")
OTHERS = (
    (Stack(name="vcc-token-vending-b", region="eu-west-1"), "a second stack in the region"),
    (Stack(name="vcc-token-vending", region="us-east-1"), "the same stack name in us-east-1"),
)
LONGEST = Stack(name="s" * 128)
RETAINED = {"Retain", "RetainExceptOnCreate"}


def blocking_names(cfn: dict[str, Any], tried: Iterable[Parameters]) -> list[Finding]:
    """What a translated template's names would refuse, with each set of parameter values
    `tried`: a second stack in the region, the same stack name in a second region, the longest
    stack name, a redeploy after a delete."""
    found = _retained(cfn)
    for parameters in tried:
        taken = {(logical_id, name) for logical_id, name, _ in names_of(cfn, FIRST, parameters)}
        for other, whose in OTHERS:
            for logical_id, name, named in names_of(cfn, other, parameters):
                same_region = other.region == FIRST.region
                if (logical_id, name) in taken and (same_region or named.scope == ACCOUNT):
                    found.append(
                        Finding(
                            _where(cfn, logical_id, named),
                            f"{name!r} is unique only in {named.scope}, and {whose} "
                            f"({other.name} in {other.region}) names it the same: put the "
                            "stack name (and, for an account-wide name, the region) in it",
                        )
                    )
        for logical_id, name, named in names_of(cfn, LONGEST, parameters):
            if len(name) > named.limit:
                found.append(
                    Finding(
                        _where(cfn, logical_id, named),
                        "with a 128-character stack name (CloudFormation allows 1 to 128) the "
                        f"name is {len(name)} characters, over AWS's {named.limit}",
                    )
                )
    return list(dict.fromkeys(found))


def names_of(
    cfn: dict[str, Any], stack: Stack, parameters: Parameters
) -> Iterator[tuple[str, str, Named]]:
    deployment: Deployment = resolve(cfn, stack, parameters)
    for logical_id, resource in deployment.resources.items():
        named = NAMED.get(resource["Type"])
        value: Any = resource["Properties"]
        for key in named.path if named else ():
            value = value.get(key) if isinstance(value, dict) else None
        if named and isinstance(value, str):
            yield logical_id, value, named


def _retained(cfn: dict[str, Any]) -> list[Finding]:
    found = []
    for logical_id, resource in cfn.get("Resources", {}).items():
        named = NAMED.get(resource.get("Type", ""))
        properties = resource.get("Properties") or {}
        if named and named.path[0] in properties and resource.get("DeletionPolicy") in RETAINED:
            found.append(
                Finding(
                    ("Resources", logical_id, "DeletionPolicy"),
                    f"a retained resource with a name ({'.'.join(named.path)}) outlives its "
                    "stack: deleting the stack and deploying it again fails on that name; "
                    "retain it unnamed, or name it and let it go with the stack",
                )
            )
    return found


def _where(cfn: dict[str, Any], logical_id: str, named: Named) -> tuple[str, ...]:
    in_template = logical_id in cfn.get("Resources", {})
    return ("Resources", logical_id, "Properties", *named.path) if in_template else ("Resources",)
