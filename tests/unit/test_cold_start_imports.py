"""What importing a function loads (cold start): not pydantic (the OpenAPI document is made at
build time), no tracing SDK (tracing is Lambda's own), not requests (until the first
fetch from VCC), not asyncio (which Powertools' other resolvers bring: vcc_tokens.api.rest), not
boto3 (the service makes its clients with botocore: boto3 would add s3transfer and its
multiprocessing for nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from local.stack import ROOT, function_environment

HEAVY = ("pydantic", "aws_xray_sdk", "opentelemetry", "requests", "asyncio", "boto3", "s3transfer")


def loaded_after_import(function: str, **environment: str) -> set[str]:
    probe = (
        "import sys, json; from local.lambda_runtime import load_function; "
        f"load_function({function!r}); "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    env = {
        **os.environ,
        **function_environment(),
        **environment,
        "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}",
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("function", ["vend", "refresher"])
def test_importing_a_function_loads_none_of_the_heavy_modules(function: str) -> None:
    assert loaded_after_import(function) == set()
