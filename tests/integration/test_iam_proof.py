"""The offline IAM proof: every AWS call the code made in this test session (tests.aws_calls),
plus the calls AWS makes on the principals' behalf (iam.calls), evaluated by a maintained
IAM policy evaluator against the policies expanded from template.yaml (iam). moto enforces
none of these policies; this is what AWS would decide on the first deploy.

It runs after the rest of the suite (the iam_proof marker), and first takes its own tour of every
entry point, so that it also stands on its own when run alone.
"""

from __future__ import annotations

import copy
import io
import json
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import boto3
import botocore.session
import pytest
from vcc_token_client.admin import smoke
from vcc_token_client.cli import main as vcc_token
from vcc_token_client.errors import Exit

from iam.calls import AwsCall, requests_for
from iam.deployment import Stack, expand, load_sam_template
from iam.evaluation import Decision, Principal, Request, evaluate, principals, unused_grants
from iam.gateway import INVOKE_ANYTHING
from local.lambda_runtime import LambdaContext, load_function
from local.vcc_emulator import VccEmulator
from tests.conftest import CLIENTS, GUARDED_SECRETS, TEST_CALLER_ROLE, Service
from tests.support import api_event, invoke, load_event
from vcc_tokens import wiring
from vcc_tokens.values.tokens import Key

pytestmark = [pytest.mark.integration, pytest.mark.iam_proof]

SCOPE = "agents-availability:read"
REFRESHER_NAME = "vcc-token-vending-refresher"
REISSUED = "reissued-" + secrets.token_urlsafe(24)
GUARDED_SECRETS["the tour's re-issued secret"] = REISSUED
ORG = "o-a1b2c3d4e5"
OWN, LISTED, MEMBER, OUTSIDER = "123456789012", "111122223333", "444455556666", "777788889999"
ACCOUNTS_ONLY = {"AllowedAccountIds": LISTED}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.05)


