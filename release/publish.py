"""Publish the built application to the organization's AWS Serverless Application Repository
(SAR): `make publish BUCKET=<artifact bucket> REGION=<region> [ORGANIZATION=o-...]`.

The sequence SAR's Developer Guide ("Publishing applications") asks for, in one command:
1. the artifact bucket lets serverlessrepo.amazonaws.com read the packaged objects, for this
   account only (a statement added to the bucket's policy, the others kept);
2. `sam package` uploads the code, the layer, LICENSE and README.md to the bucket;
3. `sam publish --fail-on-same-version` creates the application, or a new version of it, with the
   SemanticVersion of the template's metadata (one version per release: a version already
   published is refused, never overwritten);
4. with an organization ID, the application is shared with the organization's accounts (Deploy),
   the application's other policy statements kept; without one it stays private to the account.

Run again after a step failed, it goes on from there: a version SAR already holds is not
packaged or published again (`sam publish` would refuse it), so the sharing still happens.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess  # nosec B404
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from iam.deployment import ROOT, load_sam_template

BUILT_TEMPLATE = ROOT / ".aws-sam" / "build" / "template.yaml"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
READS_PACKAGES = "ServerlessRepoReadsPackagedApplication"
ORGANIZATION_DEPLOYS = "OrganizationMayDeploy"
ORGANIZATION_ID = r"^o-[a-z0-9]{10,32}$"


class PublishError(Exception):
    """A step that cannot go on, said in one line."""


def application_metadata(template: Path) -> dict[str, Any]:
    if not template.is_file():
        raise PublishError(f"no {template}: build first (make publish does)")
    metadata: dict[str, Any] = load_sam_template(template)["Metadata"][
        "AWS::ServerlessRepo::Application"
    ]
    return metadata


def with_sar_read_statement(
    policy: dict[str, Any], bucket: str, account: str, partition: str = "aws"
) -> dict[str, Any]:
    """`policy` (the bucket's, or empty) with the statement SAR needs, replacing an older one of
    the same Sid and keeping every other statement."""
    statement = {
        "Sid": READS_PACKAGES,
        "Effect": "Allow",
        "Principal": {"Service": "serverlessrepo.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": f"arn:{partition}:s3:::{bucket}/*",
        "Condition": {"StringEquals": {"aws:SourceAccount": account}},
    }
    others = [s for s in policy.get("Statement", []) if s.get("Sid") != READS_PACKAGES]
    return {"Version": policy.get("Version", "2012-10-17"), "Statement": [*others, statement]}


def with_organization_statement(
    statements: list[dict[str, Any]], organization: str
) -> list[dict[str, Any]]:
    """The application's policy statements with the organization's Deploy statement replacing an
    older one of the same id."""
    shared = {
        "StatementId": ORGANIZATION_DEPLOYS,
        "Actions": ["Deploy"],
        "Principals": ["*"],
        "PrincipalOrgIDs": [organization],
    }
    return [*(s for s in statements if s.get("StatementId") != ORGANIZATION_DEPLOYS), shared]


def grant_sar_read(s3: Any, bucket: str, account: str, partition: str = "aws") -> bool:
    """Adds SAR's read statement to the bucket's policy; False when it was already there."""
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchBucketPolicy":
            raise
        policy = {}
    wanted = with_sar_read_statement(policy, bucket, account, partition)
    if wanted == policy:
        return False
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(wanted))
    return True


def package(template: Path, bucket: str, region: str, output: Path) -> None:
    sam = [str(SAM), "package", "--template-file", str(template), "--s3-bucket", bucket,
           "--region", region, "--output-template-file", str(output)]  # fmt: skip
    _run(sam, "sam package")


def publish(packaged: Path, region: str) -> None:
    sam = [str(SAM), "publish", "--template", str(packaged), "--region", region,
           "--fail-on-same-version"]  # fmt: skip
    _run(sam, "sam publish")


def share(sar: Any, application_id: str, organization: str) -> None:
    try:
        statements = sar.get_application_policy(ApplicationId=application_id)["Statements"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "NotFoundException":
            raise
        statements = []
    sar.put_application_policy(
        ApplicationId=application_id,
        Statements=with_organization_statement(statements, organization),
    )


def application_id(sar: Any, name: str) -> str | None:
    """The account's application of that name in the client's region, if any."""
    for page in sar.get_paginator("list_applications").paginate():
        for application in page["Applications"]:
            if application["Name"] == name:
                return str(application["ApplicationId"])
    return None


def published(sar: Any, name: str, version: str) -> str | None:
    """The application's id if SAR already holds this version of it (an earlier run)."""
    found = application_id(sar, name)
    if found is None:
        return None
    try:
        sar.get_application(ApplicationId=found, SemanticVersion=version)
    except ClientError as error:
        if error.response["Error"]["Code"] != "NotFoundException":
            raise
        return None
    return found


def _run(command: list[str], what: str) -> None:
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    if subprocess.run(command, env=environment, check=False).returncode:  # noqa: S603  # nosec B603
        raise PublishError(f"{what} failed (its output is above)")


def main(argv: list[str] | None = None) -> int:
    options = _arguments().parse_args(argv)
    try:
        _publish(options)
    except PublishError as problem:
        print(f"make publish: {problem}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"make publish: AWS refused a step: {error}", file=sys.stderr)
        return 1
    return 0


def _publish(options: argparse.Namespace) -> None:
    metadata = application_metadata(options.template)
    name, version = metadata["Name"], metadata["SemanticVersion"]
    session = boto3.Session(region_name=options.region)
    identity = session.client("sts").get_caller_identity()
    account, partition = identity["Account"], identity["Arn"].split(":")[1]
    print(f"make publish: {name} {version} to SAR in {options.region}, account {account}")
    changed = grant_sar_read(session.client("s3"), options.bucket, account, partition)
    print(f"make publish: [1/4] {options.bucket}'s policy lets SAR read the packages"
          f"{' (statement added)' if changed else ' (already)'}")  # fmt: skip
    sar = session.client("serverlessrepo")
    found = published(sar, name, version)
    if found:
        print(f"make publish: [2/4] [3/4] {found} version {version} is already published")
    else:
        _package_and_publish(options, version)
        found = application_id(sar, name)
        if found is None:
            raise PublishError(f"no application named {name} after sam publish")
        print(f"make publish: [3/4] published {found} version {version}")
    if options.organization:
        share(sar, found, options.organization)
        print(f"make publish: [4/4] shared with organization {options.organization} (Deploy)")
    else:
        print("make publish: [4/4] not shared: private to this account (ORGANIZATION=o-... shares)")


def _package_and_publish(options: argparse.Namespace, version: str) -> None:
    packaged = ROOT / "build" / f"packaged-{version}.yaml"
    packaged.parent.mkdir(exist_ok=True)
    package(options.template, options.bucket, options.region, packaged)
    print(f"make publish: [2/4] packaged: {packaged.relative_to(ROOT)}")
    publish(packaged, options.region)


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make publish", description=__doc__.split("\n")[0])
    parser.add_argument("--bucket", required=True, help="the artifact bucket")
    parser.add_argument("--region", required=True, help="the region to publish in")
    parser.add_argument("--organization", default="", type=_organization)
    parser.add_argument("--template", type=Path, default=BUILT_TEMPLATE)
    return parser


def _organization(value: str) -> str:
    if value and not re.fullmatch(ORGANIZATION_ID, value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an organization ID (o-, then 10 to 32 "
                                         "lower-case letters or digits)")  # fmt: skip
    return value


if __name__ == "__main__":
    sys.exit(main())
