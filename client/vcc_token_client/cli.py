"""`vcc-token`: a token for scheduled jobs and shells.

    vcc-token token emea agents-availability:read            # the token
    vcc-token token emea agents-availability:read --header   # Authorization: Bearer ...
    vcc-token token emea agents-availability:read --json     # the service's whole answer

The service's URL comes from --url or VCC_TOKEN_SERVICE_URL; AWS credentials from the usual
chain (environment, profile, role). Exit codes:
  0 ok   2 bad input (usage, unknown region or scope)   3 forbidden
  4 upstream unavailable (VCC failing or rate limiting; retry later)
  5 service unreachable (network, URL, or no AWS credentials)   1 anything else
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from vcc_token_client.client import TokenClient
from vcc_token_client.errors import (
    BadRequest,
    Forbidden,
    ServiceUnreachable,
    TokenServiceError,
    UpstreamUnavailable,
)

EXIT_CODES = {BadRequest: 2, Forbidden: 3, UpstreamUnavailable: 4, ServiceUnreachable: 5}


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="vcc-token",
        description="Get a VCC bearer token from the token-vending service.",
        epilog=__doc__.split("Exit codes:")[1].strip() if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument(
        "--url",
        default=os.environ.get("VCC_TOKEN_SERVICE_URL"),
        help="the service's base URL (default: $VCC_TOKEN_SERVICE_URL)",
    )
    cli.add_argument(
        "--min-ttl", type=int, default=60, help="seconds the token must still be valid"
    )
    cli.add_argument("--signing-region", help="AWS region to sign for (default: from the URL)")
    commands = cli.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a token")
    token.add_argument("region", help="emea, nam or apac")
    token.add_argument("scope", help="for example agents-availability:read")
    shape = token.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    shape.add_argument("--header", action="store_true", help="print an Authorization header line")
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.url:
        print("vcc-token: no service URL: pass --url or set VCC_TOKEN_SERVICE_URL", file=sys.stderr)
        return 2
    client = TokenClient(args.url, min_ttl=args.min_ttl, signing_region=args.signing_region)
    try:
        token = client.token(args.region, args.scope)
    except TokenServiceError as error:
        print(f"vcc-token: {error}", file=sys.stderr)
        return next((code for kind, code in EXIT_CODES.items() if isinstance(error, kind)), 1)
    if args.json:
        print(
            json.dumps(
                {
                    "access_token": token.access_token,
                    "token_type": "Bearer",
                    "expires_in": int(token.seconds_left()),
                    "region": token.region,
                    "scope": token.scope,
                }
            )
        )
    elif args.header:
        print(f"Authorization: {token.authorization}")
    else:
        print(token.access_token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