@pytest.fixture
def toured(
    service: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    lambda_functions: dict[str, Any],
    aws_calls: set[AwsCall],
    monkeypatch: pytest.MonkeyPatch,
) -> set[AwsCall]:
    """Every entry point once: a GET whose token is due (the refresher renews it, invoked
    through Lambda's Invoke API), a refresh, an OAuth 2.0 request, a scheduled run, the
    operator's status, explain and purge, and a rotation (the rotator stores the pending secret,
    the refresher proves and promotes it). Returns every call recorded in the session so far."""
    refresher = load_function("refresher").lambda_handler
    lambda_functions[REFRESHER_NAME] = refresher
    monkeypatch.setenv("RENEWAL_FUNCTION_NAME", REFRESHER_NAME)
    wiring.reset()
    now = int(time.time())
    service.put_token("emea", SCOPE, "due-token", now + 150)
    assert invoke(vend_handler, api_event("emea", SCOPE)).body["access_token"] == "due-token"
    wait_until(
        lambda: (
            (t := service.cached_token("emea", SCOPE)) is not None and t.access_token != "due-token"
        ),
        "the background renewal",
    )
    renewed = service.cached_token("emea", SCOPE)
    assert renewed is not None
    wiring.reset()  # in AWS the functions share no memory: a fresh vending environment
    refresh = load_event("refresh_token_emea_agents_availability.json")
    refresh["body"] = json.dumps({"rejected_token_sha256": renewed.sha256})
    assert invoke(vend_handler, refresh).status == 200
    oauth = api_event("emea", SCOPE)
    oauth.update(httpMethod="POST", path="/oauth2/token", resource="/oauth2/token")
    oauth["body"] = urlencode(
        {"grant_type": "client_credentials", "scope": SCOPE, "region": "emea"}
    )
    oauth["headers"] = {**oauth["headers"], "Content-Type": "application/x-www-form-urlencoded"}
    oauth["multiValueHeaders"] = {k: [v] for k, v in oauth["headers"].items()}
    assert invoke(vend_handler, oauth).status == 200
    wiring.reset()  # and a fresh refresher environment
    service.put_token("nam", SCOPE, "nam-due", now + 150)
    service.table.touch(Key("nam", SCOPE), time.time())
    summary = refresher(load_event("scheduled_renewal.json"), LambdaContext("scheduled"))
    assert summary["renewed"] == 1
    assert vcc_token(["admin", "status", "--table", service.table_name]) == 0
    explain = ["admin", "explain", TEST_CALLER_ROLE, "emea", SCOPE]
    assert vcc_token([*explain, "--parameter", service.entitlements_parameter]) == 0
    assert (
        vcc_token(["admin", "purge", "--table", service.table_name, "--region", "nam", "--yes"])
        == 0
    )
    emulator.reissue(CLIENTS["emea"][0].client_id, REISSUED, previous_for=0)
    monkeypatch.setattr(sys, "stdin", io.StringIO(REISSUED))  # the secret alone: Get, then Put
    rotate = ["admin", "rotate", "--region", "emea", "--function", REFRESHER_NAME, "--scope", SCOPE]
    assert vcc_token([*rotate, "--secret-prefix", service.secret_prefix]) == 0
    session = botocore.session.get_session()  # smoke --stack's reads (its API calls are a caller's)
    smoke.alarm_states(session, "vcc-token-vending")
    smoke.refresher_last_run(session, "vcc-token-vending")
    sqs = boto3.client("sqs")  # a dead letter listed, redriven (the refresher runs it), purged
    queue = sqs.create_queue(QueueName=f"dead-letters-{secrets.token_hex(4)}")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(load_event("scheduled_renewal.json")))
    dead = ["admin", "dead-letters", "--queue-url", queue]
    assert vcc_token([*dead, "list"]) == 0
    assert vcc_token([*dead, "redrive", "--function", REFRESHER_NAME]) == 0
    assert vcc_token([*dead, "purge", "--yes"]) == 0
    sqs.delete_queue(QueueUrl=queue)
    logs = boto3.client("logs")  # the issuance ledger: who had a token, what a caller received
    group = "/aws/lambda/vcc-token-vending/vend"
    logs.create_log_group(logGroupName=group)
    try:  # an empty ledger: every page read, nothing served (exit 8), as the calls are the same
        who_had = ["admin", "who-had", "ab" * 32, "--stack", "vcc-token-vending"]
        assert vcc_token(who_had) == Exit.NEVER_SERVED
        served_to = ["admin", "served-to", TEST_CALLER_ROLE, "--stack", "vcc-token-vending"]
        assert vcc_token(served_to) == Exit.NEVER_SERVED
    finally:
        logs.delete_log_group(logGroupName=group)
    return set(aws_calls)


def prove(
    calls: set[AwsCall], template: dict[str, Any] | None = None, stack: Stack | None = None
) -> tuple[list[Decision], list[str]]:
    """(the decisions that are not Allowed, the grants nothing used)."""
    deployment = expand(template or load_sam_template(), stack or Stack(parameters=ACCOUNTS_ONLY))
    people = principals(deployment)
    decisions = evaluate(deployment, requests_for(calls, deployment), people)
    refused = [decision for decision in decisions if not decision.allowed]
    return refused, unused_grants(people, decisions)


def report(refused: list[Decision]) -> str:
    return "\n".join(f"{d.result}: {d.request.describe()} {d.detail}" for d in refused)


def test_every_call_is_allowed_and_every_grant_used(toured: set[AwsCall]) -> None:
    # Given every call the session's code made, the tour's included
    actors = {call.actor for call in toured}
    assert actors == {"VendFunction", "RefreshFunction", "Operator", "Rotator"}
    # When AWS would evaluate them, with what it does on the principals' behalf
    refused, unused = prove(toured)
    # Then nothing is refused and nothing granted goes unused
    assert not refused, report(refused)
    assert not unused, "granted but never used:\n" + "\n".join(unused)


def statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    policies = template["Resources"][function]["Properties"]["Policies"]
    return policies[0]["Statement"]  # type: ignore[no-any-return]


def test_a_removed_grant_is_a_refused_call(toured: set[AwsCall]) -> None:
    template = load_sam_template()
    cache_grant = statements(template, "RefreshFunction")[0]
    cache_grant["Action"].remove("dynamodb:Scan")
    refused, _ = prove(toured, template)
    assert [d.request.describe() for d in refused] == [
        d.request.describe() for d in refused if d.request.action == "dynamodb:Scan"
    ]
    assert refused
    assert {d.result for d in refused} == {"ImplicitlyDenied"}


