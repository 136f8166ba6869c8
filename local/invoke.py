"""`make invoke FUNCTION=VendFunction EVENT=events/get_token_emea_agents_availability.json`:
one event through one function of template.yaml, as `sam local invoke` runs it, without Docker.

In this process (a fresh one per invocation, as a cold Lambda execution environment): the
template's handler for the function's logical id, the environment SAM would give it (the
template's literal variables, the function's own, and local/sam-env.json's overrides, which
point at what `make run` created), the layer's packages on the path (PYTHONPATH, as the layer's
/opt/python is). The function's response goes to stdout as JSON, its log lines to stderr; exit
0 when the handler returned, 1 when it raised (printed as Lambda reports it), 2 for a bad
FUNCTION or EVENT. Against `make run` on other ports, the stack's exported LOCAL_AWS_ENDPOINT and
VCC_EMULATOR_URL (the lines it prints) take the place of sam-env.json's defaults.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from local.lambda_runtime import (
    LOCAL_REFRESHER,
    LOCAL_VEND_FUNCTION,
    LambdaContext,
    load_function,
)
from local.stack import LOCAL_AWS_ENV, ROOT, function_environment, load_template

SAM_ENV = ROOT / "local" / "sam-env.json"


class InvokeError(Exception):
    """A FUNCTION or EVENT that cannot be invoked: one line, exit 2."""


def function_of(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    functions = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    if logical_id not in functions:
        raise InvokeError(
            f"no function {logical_id!r} in template.yaml; it has: {', '.join(functions)}"
        )
    properties: dict[str, Any] = functions[logical_id]
    return properties


def environment(properties: dict[str, Any], exported: dict[str, str]) -> dict[str, str]:
    """What SAM sets: the Globals' and the function's literal variables, the overrides of
    local/sam-env.json, and the local stack's AWS keys and region."""
    own = properties.get("Environment", {}).get("Variables", {})
    literal = {name: value for name, value in own.items() if isinstance(value, str) and value}
    overrides = json.loads(SAM_ENV.read_text(encoding="utf-8"))["Parameters"]
    if exported.get("LOCAL_AWS_ENDPOINT"):
        overrides["AWS_ENDPOINT_URL"] = exported["LOCAL_AWS_ENDPOINT"]
    if exported.get("VCC_EMULATOR_URL"):
        overrides["VCC_TOKEN_URL_TEMPLATE"] = (
            exported["VCC_EMULATOR_URL"] + "/{region}/Auth/connect/token"
        )
    return {**function_environment(), **literal, **overrides, **LOCAL_AWS_ENV}


def read_event(path: str) -> dict[str, Any]:
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as problem:
        raise InvokeError(f"EVENT {path}: {problem.strerror}") from None
    except ValueError:
        raise InvokeError(f"EVENT {path}: not JSON") from None
    if not isinstance(event, dict):
        raise InvokeError(f"EVENT {path}: not a JSON object")
    return event


def invoke(logical_id: str, event_path: str) -> tuple[int, dict[str, Any]]:
    """(exit code, what Lambda would answer) for one event through one function."""
    properties = function_of(load_template(), logical_id)
    event = read_event(event_path)
    os.environ.update(environment(properties, dict(os.environ)))
    folder = Path(properties["CodeUri"]).name
    module_name, _, handler_name = properties["Handler"].rpartition(".")
    if module_name != "app":
        raise InvokeError(f"{logical_id}: handler {properties['Handler']!r} is not in app.py")
    # The function's log lines go to stderr: Powertools binds its stream when it loads
    with contextlib.redirect_stdout(sys.stderr):
        handler = getattr(load_function(folder), handler_name)
        try:
            name = LOCAL_VEND_FUNCTION if folder == "vend" else LOCAL_REFRESHER
            return 0, handler(event, LambdaContext(str(uuid.uuid4()), name))
        except Exception as error:  # what Lambda reports for an unhandled error
            return 1, {"errorType": type(error).__name__, "errorMessage": str(error)}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: make invoke FUNCTION=VendFunction EVENT=events/<file>.json", file=sys.stderr)
        return 2
    try:
        code, answer = invoke(*argv)
    except InvokeError as problem:
        print(f"make invoke: {problem}", file=sys.stderr)
        return 2
    print(json.dumps(answer, indent=2))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
