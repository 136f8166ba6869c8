"""openapi.json is the resolver's current contract, and generating it needs no pydantic in the
Lambda: the function imports without it."""

import json
import os
import subprocess
import sys

from local.openapi import DOCUMENT, build, render
from local.stack import ROOT, function_environment


def test_the_committed_document_is_current() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == render(build()), "run `make openapi`"


def test_every_route_documents_its_answers() -> None:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    operations = [
        (path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()
    ]
    assert {(path, method) for path, method, _ in operations} == {
        ("/tokens/{region}/{scope}", "get"),
        ("/tokens/{region}/{scope}/refresh", "post"),
        ("/oauth2/token", "post"),
    }
    for _, _, operation in operations:
        assert {"200", "400", "403", "500", "503"} <= set(operation["responses"])
    assert document["security"] == [{"sigv4": []}]


def test_the_function_does_not_import_pydantic_at_run_time() -> None:
    probe = (
        "import sys; from local.lambda_runtime import load_function; load_function('vend'); "
        "print('pydantic' in sys.modules)"
    )
    env = {
        **os.environ,
        **function_environment(),
        "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}",
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
