"""template.yaml as one deployment would have it: translated by samtranslator (SAM's own
transform, so its policy expansions, roles, Lambda permissions and the API's resource policy are
the ones AWS gets), then every intrinsic function resolved for a given account, region, stack
name and parameter values, with physical names made the way CloudFormation makes them.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
NO_VALUE = object()  # AWS::NoValue: the property or list element disappears
MAX_ROLE_NAME = 64  # CloudFormation shortens generated role names to fit


# The AWS-managed policies whose grants the proof evaluates (the AWS Managed Policy Reference's
# documents, read 2026-12-05): SAM attaches AWSXrayWriteOnlyAccess to the functions' roles when
# Tracing is Active. AWS's own grants are not trimmed by the project, so they are evaluated but
# never counted as unused; the rest (AWSLambdaBasicExecutionRole) stays Lambda's business.
AWS_MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    "AWSXrayWriteOnlyAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:GetSamplingStatisticSummaries",
                ],
                "Resource": ["*"],
            }
        ],
    }
}


# What CloudFormation names a resource of each type: its Ref and attributes, from the
# generated name ({name}), the stack's account and region, and ids derived from the name.
NAMES_BY_TYPE: dict[str, dict[str, str]] = {
    "AWS::IAM::Role": {"Ref": "{name}", "Arn": "{prefix}:iam::{account}:role/{name}"},
    "AWS::IAM::ManagedPolicy": {"Ref": "{prefix}:iam::{account}:policy/{name}"},
    "AWS::DynamoDB::Table": {
        "Ref": "{name}",
        "Arn": "{prefix}:dynamodb:{region}:{account}:table/{name}",
    },
    "AWS::Lambda::Function": {
        "Ref": "{name}",
        "Arn": "{prefix}:lambda:{region}:{account}:function:{name}",
    },
    "AWS::SQS::Queue": {
        "Ref": "https://sqs.{region}.{suffix}/{account}/{name}",
        "Arn": "{prefix}:sqs:{region}:{account}:{name}",
        "QueueName": "{name}",
    },
    "AWS::ApiGateway::RestApi": {"Ref": "{short_id}", "RootResourceId": "root"},
    "AWS::Logs::LogGroup": {
        "Ref": "{name}",
        "Arn": "{prefix}:logs:{region}:{account}:log-group:{name}:*",
    },
    "AWS::CloudWatch::Alarm": {
        "Ref": "{name}",
        "Arn": "{prefix}:cloudwatch:{region}:{account}:alarm:{name}",
    },
    "AWS::Events::Rule": {"Ref": "{name}", "Arn": "{prefix}:events:{region}:{account}:rule/{name}"},
    "AWS::KMS::Key": {
        "Ref": "{key_id}",
        "Arn": "{prefix}:kms:{region}:{account}:key/{key_id}",
        "KeyId": "{key_id}",
    },
}
UNKNOWN_TYPE_NAMES = {"Ref": "{name}", "Arn": "{prefix}:unknown:::{name}"}


class TemplateError(Exception):
    """The template uses something this expansion cannot resolve (the proof fails closed)."""


@dataclass(frozen=True)
class Stack:
    account: str = "123456789012"
    region: str = "eu-west-1"
    name: str = "vcc-token-vending"
    parameters: dict[str, str] = field(default_factory=dict)
    organization: str | None = None  # the account's AWS Organization, if it belongs to one


def load_sam_template(path: Path = TEMPLATE) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    template: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    return template


@dataclass
class Deployment:
    """One stack's resources, with every value resolved."""

    stack: Stack
    resources: dict[str, dict[str, Any]]  # logical id -> {"Type", "Properties"}
    physical: dict[str, dict[str, str]]  # logical id -> {"Ref": ..., "Arn": ..., ...}
    outputs: dict[str, Any]  # output name -> its value
    parameters: dict[str, str | list[str]]

    def arn(self, logical_id: str) -> str:
        return self.physical[logical_id]["Arn"]

    def ref(self, logical_id: str) -> str:
        return self.physical[logical_id]["Ref"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource["Properties"]
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    def managed_policy(self, arn: str) -> dict[str, Any] | None:
        """A customer-managed policy of this stack by ARN (None for an AWS-managed one)."""
        for logical_id, properties in self.of_type("AWS::IAM::ManagedPolicy").items():
            if self.ref(logical_id) == arn:
                document: dict[str, Any] = properties["PolicyDocument"]
                return document
        if arn.startswith(f"arn:{PARTITION}:iam::aws:policy/"):
            return None
        raise TemplateError(f"role attaches {arn}, which is neither this stack's nor AWS's")


def expand(template: dict[str, Any], stack: Stack) -> Deployment:
    """`template` (SAM) translated and resolved for `stack`."""
    parameters = parameter_values(template, stack)
    return resolve(translate(template, stack, parameters), stack, parameters)


def resolve(
    cfn: dict[str, Any], stack: Stack, parameters: dict[str, str | list[str]]
) -> Deployment:
    """A translated template (CloudFormation, no SAM) resolved for `stack` and `parameters`;
    one translation can be resolved for many parameter values."""
    resolver = _Resolver(stack, parameters, cfn)
    resources = {}
    for logical_id, resource in cfn["Resources"].items():
        condition = resource.get("Condition")
        if condition and not resolver.condition(condition):
            continue
        resolved = resolver.value(resource.get("Properties", {}))
        resources[logical_id] = {"Type": resource["Type"], "Properties": resolved}
    outputs = {
        name: resolver.value(output["Value"]) for name, output in cfn.get("Outputs", {}).items()
    }
    return Deployment(stack, resources, resolver.physical, outputs, parameters)


def parameter_values(template: dict[str, Any], stack: Stack) -> dict[str, str | list[str]]:
    """Every parameter's value for `stack` (its override, else the default), lists split."""
    values: dict[str, str | list[str]] = {}
    for name, spec in template.get("Parameters", {}).items():
        value = str(stack.parameters.get(name, spec.get("Default", "")))
        values[name] = value.split(",") if spec["Type"] == "CommaDelimitedList" else value
    return values


def translate(
    template: dict[str, Any], stack: Stack, parameters: dict[str, str | list[str]]
) -> dict[str, Any]:
    """SAM's own transform of `template`, as CloudFormation would get it."""
    from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(template)
    for resource in sam["Resources"].values():  # as `sam package` leaves them
        properties = resource.get("Properties", {})
        for name in ("CodeUri", "ContentUri"):
            if name in properties:
                properties[name] = f"s3://artifacts/{name}"
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = stack.region  # samtranslator's pseudo parameters
    try:
        metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
        translated: dict[str, Any] = Translator(None, Parser(), metrics=metrics).translate(
            sam,
            parameter_values=dict(parameters),
            get_managed_policy_map=dict,  # only ARNs are used: nothing is looked up in IAM
        )
        metrics.publish()  # to nobody (else samtranslator complains when it is collected)
    finally:
        if previous is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous
    return translated


def generated_name(stack_name: str, logical_id: str, limit: int = MAX_ROLE_NAME) -> str:
    """`<stack>-<LogicalId>-<SUFFIX>`, the stack and logical id cut to fit `limit`, as
    CloudFormation names what the template does not name."""
    suffix = hashlib.sha256(f"{stack_name}/{logical_id}".encode()).hexdigest()[:12].upper()
    room = limit - len(suffix) - 2
    stack_part = stack_name[: max(room - len(logical_id), room // 2)]
    logical_part = logical_id[: room - len(stack_part)]
    return f"{stack_part}-{logical_part}-{suffix}"


class _Resolver:
    def __init__(
        self, stack: Stack, parameters: dict[str, str | list[str]], cfn: dict[str, Any]
    ) -> None:
        self.stack = stack
        self.conditions = cfn.get("Conditions", {})
        self.pseudo = {
            "AWS::AccountId": stack.account,
            "AWS::Region": stack.region,
            "AWS::StackName": stack.name,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{stack.region}:{stack.account}:stack/"
            f"{stack.name}/{_uuid_like(stack.name)}",
        }
        self.parameters = parameters
        self.physical = {
            logical_id: self._names(logical_id, resource["Type"])
            for logical_id, resource in cfn["Resources"].items()
        }
        for logical_id, resource in cfn["Resources"].items():  # alarms the template names
            name = resource.get("Properties", {}).get("AlarmName")
            if resource["Type"] == "AWS::CloudWatch::Alarm" and name:
                name = self.value(name)
                arn = f"arn:{PARTITION}:cloudwatch:{stack.region}:{stack.account}:alarm:{name}"
                self.physical[logical_id] = {"Ref": name, "Arn": arn}

    def _names(self, logical_id: str, resource_type: str) -> dict[str, str]:
        name = generated_name(self.stack.name, logical_id)
        fields = {
            "name": name,
            "account": self.stack.account,
            "region": self.stack.region,
            "prefix": f"arn:{PARTITION}",
            "suffix": URL_SUFFIX,
            "short_id": _short_id(name),
            "key_id": _uuid_like(name),
        }
        names = NAMES_BY_TYPE.get(resource_type, UNKNOWN_TYPE_NAMES)
        return {attribute: form.format(**fields) for attribute, form in names.items()}

    def condition(self, name: str) -> bool:
        return bool(self.value(self.conditions[name]))

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.value(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((name, argument),) = node.items()
            if name == "Ref" or name.startswith("Fn::") or name == "Condition":
                return self._function(name, argument)
        resolved = {key: self.value(item) for key, item in node.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _function(self, name: str, argument: Any) -> Any:
        if name == "Ref":
            return self._ref(argument)
        if name == "Condition":
            return self.condition(argument)
        if name == "Fn::GetAtt":
            logical_id, attribute = (
                argument if isinstance(argument, list) else argument.split(".", 1)
            )
            return self.physical[logical_id][attribute]
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self.value(when_true if self.condition(condition) else when_false)
        if name == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            values = {key: self.value(item) for key, item in variables.items()}
            return re.sub(
                r"\$\{([^}!]+)\}", lambda m: str(self._variable(m.group(1), values)), text
            )
        simple: dict[str, Callable[[Any], Any]] = {
            "Fn::Join": lambda a: a[0].join(self.value(a[1])),
            "Fn::Split": lambda a: self.value(a[1]).split(a[0]),
            "Fn::Select": lambda a: self.value(a[1])[int(self.value(a[0]))],
            "Fn::Equals": lambda a: str(self.value(a[0])) == str(self.value(a[1])),  # as strings
            "Fn::Not": lambda a: not self.value(a[0]),
            "Fn::And": lambda a: all(self.value(item) for item in a),
            "Fn::Or": lambda a: any(self.value(item) for item in a),
        }
        if name not in simple:
            raise TemplateError(f"{name} is not resolved by this expansion")
        return simple[name](argument)

    def _variable(self, name: str, values: dict[str, Any]) -> Any:
        if name in values:
            return values[name]
        if "." in name and not name.startswith("AWS::"):
            logical_id, attribute = name.split(".", 1)
            return self.physical[logical_id][attribute]
        return self._ref(name)

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        for table in (self.pseudo, self.parameters):
            if name in table:
                return table[name]
        if name in self.physical:
            return self.physical[name]["Ref"]
        raise TemplateError(f"Ref {name} names nothing in the template")


def _short_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:10]


def _uuid_like(name: str) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
