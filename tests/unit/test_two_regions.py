"""The template deploys twice in one account: the same stack name in two regions gives no
account-wide name twice (a dashboard, an IAM name), as CloudFormation would refuse the second."""

from __future__ import annotations

from typing import Any

from iam.deployment import Stack, expand, load_sam_template

# Resource types whose names are global to the account, and the property that names them
ACCOUNT_WIDE = {
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
}


def account_wide_names(region: str) -> set[tuple[str, Any]]:
    deployment = expand(load_sam_template(), Stack(region=region, name="vcc-token-vending"))
    names = set()
    for kind, name in ACCOUNT_WIDE.items():
        for properties in deployment.of_type(kind).values():
            if name in properties:
                names.add((kind, str(properties[name])))
    return names


def test_one_stack_name_in_two_regions_names_nothing_account_wide_twice() -> None:
    ireland, virginia = account_wide_names("eu-west-1"), account_wide_names("us-east-1")
    assert ireland  # the dashboard at least: the test looks at something
    assert not ireland & virginia
