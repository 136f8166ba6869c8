"""Tracing is Lambda's and API Gateway's own (the template's Tracing parameter): nothing in the
functions writes a span, so no trace can hold a token, and no X-Ray SDK (end of support
2027-02-25) ships in the layer (docs/design-tracing.md)."""

import ast
import re

from local.stack import ROOT, function_environment

SOURCES = sorted((ROOT / "functions").glob("*/app.py")) + sorted(
    (ROOT / "layers" / "common" / "vcc_tokens").rglob("*.py")
)
TRACING_SDKS = ("aws_xray_sdk", "opentelemetry")


def imported(path: object) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def test_no_function_code_imports_a_tracing_sdk_or_powertools_tracer() -> None:
    for path in SOURCES:
        for name in imported(path):
            assert not name.startswith(TRACING_SDKS), f"{path.name} imports {name}"
            assert name != "aws_lambda_powertools.Tracer", f"{path.name} imports the Tracer"


def test_the_layer_ships_no_tracing_sdk() -> None:
    lock = (ROOT / "layers" / "common" / "requirements.txt").read_text(encoding="utf-8")
    pinned = set(re.findall(r"^([a-z0-9._-]+)==", lock, re.MULTILINE))
    assert not {"aws-xray-sdk", "opentelemetry-api", "opentelemetry-sdk"} & pinned
    assert "aws-lambda-powertools" in pinned  # its [tracer] extra left out


def test_the_template_sets_no_tracer_settings() -> None:
    assert not [name for name in function_environment() if "TRACER" in name or "XRAY" in name]
