"""What the Lambda runtime gives a handler, for running functions locally: the function module
loaded from its folder, and a context object. Light on purpose (no moto, no YAML): the cold-start
benchmark loads functions through it."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
LOCAL_VEND_FUNCTION = "vcc-token-vending-local"  # the local functions' names (local.run's too)
LOCAL_REFRESHER = f"{LOCAL_VEND_FUNCTION}-refresher"


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py under the module name `<name>_app`."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"{name}_app", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LambdaContext:
    """The attributes of the Lambda context object that Powertools reads."""

    function_version = "$LATEST"
    memory_limit_in_mb = 512

    def __init__(
        self, request_id: str = "local-request", function_name: str = LOCAL_VEND_FUNCTION
    ) -> None:
        self.aws_request_id = request_id
        self.function_name = function_name  # each function logs under its own name and ARN
        region = os.environ.get("AWS_REGION", "eu-west-1")  # the local deployment's
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 15_000
