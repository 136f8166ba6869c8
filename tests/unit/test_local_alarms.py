"""The local stack's alarm evaluation (local/alarms.py): every alarm of the template is read,
none written again, and judged as CloudWatch judges it."""

from __future__ import annotations

import pytest

from local.alarms import AlarmRule, Datapoint, MetricStore, emf_datapoints, rules
from local.stack import template_alarms

NOW = 1_800_000_000.0


def by_name() -> dict[str, AlarmRule]:
    return {
        rule.name.removeprefix("vcc-token-vending-local-"): rule
        for rule in rules(template_alarms())
    }


def test_every_template_alarm_becomes_a_rule_with_the_templates_numbers() -> None:
    found = by_name()
    assert set(found) == {
        "upstream-errors", "dependency-faults", "api-5xx-rate", "refresh-dead-letters",
        "credential-rejected", "renewal-failures",
    }  # fmt: skip
    upstream = found["upstream-errors"]
    assert (upstream.metric, upstream.statistic, upstream.period, upstream.threshold) == (
        "UpstreamErrors", "Sum", 300.0, 5.0,
    )  # fmt: skip
    renewals = found["renewal-failures"]  # a Metrics Insights query, grouped by credential
    assert (renewals.metric, renewals.group_by, renewals.datapoints_to_alarm) == (
        "RenewalFailures", "Credential", 3,
    )  # fmt: skip
    assert rules(template_alarms(), scale=60)[0].period == 5.0


def store_with(*points: tuple[str, dict[str, str], float, float]) -> MetricStore:
    store = MetricStore()
    for metric, dimensions, value, seconds_ago in points:
        store.add(Datapoint("VccTokenVending", metric, dimensions, value, NOW - seconds_ago))
    return store


@pytest.mark.parametrize(("errors", "state"), [(4, "OK"), (5, "ALARM")])
def test_a_sum_at_the_threshold_breaches(errors: int, state: str) -> None:
    service = {"service": "vcc-token-vending"}
    store = store_with(*[("UpstreamErrors", service, 1.0, 10.0)] * errors)
    assert by_name()["upstream-errors"].state(store, NOW) == state


def test_old_datapoints_no_longer_count() -> None:
    store = store_with(*[("UpstreamErrors", {"service": "vcc-token-vending"}, 1.0, 301.0)] * 9)
    assert by_name()["upstream-errors"].state(store, NOW) == "OK"


def test_a_grouped_alarm_needs_one_group_to_breach_every_period_it_asks() -> None:
    rule = by_name()["renewal-failures"]  # 3 of 3 periods of 300 s, by credential
    a, b = {"Credential": "emea/default"}, {"Credential": "nam/default"}
    two_periods = store_with(("RenewalFailures", a, 1, 10), ("RenewalFailures", a, 1, 310))
    assert rule.state(two_periods, NOW) == "OK"
    spread = store_with(
        ("RenewalFailures", a, 1, 10),
        ("RenewalFailures", a, 1, 310),
        ("RenewalFailures", b, 1, 610),
    )
    assert rule.state(spread, NOW) == "OK"  # three periods, but not of one credential
    three = store_with(*[("RenewalFailures", a, 1, ago) for ago in (10, 310, 610)])
    assert rule.state(three, NOW) == "ALARM"


def test_the_functions_metric_lines_become_datapoints() -> None:
    line = (
        '{"_aws": {"Timestamp": 1800000000000, "CloudWatchMetrics": [{"Namespace": '
        '"VccTokenVending", "Dimensions": [["Credential"]], "Metrics": [{"Name": '
        '"CredentialRejections", "Unit": "Count"}]}]}, "Credential": "apac/default", '
        '"CredentialRejections": [1.0]}'
    )
    [point] = emf_datapoints(f"not json\n{line}\n", at=0)
    assert (point.metric, point.dimensions, point.value, point.at) == (
        "CredentialRejections", {"Credential": "apac/default"}, 1.0, NOW,
    )  # fmt: skip
