"""openapi.json is the resolver's current contract, and generating it needs no pydantic in the
Lambda: the function imports without it."""

import json

from generators.openapi import DOCUMENT, build, render


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
