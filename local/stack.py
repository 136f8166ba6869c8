"""Pieces of the local stack shared by the tests and `make run`.

- the AWS side is moto in server mode, reached over real HTTP through AWS_ENDPOINT_URL;
- the DynamoDB table is created from template.yaml's own definition, so nothing can drift;
- one Secrets Manager secret per region is seeded in the format the service reads;
- Lambda functions are loaded from functions/<name>/app.py, as Lambda would.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from local.lambda_runtime import LOCAL_REFRESHER
from vcc_token_contract.vcc import REGIONS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
LOCAL_KEY_ALIAS = "alias/vcc-token-vending-local"  # named in local/sam-env.json

# Credentials the local stack never uses outside loopback, and its AWS region (a second local
# deployment runs in another: local/deployments.py)
LOCAL_REGION = os.environ.get("LOCAL_AWS_REGION") or "eu-west-1"
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": LOCAL_REGION,
    "AWS_REGION": LOCAL_REGION,
}


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML, keeping intrinsic functions (!Ref, !Sub, ...) as plain data."""


_TemplateLoader.add_multi_constructor(
    "!", lambda loader, tag, node: {tag: _construct(loader, node)}
)


def _construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as file:
        template: dict[str, Any] = yaml.load(file, Loader=_TemplateLoader)  # a SafeLoader  # noqa: S506  # nosec B506
    return template


def function_environment() -> dict[str, str]:
    """The literal environment variables of the template's Function Globals (POWERTOOLS_*...),
    plus tracing off: no X-Ray daemon runs locally. Empty values and values set with !Ref are
    left out."""
    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    literal = {name: value for name, value in variables.items() if isinstance(value, str) and value}
    return {**literal, "POWERTOOLS_TRACE_DISABLED": "true"}


def table_properties(logical_id: str = "TokenTable") -> dict[str, Any]:
    properties: dict[str, Any] = load_template()["Resources"][logical_id]["Properties"]
    return properties


def create_table_from_template(
    dynamodb: Any, table_name: str, logical_id: str = "TokenTable"
) -> None:
    """Create `table_name` with the key schema, billing mode and TTL that template.yaml declares."""
    properties = table_properties(logical_id)
    dynamodb.create_table(
        TableName=table_name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode=properties["BillingMode"],
    )
    dynamodb.get_waiter("table_exists").wait(TableName=table_name)
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)


def put_region_secret(
    secretsmanager: Any, name: str, client_id: str, client_secret: str, auth_method: str | None
) -> None:
    """Create or update one region's secret in the service's format."""
    document: dict[str, str] = {"client_id": client_id, "client_secret": client_secret}
    if auth_method:
        document["auth_method"] = auth_method
    value = json.dumps(document)
    try:
        secretsmanager.create_secret(Name=name, SecretString=value)
    except secretsmanager.exceptions.ResourceExistsException:
        secretsmanager.put_secret_value(SecretId=name, SecretString=value)


def create_cache_key(kms: Any) -> str:
    """The customer-managed key the cache encrypts tokens under; its ARN."""
    return str(kms.create_key(Description="VCC token cache (local)")["KeyMetadata"]["Arn"])


def put_entitlements(ssm: Any, name: str, document: dict[str, Any] | str) -> None:
    """Create or replace the entitlements parameter (JSON; see vcc_tokens.aws.entitlements)."""
    value = document if isinstance(document, str) else json.dumps(document)
    ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)


