"""`vcc-token`'s arguments: the verbs, their options and examples, and which function of
vcc_token_client.cli_verbs runs each."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from vcc_token_client import __version__, cli_verbs
from vcc_token_client.admin import rules
from vcc_token_client.client import ATTEMPT_DEADLINE
from vcc_token_contract.api import DEFAULT_MIN_TTL
from vcc_token_contract.events import DEFAULT_RENEW_RATE_MINUTES
from vcc_token_contract.names import DEFAULT_CREDENTIAL, DEFAULT_SECRET_PREFIX
from vcc_token_contract.vcc import REGIONS, SCOPES

REGION_HELP = " or ".join((", ".join(REGIONS[:-1]), REGIONS[-1]))  # emea, nam or apac


def scope(value: str) -> str:
    """A scope VCC documents, or argparse's exit 2 naming the value and what is allowed."""
    if value not in SCOPES:
        raise argparse.ArgumentTypeError(
            f"unknown scope {value[:64]!r}; allowed: {', '.join(SCOPES)}"
        )
    return value


def region(value: str) -> str:
    """A VCC region, or argparse's exit 2 naming the value and what is allowed."""
    if value not in REGIONS:
        raise argparse.ArgumentTypeError(
            f"unknown region {value[:40]!r}; allowed: {', '.join(REGIONS)}"
        )
    return value


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
    checks = admin_verb.add_subparsers(dest="check", required=True)
    _check_rules_verb(checks)
    _explain_verb(checks)
    _operations_verbs(checks)
    return cli


# The options every verb takes, before or after it (their defaults: GLOBAL_DEFAULTS)
GLOBAL_OPTIONS: dict[str, dict[str, Any]] = {
    "--url": {
        "help": "the service's base URL (https; http only to this machine), or several, "
        "comma-separated, to fail over between deployments in that order: one that fails comes "
        "last for about 30 s, remembered across runs in ~/.cache/vcc-token/failover.json "
        "(default: $VCC_TOKEN_SERVICE_URL)",
    },
    "--deployments": {
        "help": "a JSON file describing every deployment (URL, region, stack, table): the token "
        "and the proxy fail over between them in its order when no --url is given; the admin "
        "verbs run against each when no --stack, --table or --api is given "
        "(default: $VCC_TOKEN_DEPLOYMENTS)",
    },
    "--timeout": {
        "type": float,
        "help": "seconds one attempt against one deployment may take, connecting and the whole "
        f"answer included, before the next is tried (default {ATTEMPT_DEADLINE:g})",
    },
    "--min-ttl": {"type": int, "help": "seconds the token must still be valid"},
    "--profile": {"help": "the AWS profile to sign and call AWS with (default: $AWS_PROFILE)"},
    "--signing-region": {
        "help": "AWS region to sign for when a URL's hostname names none (a custom domain); an "
        "execute-api hostname is always signed for its own region (default: the configured "
        "region)",
    },
}


def global_defaults() -> dict[str, object]:
    return {
        "--url": os.environ.get("VCC_TOKEN_SERVICE_URL"),
        "--deployments": os.environ.get("VCC_TOKEN_DEPLOYMENTS"),
        "--timeout": ATTEMPT_DEADLINE,
        "--min-ttl": DEFAULT_MIN_TTL,
        "--signing-region": None,
        "--profile": None,
    }


def global_options(cli: Any, defaults: dict[str, object] | None) -> None:
    """The global options: on the main parser with their defaults, and on every verb with none
    (argparse.SUPPRESS), so they may come before or after the verb."""
    for flag, options in GLOBAL_OPTIONS.items():
        default = defaults[flag] if defaults is not None else argparse.SUPPRESS
        cli.add_argument(flag, default=default, **options)