def test_an_unused_grant_fails_the_proof(toured: set[AwsCall]) -> None:
    template = load_sam_template()
    statements(template, "VendFunction")[1]["Action"].append("dynamodb:DeleteItem")
    refused, unused = prove(toured, template)
    assert not refused
    assert [grant.rsplit(" ", 1)[-1] for grant in unused] == ["dynamodb:DeleteItem"]


@pytest.mark.parametrize(
    ("policy", "key", "value"),
    [
        ("TokenTableKeyPolicy", "kms:ViaService", "dynamodb.us-east-1.amazonaws.com"),
        ("TokenKeyUsePolicy", "kms:EncryptionContext:purpose", "something-else"),
    ],
)
def test_a_changed_condition_value_is_a_refused_call(
    toured: set[AwsCall], policy: str, key: str, value: str
) -> None:
    template = load_sam_template()
    document = template["Resources"][policy]["Properties"]["PolicyDocument"]
    document["Statement"][0]["Condition"]["StringEquals"][key] = value
    refused, _ = prove(toured, template)
    assert refused
    assert {d.request.action for d in refused} <= {"kms:Decrypt", "kms:GenerateDataKey"}


def test_an_encryption_context_condition_the_narrow_check_cannot_read_fails_closed(
    toured: set[AwsCall],
) -> None:
    template = load_sam_template()
    document = template["Resources"]["TokenKeyUsePolicy"]["Properties"]["PolicyDocument"]
    condition = document["Statement"][0]["Condition"]
    condition["StringLike"] = condition.pop("StringEquals")
    refused, _ = prove(toured, template)
    assert refused
    assert {d.result for d in refused} == {"NotEvaluated"}


@pytest.mark.parametrize("length", [1, 64, 128])
def test_any_legal_stack_name_deploys_with_working_grants(
    toured: set[AwsCall], length: int
) -> None:
    # Given a stack name of the shortest, a middling and the longest legal length
    name = ("v" + "cc-token-vending" * 8)[:length]
    deployment = expand(load_sam_template(), Stack(name=name, parameters=ACCOUNTS_ONLY))
    # Then the roles CloudFormation would name fit IAM's limit
    roles = [deployment.ref(role) for role in deployment.of_type("AWS::IAM::Role")]
    assert all(len(role) <= 64 for role in roles), roles
    # and every call is still allowed: no policy matches roles by name
    refused, _ = prove(toured, stack=Stack(name=name, parameters=ACCOUNTS_ONLY))
    assert not refused, report(refused)


def test_secrets_under_a_customer_managed_key_are_opened_through_secrets_manager_only(
    toured: set[AwsCall],
) -> None:
    # Given the secrets encrypted with the organization's own KMS key
    key = f"arn:aws:kms:eu-west-1:{OWN}:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
    stack = Stack(parameters={**ACCOUNTS_ONLY, "SecretsKmsKeyArn": key})
    # Then every call, Secrets Manager's use of the key included, is allowed, nothing unused
    refused, unused = prove(toured, stack=stack)
    assert not refused, report(refused)
    assert not unused, "granted but never used:\n" + "\n".join(unused)
    deployment = expand(load_sam_template(), stack)
    uses = [r for r in requests_for(toured, deployment) if r.resource == key]
    assert {(r.principal, r.action) for r in uses} == {
        ("VendFunction", "kms:Decrypt"),
        ("RefreshFunction", "kms:Decrypt"),
        ("Rotator", "kms:Decrypt"),
        ("Rotator", "kms:GenerateDataKey"),
    }
    # and the same use other than through Secrets Manager is refused
    elsewhere = [
        Request(
            r.principal,
            r.action,
            key,
            {**r.context, "kms:ViaService": "s3.eu-west-1.amazonaws.com"},
        )
        for r in uses
    ]
    decisions = evaluate(deployment, elsewhere, principals(deployment))
    assert {d.result for d in decisions} == {"ImplicitlyDenied"}


