"""The custom metrics the service's code emits, read from the code itself: what the dashboard may
show (tests/unit/test_dashboard.py) and what CloudWatch bills per metric a month (make bench)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from local.stack import ROOT

if TYPE_CHECKING:
    from vcc_tokens.errors import UpstreamError

SOURCES = [
    *(ROOT / "layers" / "common" / "vcc_tokens").rglob("*.py"),
    *(ROOT / "functions").glob("*/app.py"),
]
AWS_SERVICES = {"DynamoDB", "KMS", "SecretsManager", "SSM"}  # vcc_tokens.aws, spaces removed


def _code() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in SOURCES)


def per_credential_names() -> set[str]:
    """Metrics with the credential as a dimension: one series per credential."""
    return set(re.findall(r'count_for_credential\(\s*"(\w+)"', _code()))


def emitted_names() -> set[str]:
    """Every metric name the code emits (one series each, but for per_credential_names)."""
    from vcc_tokens.errors import UpstreamError

    code = _code()
    names = set(re.findall(r'add_metric\(\s*name="(\w+)"', code))
    names |= set(re.findall(r'"(\w+Hits)"', code))  # the handler's HIT_METRICS
    names |= per_credential_names()
    kinds = {cls.kind for cls in _subclasses(UpstreamError)}
    names |= {f"UpstreamErrors_{kind}" for kind in kinds}
    names |= {f"DependencyFaults_{service}" for service in AWS_SERVICES}
    return names


def _subclasses(cls: type[UpstreamError]) -> set[type[UpstreamError]]:
    found: set[type[UpstreamError]] = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found