def verb(
    commands: Any,
    name: str,
    summary: str,
    examples: list[str],
    run: cli_verbs.Verb | None = None,
    **extra: str,
) -> Any:
    """A subcommand whose --help ends with examples, taking the global options too, run by
    `run` (None: a group of verbs)."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples) if examples else None
    parser = commands.add_parser(
        name,
        help=summary,
        description=extra.get("description", summary),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    global_options(parser, None)
    if run is not None:
        parser.set_defaults(run=run)
    return parser


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


def _check_rules_verb(checks: Any) -> None:
    check_rules = verb(
        checks,
        "check-rules",
        "validate an entitlements document",
        [
            "vcc-token admin check-rules entitlements.json",
            "vcc-token admin check-rules --tier Advanced entitlements.json",
        ],
        run=cli_verbs.run_check_rules,
    )
    check_rules.add_argument("file", type=Path)
    check_rules.add_argument(
        "--tier",
        choices=sorted(rules.PARAMETER_TIER_BYTES),
        default="Standard",
        help="the SSM parameter's tier: Standard holds 4 KB, Advanced 8 KB (default Standard)",
    )


def _explain_verb(checks: Any) -> None:
    explain = verb(
        checks,
        "explain",
        "which rule lets a caller have a scope, and which credential serves it",
        [
            "vcc-token admin explain arn:aws:iam::111122223333:role/orders-service emea "
            "users:read --rules entitlements.json",
            "vcc-token admin explain arn:aws:iam::111122223333:role/orders-service emea "
            "users:read --parameter /vcc-token-vending/entitlements --routes routes.json",
        ],
        run=cli_verbs.run_explain,
    )
    explain.add_argument("caller_arn")
    explain.add_argument("region")
    explain.add_argument("scope")
    source = explain.add_mutually_exclusive_group(required=True)
    source.add_argument("--rules", type=Path, help="an entitlements document")
    source.add_argument("--parameter", help="the SSM parameter the service reads")
    explain.add_argument(
        "--routes",
        type=Path,
        help="the stack's CredentialRoutes JSON, to name the credential behind the key "
        "(default: $VCC_CREDENTIALS; none: each region's default credential)",
    )


def _operations_verbs(checks: Any) -> None:
    _status_verb(checks)
    _rotate_verb(checks)
    _purge_verb(checks)
    _ledger_verbs(checks)
    _dead_letters_verb(checks)
    _smoke_verb(checks)


def _status_verb(checks: Any) -> None:
    status = verb(
        checks,
        "status",
        "every cached key (without its token) and each credential's health",
        ["vcc-token admin status --table <TokenTableName output>", "... --json | jq ."],
        run=cli_verbs.run_status,
    )
    status.add_argument(
        "--table", help="the service's DynamoDB table (else each of --deployments')"
    )
    status.add_argument("--json", action="store_true")


def _rotate_verb(checks: Any) -> None:
    rotate = verb(
        checks,
        "rotate",
        "store a re-issued VCC secret (from stdin) as pending; the refresher proves it "
        "with VCC, then makes it current",
        [
            "vcc-token admin rotate --region emea --credential admin "
            "--function <RefreshFunctionName output>   # then paste the secret, Ctrl-D",
        ],
        run=cli_verbs.run_rotate,
    )
    rotate.add_argument("--region", required=True, type=region, help=REGION_HELP)
    rotate.add_argument(
        "--credential",
        default=DEFAULT_CREDENTIAL,
        help=f"its name (default: {DEFAULT_CREDENTIAL})",
    )
    rotate.add_argument("--function", required=True, help="the stack's RefreshFunctionName output")
    rotate.add_argument(
        "--secret-prefix",
        default=DEFAULT_SECRET_PREFIX,
        help=f"the stack's SecretPrefix (default {DEFAULT_SECRET_PREFIX})",
    )
    rotate.add_argument("--scope", help="the scope to prove it with (default: its first)")


def _purge_verb(checks: Any) -> None:
    purge = verb(
        checks,
        "purge",
        "remove cached tokens, for an incident",
        ["vcc-token admin purge --table <TokenTableName output> --region emea --credential admin"],
        run=cli_verbs.run_purge,
    )
    purge.add_argument("--table", help="the service's DynamoDB table (else each of --deployments')")
    purge.add_argument("--region", required=True, type=region, help=REGION_HELP)
    purge.add_argument("--credential", help="only this credential's tokens")
    purge.add_argument("--scope", type=scope, help="only this scope's token")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _ledger_verbs(checks: Any) -> None:
    who = verb(
        checks,
        "who-had",
        "who received a token (a leak): from the vending function's log",
        [
            "vcc-token admin who-had 3f7c...e1 --stack vcc-token-vending --since 7d",
            "pbpaste | vcc-token admin who-had --stack vcc-token-vending  # hashed here",
        ],
        run=cli_verbs.run_ledger,
    )
    who.add_argument(
        "fingerprint", nargs="?", help="the token's SHA-256 (else: the token on stdin)"
    )
    _ledger_window(who)
    served = verb(
        checks,
        "served-to",
        "which tokens a caller received: from the vending function's log",
        ["vcc-token admin served-to arn:aws:sts::111122223333:assumed-role/orders/job --stack S"],
        run=cli_verbs.run_ledger,
    )
    served.add_argument("caller_arn", help="the caller's ARN, as the log names it")
    _ledger_window(served)


def _dead_letters_verb(checks: Any) -> None:
    dead = verb(
        checks,
        "dead-letters",
        "what the refresher could not do: list, redrive or purge it",
        [
            "vcc-token admin dead-letters --queue-url <RefreshDeadLetterQueueUrl output> list",
            "vcc-token admin dead-letters --queue-url <URL> redrive --function "
            "<RefreshFunctionName output>",
            "vcc-token admin dead-letters --queue-url <URL> purge --yes",
        ],
        run=cli_verbs.run_dead_letters,
    )
    dead.add_argument("action", choices=["list", "redrive", "purge"])
    dead.add_argument("--queue-url", required=True, help="the stack's RefreshDeadLetterQueueUrl")
    dead.add_argument("--function", help="redrive: the stack's RefreshFunctionName output")
    dead.add_argument("--yes", action="store_true", help="purge: do not ask for confirmation")


def _smoke_verb(checks: Any) -> None:
    smoke = verb(
        checks,
        "smoke",
        "after a deploy: a signed GET, a refresh, OAuth 2.0, alarms, refresher",
        [
            "vcc-token admin smoke --api <ApiUrl output> --region emea "
            "--scope agents-availability:read --stack vcc-token-vending"
        ],
        run=cli_verbs.run_smoke,
    )
    smoke.add_argument("--api", help="the stack's ApiUrl output (else each of --deployments')")
    smoke.add_argument("--region", default="emea", help="VCC region to ask for (default emea)")
    smoke.add_argument(
        "--scope",
        default="agents-availability:read",
        help="a scope the signing principal is entitled to (default agents-availability:read)",
    )
    smoke.add_argument("--stack", help="the stack's name: also check its alarms and refresher")
    smoke.add_argument(
        "--refresh-rate-minutes",
        type=int,
        default=DEFAULT_RENEW_RATE_MINUTES,
        help="the stack's RefreshRateMinutes: its refresher must have run within twice that "
        "(default 5, the template's)",
    )
    smoke.add_argument(
        "--run-refresher",
        metavar="FUNCTION",
        help="with --stack: run the stack's refresher (its RefreshFunctionName output) once, as "
        "its schedule does, before reading its last run: right after a deploy",
    )


def _ledger_window(ledger_verb: Any) -> None:
    """Where the issuance ledger is (the stack's vending log group) and how far back to read."""
    ledger_verb.add_argument("--stack", help="the stack's name (else each of --deployments')")
    ledger_verb.add_argument(
        "--since", default="30d", help="how far back: 30m, 24h, 30d (default 30d)"
    )


def version_line() -> str:
    """The client's version, and the service code's beside it when installed."""
    try:
        from vcc_tokens import __version__ as service
    except ImportError:
        return f"vcc-token {__version__}"
    return f"vcc-token {__version__} (service code {service})"