def test_the_schedule_reaches_the_refresher_and_its_dead_letter_queue_only_from_its_rule() -> None:
    deployment = expand(load_sam_template(), Stack(parameters=ACCOUNTS_ONLY))
    (rule,) = deployment.of_type("AWS::Events::Rule")
    scheduled = [r for r in requests_for(set(), deployment) if r.principal == "EventBridge"]
    assert {r.action for r in scheduled} == {"lambda:InvokeFunction", "sqs:SendMessage"}
    other_rule = deployment.arn(rule) + "-other"
    forged = [
        Request(r.principal, r.action, r.resource, {**r.context, "aws:SourceArn": other_rule})
        for r in scheduled
    ]
    decisions = evaluate(deployment, scheduled + forged, principals(deployment))
    assert [d.result for d in decisions] == [
        "Allowed",
        "Allowed",
        "ImplicitlyDenied",
        "ImplicitlyDenied",
    ]


TRACING = {
    "off": {"Tracing": "Disabled"},
    "stack rule": {"Tracing": "Active", "TracingSampling": "StackRule"},
    "X-Ray default": {"Tracing": "Active", "TracingSampling": "XRayDefault"},
}
XRAY_POLICY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"


@pytest.mark.parametrize("setting", list(TRACING))
def test_each_tracing_setting_grants_exactly_what_it_uses(
    toured: set[AwsCall], setting: str
) -> None:
    # Given the stack deployed with this tracing setting
    stack = Stack(parameters={**ACCOUNTS_ONLY, **TRACING[setting]})
    deployment = expand(load_sam_template(), stack)
    active = TRACING[setting]["Tracing"] == "Active"
    # Then the functions trace (and may write to X-Ray) exactly when tracing is on
    for function in ("VendFunction", "RefreshFunction"):
        properties = deployment.resources[function]["Properties"]
        assert ("TracingConfig" in properties) is active
        assert (
            XRAY_POLICY
            in deployment.resources[f"{function}Role"]["Properties"]["ManagedPolicyArns"]
        ) is active
    (stage,) = deployment.of_type("AWS::ApiGateway::Stage").values()
    assert stage["TracingEnabled"] is active
    # And every call, Lambda's trace segments included, is allowed; nothing granted goes unused
    refused, unused = prove(toured, stack=stack)
    assert not refused, report(refused)
    assert not unused, "granted but never used:\n" + "\n".join(unused)
    traced = [r for r in requests_for(toured, deployment) if r.action.startswith("xray:")]
    assert len(traced) == (4 if active else 0)


def test_the_stacks_sampling_rule_takes_its_values_from_the_parameters() -> None:
    parameters = {**ACCOUNTS_ONLY, "Tracing": "Active", "TracingSampleRate": "0.05"}
    deployment = expand(
        load_sam_template(),
        Stack(name="tokens-prod", parameters={**parameters, "TracingReservoir": "2"}),
    )
    ((rule,),) = [
        [p["SamplingRule"] for p in deployment.of_type("AWS::XRay::SamplingRule").values()]
    ]
    assert (str(rule["FixedRate"]), str(rule["ReservoirSize"])) == ("0.05", "2")
    assert (rule["ServiceName"], rule["ServiceType"]) == ("*", "AWS::ApiGateway::Stage")
    assert rule["ResourceARN"].startswith("arn:aws:apigateway:eu-west-1::/restapis/")
    assert rule["ResourceARN"].endswith("/stages/v1")  # this stack's API stage, by its ARN
    # X-Ray's limits (RuleName 32, ServiceName 64, ResourceARN 500), whatever the stack's name:
    # the longest CloudFormation allows, 128 characters
    longest = expand(load_sam_template(), Stack(name="s" * 128, parameters=parameters))
    ((named,),) = [[p["SamplingRule"] for p in longest.of_type("AWS::XRay::SamplingRule").values()]]
    assert len(named["RuleName"]) <= 32
    assert len(named["ServiceName"]) <= 64
    assert len(named["ResourceARN"]) <= 500
    default = expand(
        load_sam_template(),
        Stack(parameters={**ACCOUNTS_ONLY, "Tracing": "Active", "TracingSampling": "XRayDefault"}),
    )
    assert not default.of_type("AWS::XRay::SamplingRule")


