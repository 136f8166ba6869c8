"""`make publish` (release/publish.py) as far as it runs without AWS: the artifact bucket's policy
for SAR and `sam package` (the real SAM CLI) against moto's S3 over HTTP. SAR itself has no
stand-in here: `sam publish` and the sharing are documented as unverified (docs/deploying.md)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from samtranslator.yaml_helper import yaml_parse

from release.publish import (
    READS_PACKAGES,
    application_metadata,
    grant_sar_read,
    package,
    published,
    with_organization_statement,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"


def test_the_bucket_lets_sar_read_its_packages_and_keeps_its_other_statements(
    aws_endpoint: str,
) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(
        Bucket="artifacts-a", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    theirs = {"Sid": "Theirs", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
              "Resource": "arn:aws:s3:::artifacts-a/*"}  # fmt: skip
    s3.put_bucket_policy(
        Bucket="artifacts-a", Policy=json.dumps({"Version": "2012-10-17", "Statement": [theirs]})
    )
    # When granted twice
    assert grant_sar_read(s3, "artifacts-a", ACCOUNT) is True
    assert grant_sar_read(s3, "artifacts-a", ACCOUNT) is False  # already there: nothing written
    # Then the bucket's own statement stays, and SAR may read objects for this account only
    statements = json.loads(s3.get_bucket_policy(Bucket="artifacts-a")["Policy"])["Statement"]
    ours = next(s for s in statements if s["Sid"] == READS_PACKAGES)
    assert theirs in statements
    assert ours["Principal"] == {"Service": "serverlessrepo.amazonaws.com"}
    assert (ours["Action"], ours["Resource"]) == ("s3:GetObject", "arn:aws:s3:::artifacts-a/*")
    assert ours["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_a_bucket_without_a_policy_gets_one(aws_endpoint: str) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(
        Bucket="artifacts-b", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    assert grant_sar_read(s3, "artifacts-b", ACCOUNT) is True
    (statement,) = json.loads(s3.get_bucket_policy(Bucket="artifacts-b")["Policy"])["Statement"]
    assert statement["Sid"] == READS_PACKAGES


def test_sam_package_uploads_the_code_the_license_and_the_readme(
    aws_endpoint: str, tmp_path: Path
) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(
        Bucket="artifacts-c", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    packaged = tmp_path / "packaged.yaml"
    # When packaged as make publish does (the source template: make publish packages the built one)
    package(ROOT / "template.yaml", "artifacts-c", "eu-west-1", packaged)
    # Then the metadata SAR reads points into the bucket, at the license and the README
    metadata = application_metadata(packaged)
    assert (
        metadata["SemanticVersion"]
        == application_metadata(ROOT / "template.yaml")["SemanticVersion"]
    )
    for field, source in (("LicenseUrl", "LICENSE"), ("ReadmeUrl", "README.md")):
        bucket, key = metadata[field].removeprefix("s3://").split("/", 1)
        assert bucket == "artifacts-c"
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert body == (ROOT / source).read_bytes()
    # and every function's code and the layer are uploaded objects
    resources = yaml_parse(packaged.read_text(encoding="utf-8"))["Resources"]
    packaged_types = ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion")
    uris = [r["Properties"].get("CodeUri") or r["Properties"].get("ContentUri")
            for r in resources.values() if r["Type"] in packaged_types]  # fmt: skip
    assert len(uris) == 3
    for uri in uris:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0


def test_sharing_keeps_the_applications_other_statements() -> None:
    theirs = {"StatementId": "Partner", "Actions": ["Deploy"], "Principals": ["210987654321"]}
    old = {"StatementId": "OrganizationMayDeploy", "Actions": ["Deploy"], "Principals": ["*"],
           "PrincipalOrgIDs": ["o-old0000000"]}  # fmt: skip
    statements = with_organization_statement([theirs, old], "o-abcdef1234")
    assert statements[0] == theirs
    assert statements[1:] == [
        {
            "StatementId": "OrganizationMayDeploy",
            "Actions": ["Deploy"],
            "Principals": ["*"],
            "PrincipalOrgIDs": ["o-abcdef1234"],
        }
    ]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--region", "eu-west-1"], "--bucket"),
        (
            ["--bucket", "b", "--region", "eu-west-1", "--organization", "123"],
            "not an organization ID",
        ),
    ],
)
def test_a_wrong_invocation_says_what_is_expected(arguments: list[str], words: str) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "release.publish", *arguments],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert ran.returncode == 2
    assert words in ran.stderr
    assert "Traceback" not in ran.stderr


def test_publishing_without_a_built_template_is_one_line(tmp_path: Path) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "release.publish", "--bucket", "b", "--region", "eu-west-1",
         "--template", str(tmp_path / "template.yaml")],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert ran.returncode == 1
    assert (
        ran.stderr.strip()
        == f"make publish: no {tmp_path / 'template.yaml'}: build first (make publish does)"
    )


def test_the_read_statement_names_the_callers_partition() -> None:
    from release.publish import with_sar_read_statement

    (statement,) = with_sar_read_statement({}, "b", ACCOUNT, "aws-cn")["Statement"]
    assert statement["Resource"] == "arn:aws-cn:s3:::b/*"


APPLICATION = "arn:aws:serverlessrepo:eu-west-1:123456789012:applications/vcc-token-vending"


@pytest.mark.parametrize(
    ("listed", "version_answer", "expected"),
    [
        (True, "held", APPLICATION),  # an earlier run published it: go on to sharing
        (True, "NotFoundException", None),  # a new version of a known application
        (False, None, None),  # the application's first version
    ],
)
def test_a_rerun_does_not_publish_again_what_sar_already_holds(
    listed: bool, version_answer: str | None, expected: str | None
) -> None:
    """Answers as SAR's API model shapes them (botocore's Stubber checks every request and
    answer against it), so a run that failed after `sam publish` can be run again."""
    sar = botocore.session.get_session().create_client(
        "serverlessrepo", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    application = {
        "ApplicationId": APPLICATION, "Name": "vcc-token-vending", "Author": "a",
        "Description": "d",
    }  # fmt: skip
    with Stubber(sar) as stub:
        stub.add_response("list_applications", {"Applications": [application] if listed else []})
        asked = {"ApplicationId": APPLICATION, "SemanticVersion": "1.4.0"}
        if version_answer == "held":
            stub.add_response("get_application", {"ApplicationId": APPLICATION}, asked)
        elif version_answer:
            stub.add_client_error("get_application", version_answer, expected_params=asked)
        assert published(sar, "vcc-token-vending", "1.4.0") == expected
        stub.assert_no_pending_responses()


def test_the_docs_list_every_call_make_publish_makes() -> None:
    """docs/deploying.md tells the publisher what to be allowed: each S3 and SAR operation
    release/publish.py calls (a paginated one by its operation) is named there."""
    tree = ast.parse((ROOT / "release" / "publish.py").read_text(encoding="utf-8"))
    operations = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        client = getattr(node.func.value, "id", None)
        if client in ("s3", "sar") and node.func.attr != "get_paginator":
            operations.add(node.func.attr)
        elif client in ("s3", "sar") and isinstance(node.args[0], ast.Constant):
            operations.add(str(node.args[0].value))
    assert {"get_bucket_policy", "put_bucket_policy", "get_application"} <= operations
    listed = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    for operation in operations:
        action = "".join(part.title() for part in operation.split("_"))
        assert f"`{action}`" in listed or f"`s3:{action}`" in listed, action
