"""The layer ships only the botocore models of the services the functions call
(layers/common/ship_models.py): the set is the code's own clients, and each of those clients
works, against moto over HTTP, with a botocore that holds nothing else."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import botocore
import pytest
from ship_models import keep_only, shipped_services  # layers/common, as the layer's build runs it

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common"

CALLS = """
import botocore, json, sys
from botocore.exceptions import UnknownServiceError
from vcc_tokens.aws.clients import aws_client
from botocore.config import Config
assert botocore.__file__.startswith(sys.argv[1]), botocore.__file__
config = Config(retries={"total_max_attempts": 1})
answers = {
    "dynamodb": lambda c: c.list_tables(),
    "kms": lambda c: c.list_keys(),
    "lambda": lambda c: c.list_functions(),
    "secretsmanager": lambda c: c.list_secrets(),
    "ssm": lambda c: c.describe_parameters(),
}
for service in sys.argv[2:]:
    answers[service](aws_client(service, config))  # raises if the model or its rules are missing
try:
    aws_client("s3", config)
except UnknownServiceError:
    print("s3: not shipped")
print("ok")
"""


def clients_made_in_the_layer() -> set[str]:
    made = set()
    for path in (LAYER / "vcc_tokens").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = isinstance(node, ast.Call) and ast.unparse(node.func) == "aws_client"
            if called and node.args and isinstance(node.args[0], ast.Constant):
                made.add(str(node.args[0].value))
    return made


def test_the_layer_ships_the_model_of_every_client_it_makes_and_no_other() -> None:
    assert clients_made_in_the_layer() == shipped_services()


def test_the_functions_clients_work_with_only_the_shipped_models(
    aws_endpoint: str, tmp_path: Path
) -> None:
    # Given botocore as the layer ships it: every model but the five removed
    sdk = tmp_path / "sdk"
    shutil.copytree(Path(botocore.__file__).parent, sdk / "botocore",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    removed = keep_only(sdk / "botocore" / "data", shipped_services())
    assert len(removed) > 400
    # When each of the functions' clients is made from it and makes one call to moto
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(sdk), str(LAYER)])}
    ran = subprocess.run(
        [sys.executable, "-c", CALLS, str(sdk), *sorted(shipped_services())],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    # Then every call answers, and a service the layer does not ship is unknown to it
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.split() == ["s3:", "not", "shipped", "ok"]
