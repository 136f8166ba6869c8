"""The first deploy, rehearsed offline: what CloudFormation, a brand-new account and the
Serverless Application Repository would refuse, though cfn-lint and `sam validate` pass it.

Each check is a plain function of a template (and, where it needs one, the parameter values of a
first deploy); `rules/` wraps them as cfn-lint rules, so `make lint` runs them with
`cfn-lint --append-rules checks/rehearsal/rules`. The account-level prerequisites they stand for
are written down once, in docs/deploying.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    path: tuple[str | int, ...]  # where in the template
    message: str  # what AWS would say, and the documented behaviour it stands for
