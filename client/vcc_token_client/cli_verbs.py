"""What each `vcc-token` verb does, given its parsed arguments (vcc_token_client.cli_parser
names the verbs and hands each its function)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

from vcc_token_client.client import TokenClient
from vcc_token_client.deployments import load_deployments
from vcc_token_client.errors import Exit, TokenServiceError, exit_code
from vcc_token_client.failover import FailoverMemory


def token_client(
    args: argparse.Namespace, service_url: str | Sequence[str] | None = None, **options: Any
) -> TokenClient:
    """The client the options describe: `service_url` or --url (comma-separated: the failover
    order), else --deployments (each signed for its region); BadRequest if they are wrong."""
    options = {"min_ttl": args.min_ttl, "timeout": args.timeout, **options}
    url = service_url or args.url
    if url:
        return TokenClient(url, signing_region=args.signing_region, **options)
    return TokenClient.for_deployments(load_deployments(args.deployments), **options)


def run_token(args: argparse.Namespace) -> Exit:
    if not args.url and not args.deployments:
        print(
            "vcc-token: no service URL: pass --url (or set VCC_TOKEN_SERVICE_URL) or "
            "--deployments (or set VCC_TOKEN_DEPLOYMENTS)",
            file=sys.stderr,
        )
        return Exit.BAD_INPUT
    try:
        client = token_client(
            args,
            failover_memory=FailoverMemory.in_user_cache(),  # a job per process: remembered
        )
        token = client.token(args.region, args.scope)
    except TokenServiceError as error:
        print(f"vcc-token: {error}", file=sys.stderr)
        return exit_code(error)
    if args.json:  # the service's whole answer: expires_at, and min_ttl_met when short
        print(json.dumps(dict(token.answer)))
    elif args.header:
        print(f"Authorization: {token.authorization}")
    else:
        print(token.access_token)
    return Exit.OK


def run_proxy(args: argparse.Namespace) -> Exit:
    from vcc_token_client import proxy

    try:
        config = proxy.ProxyConfig.load(args.config, deployments_given=bool(args.deployments))
    except proxy.ConfigError as error:
        print(f"vcc-token proxy: {error}", file=sys.stderr)
        return Exit.BAD_INPUT
    try:
        tokens = token_client(args, config.service_url, api_base_url=config.api_base_url)
    except TokenServiceError as error:
        print(f"vcc-token proxy: {error.message}", file=sys.stderr)
        return Exit.BAD_INPUT
    try:
        server = proxy.serve(config, tokens, args.port)
    except proxy.WaitressMissing as missing:
        print(f"vcc-token proxy: {missing}", file=sys.stderr)
        return Exit.BAD_INPUT
    except OSError as error:
        print(
            f"vcc-token proxy: cannot listen on 127.0.0.1:{args.port} ({error.strerror})",
            file=sys.stderr,
        )
        return Exit.UNREACHABLE
    print(f"vcc-token proxy on http://127.0.0.1:{server.effective_port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(Exit.OK))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        server.run()
    return Exit.OK
