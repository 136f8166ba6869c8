"""X-Ray traces never hold a token: no tracer decorator captures a response, and the template
turns response capture off for every function."""

import ast
from pathlib import Path

from local.stack import ROOT, function_environment

HANDLERS = sorted((ROOT / "functions").glob("*/app.py")) + sorted(
    (ROOT / "layers" / "common" / "vcc_tokens").rglob("*.py")
)


def tracer_decorators(path: Path) -> list[ast.Call]:
    calls = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Attribute) and target.attr.startswith("capture_"):
                    calls.append(decorator)
    return calls


def test_every_tracer_decorator_turns_response_capture_off() -> None:
    decorators = [(path, call) for path in HANDLERS for call in tracer_decorators(path)]
    assert len(decorators) >= 4  # both handlers and the two routes
    for path, call in decorators:
        assert isinstance(call, ast.Call), f"{path.name}: bare @tracer decorator captures responses"
        keywords = {k.arg: k.value for k in call.keywords}
        value = keywords.get("capture_response")
        assert isinstance(value, ast.Constant), f"{path.name}:{call.lineno}: capture_response"
        assert value.value is False, f"{path.name}:{call.lineno}: capture_response=False"


def test_the_template_turns_response_capture_off_for_every_function() -> None:
    assert function_environment()["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