@dataclass(frozen=True)
class LocalDeployment:
    """What `sam deploy` plus an operator would have set up, on the local moto server."""

    table: str
    secret_prefix: str
    entitlements_parameter: str
    entitlements: dict[str, Any] | str
    client_id: str
    client_secret: str
    auth_method: str | None = None
    # a region's own (client_id, client_secret), else the one above
    region_clients: dict[str, tuple[str, str]] = field(default_factory=dict)

    def seed(self, aws_endpoint: str) -> dict[str, str]:
        """Create the KMS key (with the alias LOCAL_KEY_ALIAS), the table (from template.yaml),
        the entitlements and one secret per region; returns the functions' environment that
        points at them."""

        aws = boto3.session.Session(
            region_name=LOCAL_AWS_ENV["AWS_REGION"],
            aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        kms = aws.client("kms", endpoint_url=aws_endpoint)
        kms.create_alias(AliasName=LOCAL_KEY_ALIAS, TargetKeyId=create_cache_key(kms))
        create_table_from_template(aws.client("dynamodb", endpoint_url=aws_endpoint), self.table)
        ssm = aws.client("ssm", endpoint_url=aws_endpoint)
        put_entitlements(ssm, self.entitlements_parameter, self.entitlements)
        create_alarms(aws.client("cloudwatch", endpoint_url=aws_endpoint))
        aws.client("sqs", endpoint_url=aws_endpoint).create_queue(QueueName=DEAD_LETTER_QUEUE)
        secretsmanager = aws.client("secretsmanager", endpoint_url=aws_endpoint)
        for region in REGIONS:
            client_id, secret = self.region_clients.get(
                region, (self.client_id, self.client_secret)
            )
            put_region_secret(
                secretsmanager, self.secret_prefix + region, client_id, secret, self.auth_method
            )
        return {
            **LOCAL_AWS_ENV,
            "AWS_ENDPOINT_URL": aws_endpoint,
            "TOKEN_TABLE_NAME": self.table,
            "VCC_SECRET_PREFIX": self.secret_prefix,
            "ENTITLEMENTS_PARAMETER": self.entitlements_parameter,
            "TOKEN_KMS_KEY_ID": LOCAL_KEY_ALIAS,
        }


INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


LOCAL_STACK_NAME = "vcc-token-vending-local"


def template_alarms() -> list[dict[str, Any]]:
    """The template's alarms' properties, as CloudFormation would create them for the local
    stack's name."""
    from iam.deployment import Stack, expand, load_sam_template

    deployment = expand(load_sam_template(), Stack(name=LOCAL_STACK_NAME))
    return list(deployment.of_type("AWS::CloudWatch::Alarm").values())


def create_alarms(cloudwatch: Any) -> None:
    """The template's alarms on moto (so `vcc-token admin smoke --stack
    vcc-token-vending-local` finds them; local/alarms.py evaluates them)."""
    for properties in template_alarms():
        cloudwatch.put_metric_alarm(**properties)


DEAD_LETTER_QUEUE = f"{LOCAL_STACK_NAME}-refresh-dead-letters"  # the refresher's, locally
ASYNC_RETRIES = 2  # Lambda retries a failed asynchronous invocation twice, then dead-letters it
DeadLetters = Callable[[dict[str, Any], Exception], None]


def invoke_async(
    handler: Callable[..., Any],
    event: dict[str, Any],
    dead_letters: DeadLetters | None,
    name: str = "event",
    function_name: str = LOCAL_REFRESHER,
) -> None:
    """An asynchronous invocation as Lambda makes one: tried, retried twice on failure, then
    handed to the dead-letter queue with the error (without delays: Lambda waits minutes)."""
    from local.lambda_runtime import LambdaContext

    failure: Exception | None = None
    for _ in range(1 + ASYNC_RETRIES):
        try:
            handler(event, LambdaContext(f"{name}-{uuid.uuid4()}", function_name))
            return
        except Exception as error:  # what Lambda does with it: retry, then dead-letter
            failure = error
    if failure is not None and dead_letters is not None:
        dead_letters(event, failure)


def dead_letter_queue(sqs: Any, queue_url: str) -> DeadLetters:
    """What Lambda sends to a function's dead-letter queue: the event, with RequestID,
    ErrorCode and the first KB of ErrorMessage as attributes."""

    def send(event: dict[str, Any], error: Exception) -> None:
        text = {"DataType": "String"}
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(event),
            MessageAttributes={
                "RequestID": {**text, "StringValue": str(uuid.uuid4())},
                "ErrorCode": {**text, "StringValue": "200"},
                "ErrorMessage": {**text, "StringValue": f"{type(error).__name__}: {error}"[:1024]},
            },
        )

    return send


def start_moto_server(
    port: int = 0,
    functions: dict[str, Callable[..., Any]] | None = None,
    dead_letters: DeadLetters | None = None,
) -> tuple[BaseWSGIServer, str]:
    """moto in server mode on loopback; returns the server and its endpoint URL.

    DynamoDB requests are served one at a time: real DynamoDB applies a conditional write
    atomically per item, and moto's backend would not if two requests interleaved (the lease
    tests rely on it). The other services' requests (KMS, Secrets Manager, SSM) need no such
    order and are served as they come, so a burst of KMS calls does not queue behind DynamoDB.

    Lambda's Invoke API is answered for the handlers in `functions` (by function name, looked
    up at each call, so entries may be added later), as Lambda does; moto would need Docker: an
    asynchronous (Event) invocation runs the handler in a thread and answers 202 at once, a
    synchronous one (RequestResponse) answers 200 with the handler's result, or with
    X-Amz-Function-Error and the error if it raised. A failed asynchronous one is retried and
    dead-lettered as Lambda does (invoke_async), when `dead_letters` is given.
    """
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call otherwise
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    handlers = functions if functions is not None else {}

    def one_at_a_time(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        invoked = INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if invoked and environ.get("REQUEST_METHOD") == "POST":
            return _invoke(handlers, invoked["name"], environ, start_response, dead_letters)
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return list(app(environ, start_response))  # KMS, Secrets Manager, SSM: no writes race
        with lock:
            return list(app(environ, start_response))

    server = make_server(
        "127.0.0.1", port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, bound_port = server.server_address[:2]
    return server, f"http://{host!s}:{bound_port}"


def _invoke(
    handlers: dict[str, Callable[..., Any]],
    name: str,
    environ: dict[str, Any],
    start_response: Any,
    dead_letters: DeadLetters | None = None,
) -> list[bytes]:
    from local.lambda_runtime import LambdaContext

    handler = handlers.get(name)
    invocation = environ.get("HTTP_X_AMZ_INVOCATION_TYPE") or "RequestResponse"
    json_type = [("Content-Type", "application/json")]
    if handler is None or invocation not in ("Event", "RequestResponse"):
        body = json.dumps({"Type": "User", "Message": f"Function not found: {name}"})
        start_response("404 Not Found", [*json_type, ("X-Amzn-ErrorType", "ResourceNotFound")])
        return [body.encode()]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    event = json.loads(environ["wsgi.input"].read(length) or b"{}")
    if invocation == "Event":
        args = (handler, event, dead_letters, "event", name)
        threading.Thread(target=invoke_async, args=args, daemon=True).start()
        start_response("202 Accepted", json_type)
        return [b""]
    context = LambdaContext(f"{invocation.lower()}-{uuid.uuid4()}", name)
    try:
        result = handler(event, context)
    except Exception as error:  # what Lambda answers when the handler raises
        start_response("200 OK", [*json_type, ("X-Amz-Function-Error", "Unhandled")])
        return [json.dumps({"errorType": type(error).__name__}).encode()]
    start_response("200 OK", json_type)
    return [json.dumps(result).encode()]


def stop_server(server: BaseWSGIServer) -> None:
    server.shutdown()
    server.server_close()
