"""`make openapi`: write openapi.json, the API's OpenAPI 3 document, generated from the vend
function's Powertools resolver (routes, path parameters, response models) and completed here
with what the resolver can only infer with run-time validation, which would put pydantic in the
Lambda: the query parameter, the request bodies and the SigV4 security scheme.

A test keeps the committed file current; schemathesis tests the local stack against it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from local.lambda_runtime import load_function
from local.stack import ROOT, function_environment
from vcc_token_contract.vcc import REGIONS

DOCUMENT = ROOT / "openapi.json"
SHA256_HEX = "^[0-9a-fA-F]{64}$"

MIN_TTL = {
    "name": "min_ttl",
    "in": "query",
    "required": False,
    "description": "Least number of seconds the token must still be valid (default 60).",
    "schema": {"type": "integer", "minimum": 0, "maximum": 600},
}
REFRESH_BODY = {
    "required": False,
    "description": "The SHA-256 of the token VCC rejected; without a body, a forced refresh.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"rejected_token_sha256": {"type": "string", "pattern": SHA256_HEX}},
                "required": ["rejected_token_sha256"],
                "additionalProperties": False,
            }
        }
    },
}
OAUTH_BODY = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "properties": {
                    "grant_type": {"type": "string", "enum": ["client_credentials"]},
                    "scope": {"type": "string", "description": "Exactly one scope"},
                    "region": {"type": "string", "enum": list(REGIONS)},
                },
                "required": ["grant_type", "scope"],
            }
        }
    },
}
SIGV4 = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "description": "AWS Signature Version 4 for the service execute-api (IAM authorization)",
    "x-amazon-apigateway-authtype": "awsSigv4",
}


def build() -> dict[str, Any]:
    os.environ.update(function_environment())
    app = load_function("vend").app
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title="VCC token-vending service",
            version="1.0.0",
            description="Cached Vonage Contact Center bearer tokens for IAM-authorized callers.",
        )
    )
    paths = document["paths"]
    paths["/tokens/{region}/{scope}"]["get"].setdefault("parameters", []).append(MIN_TTL)
    paths["/tokens/{region}/{scope}/refresh"]["post"]["requestBody"] = REFRESH_BODY
    paths["/oauth2/token"]["post"]["requestBody"] = OAUTH_BODY
    document.setdefault("components", {}).setdefault("securitySchemes", {})["sigv4"] = SIGV4
    document["security"] = [{"sigv4": []}]
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> None:
    DOCUMENT.write_text(render(build()), encoding="utf-8")
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
