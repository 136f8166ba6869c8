"""AWS calls as IAM sees them: a call the code made (recorded from botocore while the tests run)
becomes a request for an action on one of the deployment's resources; the calls AWS makes on a
principal's behalf are added from the template:

- DynamoDB asks KMS for the table key as the calling principal (SSE-KMS, customer-managed key),
  for every call on the table;
- EventBridge invokes the refresher for the schedule's rule (the Lambda permission SAM made),
  and sends events it could not deliver to the dead-letter queue (the queue's policy);
- Lambda sends a failed asynchronous event to the function's dead-letter queue with the
  function's role, and with Tracing=Active each sampled invocation's segments to X-Ray;
- API Gateway invokes the vending function for each route (the Lambda permissions), once the
  API's resource policy and the caller's IAM policy let the caller in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iam.deployment import URL_SUFFIX, Deployment
from iam.evaluation import Request
from vcc_token_contract.vcc import REGIONS

# botocore operation -> IAM action, and botocore's signing name -> IAM prefix, where they differ
ACTION_NAMES = {("lambda", "Invoke"): "lambda:InvokeFunction"}
IAM_PREFIXES = {"monitoring": "cloudwatch"}
TABLE_OPERATIONS = re.compile(r"^(Get|Put|Update|Delete|BatchGet|BatchWrite)Item$|^(Scan|Query)$")
STAGE = "v1"
ROUTE_VALUES = {"region": "emea", "scope": "agents-availability"}


@dataclass(frozen=True)
class AwsCall:
    """One botocore call of the service's code: who made it, and what it named."""

    actor: str  # VendFunction, RefreshFunction or Operator
    service: str  # botocore's signing name: dynamodb, kms, ...
    operation: str  # GetItem, Decrypt, ...
    # the parameters that name the resource: TableName, KeyId, SecretId, Name, FunctionName,
    # and the KMS encryption context as "EncryptionContext:<key>"
    names: tuple[tuple[str, str], ...]


class UnplacedCall(Exception):
    """A recorded call names nothing this deployment has (the proof fails closed)."""


def requests_for(calls: set[AwsCall], deployment: Deployment) -> list[Request]:
    """The code's calls and what AWS does on their behalf, as requests, without repeats."""
    requests: dict[Request, None] = {}
    for call in sorted(calls, key=repr):
        requests.update(dict.fromkeys(_requests(call, deployment)))
        if call.service == "dynamodb":
            requests[table_key_request(call.actor, deployment)] = None
    for request in on_behalf_of_services(deployment):
        requests[request] = None
    return list(requests)


def table_key_request(principal: str, deployment: Deployment) -> Request:
    account, region = deployment.stack.account, deployment.stack.region
    return Request(
        principal,
        "kms:Decrypt",
        deployment.arn("TokenKey"),
        {
            "kms:ViaService": f"dynamodb.{region}.{URL_SUFFIX}",
            "kms:CallerAccount": account,
            "kms:EncryptionContext:aws:dynamodb:tableName": deployment.ref("TokenTable"),
            "kms:EncryptionContext:aws:dynamodb:subscriberId": account,
        },
        made_by="DynamoDB (the table's SSE-KMS)",
    )


def api_routes(deployment: Deployment) -> list[tuple[str, str, str, str]]:
    """(execute-api ARN of one concrete request, method, resource path, integrated function's
    ARN) for every route of the API, path parameters filled in."""
    stack = deployment.stack
    routes = []
    for api_id, properties in deployment.of_type("AWS::ApiGateway::RestApi").items():
        base = (
            f"arn:aws:execute-api:{stack.region}:{stack.account}:{deployment.ref(api_id)}/{STAGE}"
        )
        for path, methods in properties["Body"]["paths"].items():
            concrete = re.sub(r"\{(\w+)\}", lambda m: ROUTE_VALUES[m.group(1)], path)
            for method, operation in methods.items():
                uri = operation["x-amazon-apigateway-integration"]["uri"]
                function = uri.split("/functions/", 1)[1].removesuffix("/invocations")
                arn = f"{base}/{method.upper()}{concrete}"
                routes.append((arn, method.upper(), path, function))
    return routes


def on_behalf_of_services(deployment: Deployment) -> list[Request]:
    requests = []
    account = deployment.stack.account
    for rule_id, properties in deployment.of_type("AWS::Events::Rule").items():
        context = {"aws:SourceArn": deployment.arn(rule_id), "aws:SourceAccount": account}
        schedule = "EventBridge (the schedule)"
        for target in properties["Targets"]:
            requests.append(
                Request("EventBridge", "lambda:InvokeFunction", target["Arn"], context, schedule)
            )
            if "DeadLetterConfig" in target:
                queue = target["DeadLetterConfig"]["Arn"]
                requests.append(Request("EventBridge", "sqs:SendMessage", queue, context, schedule))
    for function_id, properties in deployment.of_type("AWS::Lambda::Function").items():
        queue = properties.get("DeadLetterConfig", {}).get("TargetArn")
        if queue:
            lambda_async = "Lambda (a failed asynchronous event)"
            requests.append(Request(function_id, "sqs:SendMessage", queue, made_by=lambda_async))
        if properties.get("TracingConfig", {}).get("Mode") == "Active":
            tracing = "Lambda (active tracing)"  # sends each sampled invocation's segments
            for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"):
                requests.append(Request(function_id, action, "*", made_by=tracing))
    for route, _method, _path, function in api_routes(deployment):
        requests.append(Request("Caller", "execute-api:Invoke", route, made_by="a caller (SigV4)"))
        context = {"aws:SourceArn": route, "aws:SourceAccount": deployment.stack.account}
        requests.append(
            Request("ApiGateway", "lambda:InvokeFunction", function, context, "API Gateway")
        )
    return requests


