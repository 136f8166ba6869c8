"""`vcc-token`'s arguments: the verbs, their options and examples, and which function of
vcc_token_client.cli_verbs runs each."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vcc_token_client import __version__, cli_verbs
from vcc_token_client.admin import arguments
from vcc_token_client.cli_options import (
    REGION_HELP,
    global_defaults,
    global_options,
    verb,
)


def parser(exit_codes: str) -> argparse.ArgumentParser:
    """The CLI's arguments; each verb's parser carries the function that runs it (`run`)."""
    cli = argparse.ArgumentParser(
        prog="vcc-token",
        description="Get a VCC bearer token from the token-vending service.",
        epilog=f"exit codes:\n{exit_codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument("--version", action="version", version=version_line())
    global_options(cli, global_defaults())
    commands = cli.add_subparsers(dest="command", required=True, metavar="{token,proxy,admin}")
    _token_verb(commands)
    _proxy_verb(commands)
    admin_verb = verb(commands, "admin", "answers for the platform team", [])
    arguments.add_verbs(admin_verb.add_subparsers(dest="check", required=True))
    return cli


def _token_verb(commands: Any) -> None:
    token = verb(
        commands,
        "token",
        "print a token",
        [
            "vcc-token --url https://abc.execute-api.eu-west-1.amazonaws.com/v1 "
            "token emea agents-availability:read",
            'curl -H "$(vcc-token token emea users:read --header)" '
            "https://emea.api.cc.vonage.com/users",
        ],
        description="Print a VCC bearer token for a region and scope, signed with your AWS "
        "credentials (environment, profile or role).",
        run=cli_verbs.run_token,
    )
    token.add_argument("region", help=REGION_HELP)
    token.add_argument("scope", help="for example agents-availability:read")
    shape = token.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    shape.add_argument("--header", action="store_true", help="print an Authorization header line")


def _proxy_verb(commands: Any) -> None:
    proxy = verb(
        commands,
        "proxy",
        "inject tokens into calls to VCC's APIs",
        [
            "vcc-token proxy --config proxy.json --port 8700",
            "curl http://127.0.0.1:8700/emea/agents-availability?skillNames=French",
        ],
        description="A proxy on 127.0.0.1 that forwards /REGION/PATH to VCC's API with the "
        "route's token added. It signs its token requests with your AWS credentials "
        "(environment, profile or role: they need execute-api:Invoke and an entitlement rule). "
        'The config file is JSON: {"service_url": "<the stack\'s ApiUrl>", "routes": '
        '[{"path": "/agents-availability", "scope": "agents-availability:read"}], '
        '"api_base_url": "https://{region}.api.cc.vonage.com" (optional)}; it is checked '
        "when the proxy starts.",
        run=cli_verbs.run_proxy,
    )
    proxy.add_argument("--config", type=Path, required=True, help="routes and URLs (JSON)")
    proxy.add_argument("--port", type=int, default=8700, help="port on 127.0.0.1 (default 8700)")


def version_line() -> str:
    """The client's version, and the service code's beside it when installed."""
    try:
        from vcc_tokens import __version__ as service
    except ImportError:
        return f"vcc-token {__version__}"
    return f"vcc-token {__version__} (service code {service})"
