"""Our deployments: one description of every stack of the service, read by the Python client,
the CLI, the proxy and the admin verbs alike, so that the failover list and the list an incident
responder searches are the same fact.

    {"deployments": [
      {"name": "eu", "url": "https://abc123.execute-api.eu-west-1.amazonaws.com/v1",
       "region": "eu-west-1", "stack": "vcc-token-vending",
       "table": "<the stack's TokenTableName output>"},
      {"name": "us", "url": "https://def456.execute-api.us-east-1.amazonaws.com/v1",
       "region": "us-east-1", "stack": "vcc-token-vending", "table": "..."}]}

In failover order. `region` is where the stack runs: its AWS calls go there, and its URL is
signed for it when the hostname names no region (a custom domain). `table` is needed by `admin
status` and `purge` only. `aws_endpoint` (optional) sends the deployment's AWS calls elsewhere:
`make run`'s moto servers. Given with `--deployments FILE` or `VCC_TOKEN_DEPLOYMENTS=FILE`;
`make run` with `LOCAL_DEPLOYMENTS=2` writes one for its two local deployments.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session

from vcc_token_client.errors import BadRequest
from vcc_token_client.failover import check_url

AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
REQUIRED = ("name", "url", "region", "stack")
OPTIONAL = ("table", "aws_endpoint")


@dataclass(frozen=True)
class Deployment:
    name: str
    url: str
    region: str
    stack: str
    table: str | None = None
    aws_endpoint: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name}: stack {self.stack} in {self.region}"

    def session(self) -> botocore.session.Session:
        """A botocore session whose clients call this deployment's region (and endpoint)."""
        return _DeploymentSession(self.region, self.aws_endpoint)


class _DeploymentSession(botocore.session.Session):
    def __init__(self, region: str, endpoint_url: str | None) -> None:
        super().__init__()
        self.set_config_variable("region", region)
        self._endpoint_url = endpoint_url

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        if self._endpoint_url:
            kwargs.setdefault("endpoint_url", self._endpoint_url)
        return super().create_client(*args, **kwargs)


def load_deployments(path: str | Path) -> tuple[Deployment, ...]:
    """The description in a file, checked: BadRequest (exit 2) saying what is wrong."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as problem:
        raise _bad(path, f"cannot read it as JSON ({type(problem).__name__})") from None
    entries = document.get("deployments") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise _bad(path, 'expected {"deployments": [{"name", "url", "region", "stack"}, ...]}')
    deployments = tuple(_deployment(path, number, entry) for number, entry in enumerate(entries))
    for field in ("name", "url"):
        values = [getattr(deployment, field) for deployment in deployments]
        if len(set(values)) != len(values):
            raise _bad(path, f"two deployments have the same {field}")
    return deployments


def _deployment(path: str | Path, number: int, entry: object) -> Deployment:
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in REQUIRED):
        raise _bad(path, f"deployment {number} needs {', '.join(REQUIRED)} (strings)")
    unknown = set(entry) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise _bad(path, f"deployment {number} has unknown keys: {', '.join(sorted(unknown))}")
    if not AWS_REGION.match(entry["region"]):
        raise _bad(
            path, f"deployment {number}: region {entry['region'][:30]!r} is not an AWS region"
        )
    try:
        url = check_url(entry["url"])
    except BadRequest as problem:
        raise _bad(path, f"deployment {number}: {problem.message}") from None
    return Deployment(**{**entry, "url": url})


def _bad(path: str | Path, why: str) -> BadRequest:
    return BadRequest(None, "bad_deployments", f"{path}: {why}")
