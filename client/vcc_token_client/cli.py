"""`vcc-token`: tokens for scheduled jobs and shells, a token-injecting proxy, and admin answers.

    vcc-token token emea agents-availability:read            # the token
    vcc-token token emea agents-availability:read --header   # Authorization: Bearer ...
    vcc-token token emea agents-availability:read --json     # the service's whole answer
    vcc-token proxy --config proxy.json [--port 8700]        # see vcc_token_client/proxy.py
    vcc-token admin check-rules FILE | explain ARN REGION SCOPE | status --table NAME
    vcc-token admin smoke --api URL [--region R --scope S] [--stack NAME]   # after a deploy
    vcc-token admin rotate --region R [--credential N] --function F < secret   # rotation
    vcc-token admin purge --table T --region R [--credential N] [--scope S] [--yes]
    vcc-token admin dead-letters --queue-url URL list | redrive --function F | purge [--yes]
    vcc-token admin who-had [SHA256] --stack S | served-to CALLER_ARN --stack S   # a leak

The service's URL comes from --url or VCC_TOKEN_SERVICE_URL (the proxy's from its config file);
AWS credentials from the usual chain (environment, profile, role). `vcc-token VERB --help` shows
each verb's options and examples.

Exit codes: `vcc-token --help` lists them (vcc_token_client.errors.Exit, one meaning each).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from botocore.exceptions import BotoCoreError

from vcc_token_client import cli_parser
from vcc_token_client.cli_options import Verb
from vcc_token_client.errors import Exit, aws_setup_error

EXIT_CODES = "\n".join(f"  {code.value} {code.meaning}" for code in Exit)


def parser() -> argparse.ArgumentParser:
    return cli_parser.parser(EXIT_CODES)


def main(argv: list[str] | None = None) -> Exit:
    try:
        return run(argv)
    except BrokenPipeError:  # `... | head` closed the pipe: nothing more to say
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.OK
    except BotoCoreError as error:  # one line, never a traceback
        print(f"vcc-token: {aws_setup_error(error).message}", file=sys.stderr)
        return Exit.UNREACHABLE


def run(argv: list[str] | None = None) -> Exit:
    args = parser().parse_args(argv)
    if args.profile:  # every AWS session of this process reads it, as the AWS CLI's --profile
        os.environ["AWS_PROFILE"] = args.profile
    verb: Verb = args.run
    return verb(args)


if __name__ == "__main__":
    sys.exit(main())
