"""The template deploys twice in one account and under any stack name: the same stack name in two
regions gives no account-wide name twice (a dashboard, an IAM name), as CloudFormation would
refuse the second, and the longest stack name keeps every name within AWS's limits."""

from __future__ import annotations

from checks.rehearsal.first_deploy import FIRST_DEPLOY, translated
from checks.rehearsal.names import ACCOUNT, LONGEST, names_of
from iam.deployment import Stack, load_sam_template, parameter_values


def names(stack: Stack, **parameters: str) -> dict[str, tuple[str, int, str]]:
    """logical id -> (name, AWS's limit, where it is unique) for `stack`."""
    sam = load_sam_template()
    values = parameter_values(sam, Stack(parameters={**FIRST_DEPLOY, **parameters}))
    return {
        logical_id: (name, named.limit, named.scope)
        for logical_id, name, named in names_of(translated(sam), stack, values)
    }


def test_one_stack_name_in_two_regions_names_nothing_account_wide_twice() -> None:
    def account_wide(region: str) -> set[str]:
        named = names(Stack(region=region, name="vcc-token-vending"))
        return {name for name, _, scope in named.values() if scope == ACCOUNT}

    ireland, virginia = account_wide("eu-west-1"), account_wide("us-east-1")
    assert ireland  # the dashboard at least: the test looks at something
    assert not ireland & virginia


def test_the_longest_stack_name_with_tracing_on_keeps_every_name_within_its_limit() -> None:
    named = names(LONGEST, Tracing="Active", TracingSampling="StackRule")
    assert "TracingSamplingRule" in named
    assert "OperationsDashboard" in named
    too_long = {
        lid: (len(name), limit) for lid, (name, limit, _) in named.items() if len(name) > limit
    }
    assert too_long == {}
