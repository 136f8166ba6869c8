"""What every verb of the CLI shares: the global options (before or after the verb), the argument
types that name what is allowed (a VCC region, a scope), and how a verb's parser is made."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from vcc_token_client.client import ATTEMPT_DEADLINE
from vcc_token_client.errors import Exit
from vcc_token_contract.api import DEFAULT_MIN_TTL
from vcc_token_contract.vcc import REGIONS, SCOPES

Verb = Callable[[argparse.Namespace], Exit]  # what runs one verb, given its parsed arguments


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
    run: Verb | None = None,
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