def caller(name: str, account: str, organization: str | None) -> Principal:
    """A caller whose own IAM policy allows execute-api:Invoke on the API."""
    arn = f"arn:aws:iam::{account}:role/{name}"
    return Principal(name, arn, account, {"own": INVOKE_ANYTHING}, organization)


CALLERS = {
    "OwnAccount": caller("OwnAccount", OWN, ORG),
    "ListedAccount": caller("ListedAccount", LISTED, None),
    "OrganizationMember": caller("OrganizationMember", MEMBER, ORG),
    "Outsider": caller("Outsider", OUTSIDER, None),
}


@pytest.mark.parametrize(
    ("parameters", "admitted"),
    [
        ({"AllowedOrganizationId": ORG}, {"OwnAccount", "OrganizationMember"}),
        ({"AllowedAccountIds": LISTED}, {"OwnAccount", "ListedAccount"}),
        (
            {"AllowedOrganizationId": ORG, "AllowedAccountIds": LISTED},
            {"OwnAccount", "ListedAccount", "OrganizationMember"},
        ),
    ],
    ids=["organization", "accounts", "both"],
)
def test_the_resource_policy_admits_exactly_whom_the_readme_says(
    parameters: dict[str, str], admitted: set[str]
) -> None:
    # Given the API deployed with these parameters, and callers whose IAM allows the call
    deployment = expand(load_sam_template(), Stack(account=OWN, parameters=parameters))
    people = principals(deployment, CALLERS)
    route = f"arn:aws:execute-api:eu-west-1:{OWN}:{deployment.ref('TokenApi')}/v1/GET/tokens/emea/x"
    # When each calls a route
    requests = [Request(name, "execute-api:Invoke", route) for name in CALLERS]
    decisions = {d.request.principal: d.result for d in evaluate(deployment, requests, people)}
    # Then the admitted get in, everyone else is explicitly denied
    assert {name for name, result in decisions.items() if result == "Allowed"} == admitted
    assert {result for name, result in decisions.items() if name not in admitted} == {
        "ExplicitlyDenied"
    }


def test_a_private_api_admits_only_through_its_endpoints() -> None:
    parameters = {
        "AllowedAccountIds": LISTED,
        "EndpointType": "PRIVATE",
        "VpcEndpointIds": "vpce-0a1b2c3d4e5f60718",
    }
    deployment = expand(load_sam_template(), Stack(account=OWN, parameters=parameters))
    people = principals(deployment, CALLERS)
    route = f"arn:aws:execute-api:eu-west-1:{OWN}:{deployment.ref('TokenApi')}/v1/GET/tokens/emea/x"
    through = {"aws:SourceVpce": "vpce-0a1b2c3d4e5f60718"}
    elsewhere = {"aws:SourceVpce": "vpce-0ffffffffffffffff"}
    requests = [
        Request(name, "execute-api:Invoke", route, context)
        for name in ("OwnAccount", "ListedAccount")
        for context in (through, elsewhere)
    ]
    results = [d.result for d in evaluate(deployment, requests, people)]
    assert results == ["Allowed", "ExplicitlyDenied", "Allowed", "ExplicitlyDenied"]


def test_the_proof_fails_closed_on_a_call_it_cannot_place(toured: set[AwsCall]) -> None:
    from iam.calls import UnplacedCall

    stray = AwsCall("VendFunction", "s3", "GetObject", (("Bucket", "b"),))
    with pytest.raises(UnplacedCall):
        prove({*toured, stray})


def test_reserved_concurrency_is_off_by_default_and_a_parameter() -> None:
    template = load_sam_template()
    default = expand(template, Stack(parameters=ACCOUNTS_ONLY))
    assert "ReservedConcurrentExecutions" not in default.resources["RefreshFunction"]["Properties"]
    reserved = expand(
        copy.deepcopy(template),
        Stack(parameters={**ACCOUNTS_ONLY, "RefresherReservedConcurrency": "1"}),
    )
    properties = reserved.resources["RefreshFunction"]["Properties"]
    assert str(properties["ReservedConcurrentExecutions"]) == "1"
