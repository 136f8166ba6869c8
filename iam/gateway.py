"""The API's resource policy as API Gateway applies it, for the local API front: each known
caller's access to each route, decided once at start-up by the evaluator (iam.evaluation)
from the template's own policy, for the local stack's parameters. The callers' own IAM policies
are taken to allow execute-api:Invoke: what remains to decide is the resource policy's part.
"""

from __future__ import annotations

from dataclasses import dataclass

from iam.calls import api_routes
from iam.deployment import Stack, expand, load_sam_template
from iam.evaluation import Principal, Request, evaluate, principals

LOCAL_ACCOUNT = "123456789012"  # moto's account: the local stack's own
INVOKE_ANYTHING = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Invoke", "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}
    ],
}


@dataclass(frozen=True)
class LocalCaller:
    key: str  # the caller's access key id
    principal_arn: str
    organization_id: str | None


@dataclass(frozen=True)
class ResourcePolicy:
    """Which (caller key, method, resource path) the API's resource policy lets in."""

    admitted: frozenset[tuple[str, str, str]]
    stage_arn: str  # arn:aws:execute-api:<region>:<account>:<api id>/<stage>

    def admits(self, key: str, method: str, resource: str) -> bool:
        return (key, method, resource) in self.admitted

    def refusal(self, principal_arn: str, method: str, path: str) -> str:
        """API Gateway's message for a request its resource policy denies."""
        return (
            f"User: {principal_arn} is not authorized to perform: execute-api:Invoke on "
            f"resource: {self.stage_arn}/{method}{path} with an explicit deny"
        )


def resource_policy(callers: list[LocalCaller], parameters: dict[str, str]) -> ResourcePolicy:
    deployment = expand(load_sam_template(), Stack(account=LOCAL_ACCOUNT, parameters=parameters))
    people = principals(
        deployment,
        {
            caller.key: Principal(
                caller.key,
                caller.principal_arn,
                caller.principal_arn.split(":")[4],
                {"own": INVOKE_ANYTHING},
                caller.organization_id,
            )
            for caller in callers
        },
    )
    routes = api_routes(deployment)
    requests = [
        Request(caller.key, "execute-api:Invoke", arn) for caller in callers for arn, *_ in routes
    ]
    decisions = iter(evaluate(deployment, requests, people))
    admitted = set()
    for caller in callers:
        for _arn, method, path, _function in routes:
            if next(decisions).allowed:
                admitted.add((caller.key, method, path))
    stage_arn = routes[0][0].split("/", 2)[0] + "/" + routes[0][0].split("/", 2)[1]
    return ResourcePolicy(frozenset(admitted), stage_arn)
