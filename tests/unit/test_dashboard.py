"""The operations dashboard in template.yaml shows metrics the code really emits, and every alarm
the template defines."""

from __future__ import annotations

import json
import re
from typing import Any

from local.metric_catalog import emitted_names
from local.stack import load_template


def dashboard() -> dict[str, Any]:
    body, _ = load_template()["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"][
        "Sub"
    ]
    document: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))
    return document


def test_every_service_metric_on_the_dashboard_is_emitted_by_the_code() -> None:
    shown = set()
    for widget in dashboard()["widgets"]:
        namespace = None
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[0], dict):  # a SEARCH over the per-credential series
                shown |= set(re.findall(r'MetricName="(\w+)"', metric[0]["expression"]))
                continue
            namespace = metric[0] if metric[0] != "." else namespace
            if namespace == "VccTokenVending":
                shown.add(metric[1])
    assert shown, "the dashboard shows no service metric"
    assert shown <= emitted_names(), shown - emitted_names()
    assert {"Requests", "UpstreamFetches", "LeaseWaits", "DependencyFaults_KMS"} <= shown
    assert {"CredentialRejections", "PreviousSecretUsed", "RotationsRefused"} <= shown


def test_every_alarm_of_the_template_is_on_the_dashboard() -> None:
    alarms = {
        name
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    widget = next(w for w in dashboard()["widgets"] if w["type"] == "alarm")
    assert {arn.removesuffix(".Arn") for arn in widget["properties"]["alarms"]} == alarms