def _requests(call: AwsCall, deployment: Deployment) -> list[Request]:
    names = dict(call.names)
    stack = deployment.stack
    prefix = IAM_PREFIXES.get(call.service, call.service)
    action = ACTION_NAMES.get((call.service, call.operation), f"{prefix}:{call.operation}")
    context: dict[str, str] = {}
    if call.service == "dynamodb" and TABLE_OPERATIONS.match(call.operation):
        resource = deployment.arn("TokenTable")
    elif call.service == "kms":
        resource = deployment.arn("TokenKey")
        context = {"kms:CallerAccount": stack.account}
        context.update(
            {f"kms:{k}": v for k, v in names.items() if k.startswith("EncryptionContext:")}
        )
    elif call.service == "secretsmanager":
        prefix = str(deployment.parameters["SecretPrefix"])
        named = _credential_secret(names["SecretId"])  # the tests' own prefixes differ
        resource = (
            f"arn:aws:secretsmanager:{stack.region}:{stack.account}:secret:{prefix}{named}-AbCdEf"
        )
        return [Request(call.actor, action, resource), *_secret_key_requests(call, deployment)]
    elif call.service == "ssm" and call.operation == "GetParameter":
        parameter = str(deployment.parameters["EntitlementsParameterName"])
        resource = f"arn:aws:ssm:{stack.region}:{stack.account}:parameter{parameter}"
    elif call.service == "lambda" and call.operation == "Invoke":
        resource = deployment.arn("RefreshFunction")  # the only function invoked by name
    elif call.service == "monitoring" and call.operation == "DescribeAlarms":
        if "AlarmNamePrefix" in names:  # authorized per alarm it returns: every one of the stack
            return _alarms_by_prefix(call, action, names["AlarmNamePrefix"], deployment)
        return [_alarm(call, action, name, deployment) for name in names["AlarmNames"].split(",")]
    elif call.service == "sqs" and "QueueUrl" in names:
        (queue,) = deployment.of_type("AWS::SQS::Queue")  # the dead-letter queue, the only one
        resource = deployment.arn(queue)
    elif call.service == "logs" and "logGroupName" in names:  # the functions' own groups
        resource = _log_group(call, names["logGroupName"], deployment)
    else:
        raise UnplacedCall(f"{call.actor} called {call.service} {call.operation} {names}")
    return [Request(call.actor, action, resource, context)]


def _log_group(call: AwsCall, group: str, deployment: Deployment) -> str:
    function = group.rsplit("/", 1)[-1]  # vcc_token_contract.names.log_group's last part
    groups = {"vend": "VendFunctionLogGroup", "refresher": "RefreshFunctionLogGroup"}
    if function not in groups:
        raise UnplacedCall(f"{call.actor} read the log group {group}")
    return deployment.arn(groups[function])


# What Secrets Manager asks KMS, as the caller, when the secrets use a customer-managed key
SECRET_KEY_ACTIONS = {"GetSecretValue": "kms:Decrypt", "PutSecretValue": "kms:GenerateDataKey"}


def _secret_key_requests(call: AwsCall, deployment: Deployment) -> list[Request]:
    key = str(deployment.parameters.get("SecretsKmsKeyArn", ""))
    if not key or call.operation not in SECRET_KEY_ACTIONS:
        return []
    stack = deployment.stack
    context = {
        "kms:ViaService": f"secretsmanager.{stack.region}.{URL_SUFFIX}",
        "kms:CallerAccount": stack.account,
    }
    action = SECRET_KEY_ACTIONS[call.operation]
    return [Request(call.actor, action, key, context, "Secrets Manager (the secrets' key)")]


def _credential_secret(secret_id: str) -> str:
    """`<region>` or `<region>/<credential>`: a secret's name after its prefix."""
    parts = secret_id.split("/")
    starts = [index for index, part in enumerate(parts) if part in REGIONS]
    if not starts:
        raise UnplacedCall(f"the secret {secret_id} names no VCC region")
    return "/".join(parts[starts[0] :])


def _alarm(call: AwsCall, action: str, asked: str, deployment: Deployment) -> Request:
    """The deployment's alarm that an alarm name of another stack (the tests') stands for: the
    one with the same name after the stack's."""
    for alarm in deployment.of_type("AWS::CloudWatch::Alarm"):
        own = deployment.ref(alarm).removeprefix(deployment.stack.name)
        if asked.endswith(own):
            return Request(call.actor, action, deployment.arn(alarm))
    raise UnplacedCall(f"{call.actor} asked for the alarm {asked}, which the template lacks")


def _alarms_by_prefix(
    call: AwsCall, action: str, prefix: str, deployment: Deployment
) -> list[Request]:
    """A prefix query (`<stack>-`) as requests for each alarm it returns: the template names
    every alarm `<stack>-...`. (How CloudWatch authorizes a prefix query with alarm-scoped
    grants is not documented: modelled as per alarm; a refusal in AWS makes smoke fail, loudly.)"""
    alarms = deployment.of_type("AWS::CloudWatch::Alarm")
    if not prefix.endswith("-") or not alarms:
        raise UnplacedCall(f"{call.actor} asked for alarms named {prefix}*, not a stack's prefix")
    return [Request(call.actor, action, deployment.arn(alarm)) for alarm in alarms]
