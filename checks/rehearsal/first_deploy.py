"""A first deploy into a brand-new account, with every parameter at its default but the one
choice the Rules section demands (who may invoke). What the account must already have, and what
it lacks, is written down in docs/deploying.md ("What the account must already have"); each
check here names the documented behaviour it stands for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from checks.rehearsal import Finding
from checks.rehearsal.sections import RULE_FUNCTIONS
from iam.deployment import Deployment, Stack, parameter_values, resolve, translate

PREREQUISITES = "docs/deploying.md#what-the-account-must-already-have"
# The one choice a first deploy must make: the Rules section refuses the defaults without it.
FIRST_DEPLOY = {"AllowedAccountIds": "123456789012"}
# A fresh account may start with a concurrency quota of 10, and Lambda reserves only while at
# least 100 executions stay unreserved: such an account can reserve none.
FRESH_ACCOUNT_CONCURRENCY = 10
UNRESERVED_MINIMUM = 100
# rate(1 minute), rate(5 minutes): the unit is singular for 1 and plural otherwise
# (EventBridge "Schedule expressions for rules"; EventBridge Scheduler the same).
SCHEDULE = re.compile(
    r"^rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)$"
    r"|^cron\(\S+( \S+){5}\)$"
)
SCHEDULED = {
    "AWS::Events::Rule": "ScheduleExpression",
    "AWS::Scheduler::Schedule": "ScheduleExpression",
}
MAX_VALUES_TRIED = 1000


class NotRehearsable(Exception):
    """A function the offline evaluation cannot answer: one that needs AWS (Fn::ValueOf,
    Fn::RefAll, ...) or one the Rules section refuses anyway (E9101 names those)."""


def rules_refusals(template: dict[str, Any], parameters: dict[str, str | list[str]]) -> list[str]:
    """The AssertDescription of every rule assertion CloudFormation would refuse."""
    refused = []
    for name, rule in (template.get("Rules") or {}).items():
        condition = rule.get("RuleCondition")
        if condition is not None and not _rule_value(condition, parameters):
            continue
        for assertion in rule.get("Assertions") or []:
            if not _rule_value(assertion["Assert"], parameters):
                refused.append(f"{name}: {assertion.get('AssertDescription', 'refused')}")
    return refused


def translated(template: dict[str, Any]) -> dict[str, Any]:
    """`template` as SAM's own transform gives it to CloudFormation for a first deploy (cfn-lint's
    transform leaves some generated resources out, AWS::Lambda::EventInvokeConfig for one)."""
    stack = Stack(parameters=FIRST_DEPLOY)
    return translate(template, stack, parameter_values(template, stack))


def fresh_account_failures(template: dict[str, Any]) -> list[Finding]:
    """What would stop the first deploy of `template` in a fresh account."""
    stack = Stack(parameters=FIRST_DEPLOY)
    parameters = parameter_values(template, stack)
    try:
        found = [
            Finding(("Rules",), f"the defaults with {FIRST_DEPLOY} are refused: {text}")
            for text in rules_refusals(template, parameters)
        ]
    except NotRehearsable as problem:  # a function the Rules refuse is E9101's to report
        function = problem.args[0]
        needs_aws = f"the rehearsal cannot evaluate the Rules: {function} needs AWS to answer"
        found = [Finding(("Rules",), needs_aws)] if function in RULE_FUNCTIONS else []
    cfn = translated(template)
    deployment = resolve(cfn, stack, parameters)
    found += _logging_role_needed(deployment) + _reserved_concurrency(deployment)
    for values in every_allowed_value(template, parameters):
        found += _bad_schedules(resolve(cfn, stack, values), values, parameters)
    return list(dict.fromkeys(found))


def _rule_value(node: Any, parameters: dict[str, str | list[str]]) -> Any:
    if not isinstance(node, dict):
        return node
    ((name, argument),) = node.items()
    if name == "Ref":
        return parameters[argument]
    args = (
        [_rule_value(item, parameters) for item in argument] if isinstance(argument, list) else []
    )
    functions = {
        "Fn::Equals": lambda: str(args[0]) == str(args[1]),
        "Fn::Not": lambda: not args[0],
        "Fn::And": lambda: all(args),
        "Fn::Or": lambda: any(args),
        "Fn::Contains": lambda: args[1] in args[0],
        "Fn::EachMemberEquals": lambda: all(item == args[1] for item in args[0]),
        "Fn::EachMemberIn": lambda: all(item in args[1] for item in args[0]),
    }
    if name not in functions:
        raise NotRehearsable(name)
    return functions[name]()


def _logging_role_needed(deployment: Deployment) -> list[Finding]:
    """API Gateway logs to CloudWatch only with the account's logging role, an account-and-region
    setting ("CloudWatch Logs role ARN must be set in account settings to enable logging")."""
    if deployment.of_type("AWS::ApiGateway::Account"):
        return []
    found = []
    for stage_id, properties in deployment.of_type("AWS::ApiGateway::Stage").items():
        methods = properties.get("MethodSettings") or []
        execution_logs = any(
            str(m.get("LoggingLevel", "OFF")).upper() != "OFF"
            or m.get("DataTraceEnabled") in (True, "true")
            for m in methods
        )
        if properties.get("AccessLogSetting") or execution_logs:
            found.append(
                Finding(
                    ("Resources", stage_id, "Properties"),
                    "with the defaults the stage logs to CloudWatch, which needs API Gateway's "
                    f"account-level logging role that a fresh account lacks ({PREREQUISITES})",
                )
            )
    return found


def _reserved_concurrency(deployment: Deployment) -> list[Finding]:
    found = []
    for function_id, properties in deployment.of_type("AWS::Lambda::Function").items():
        reserved = int(properties.get("ReservedConcurrentExecutions", 0) or 0)
        if reserved > 0:
            found.append(
                Finding(
                    ("Resources", function_id, "Properties", "ReservedConcurrentExecutions"),
                    f"with the defaults the function reserves {reserved} executions; an account "
                    f"whose quota is {FRESH_ACCOUNT_CONCURRENCY} refuses any (Lambda keeps "
                    f"{UNRESERVED_MINIMUM} unreserved; {PREREQUISITES})",
                )
            )
    return found


def every_allowed_value(
    template: dict[str, Any], defaults: dict[str, str | list[str]]
) -> Iterator[dict[str, str | list[str]]]:
    """The defaults, then each allowed value of each parameter that has finitely many."""
    yield defaults
    for name, spec in (template.get("Parameters") or {}).items():
        allowed = [str(value) for value in spec.get("AllowedValues", [])]
        if not allowed and spec.get("Type") == "Number" and {"MinValue", "MaxValue"} <= set(spec):
            low, high = int(spec["MinValue"]), int(spec["MaxValue"])
            allowed = (
                [str(v) for v in range(low, high + 1)] if high - low < MAX_VALUES_TRIED else []
            )
        for value in allowed:
            yield {**defaults, name: value}


def _bad_schedules(
    deployment: Deployment,
    values: dict[str, str | list[str]],
    defaults: dict[str, str | list[str]],
) -> list[Finding]:
    changed = {name: value for name, value in values.items() if defaults.get(name) != value}
    found = []
    for resource_type, prop in SCHEDULED.items():
        for logical_id, properties in deployment.of_type(resource_type).items():
            expression = str(properties.get(prop, ""))
            if not SCHEDULE.match(expression):
                found.append(
                    Finding(
                        ("Resources", logical_id, "Properties", prop),
                        f"{expression!r} (with {changed or 'the defaults'}) is not a schedule "
                        "expression: rate(1 minute), rate(N minutes) for N > 1, or cron(...)",
                    )
                )
    return found
