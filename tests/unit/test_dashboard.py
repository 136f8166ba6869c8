"""Metric names have one home (vcc_token_contract.metrics): the code emits them through it, the
template's dashboard is rendered from it, and the template's alarms and Globals agree with it."""

from __future__ import annotations

import ast
import re
from typing import Any

from generators.dashboard import CREDENTIAL_ROWS, TEMPLATE, parse, render, written
from generators.metric_catalog import emitted_names
from local.stack import ROOT, load_template
from vcc_token_contract.metrics import NAMESPACE, PER_CREDENTIAL, ROUTINE, SERVICE, Metric

SERVICE_CODE = [
    *(ROOT / "layers" / "common" / "vcc_tokens").rglob("*.py"),
    *(ROOT / "functions").glob("*/app.py"),
]
EMITTERS = {"add_metric", "single_metric", "count_for_credential"}


def dashboard() -> dict[str, Any]:
    body, _ = load_template()["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"][
        "Sub"
    ]
    return parse(body)


def test_the_templates_dashboard_is_rendered_from_the_metric_names() -> None:
    template = TEMPLATE.read_text(encoding="utf-8")
    assert written(template) == template, "stale: run make docs"
    assert parse(render()) == dashboard()
    assert set(CREDENTIAL_ROWS) == PER_CREDENTIAL


def test_every_service_metric_on_the_dashboard_is_emitted_by_the_code() -> None:
    shown = set()
    for widget in dashboard()["widgets"]:
        namespace = None
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[0], dict):  # a SEARCH over the per-credential series
                shown |= set(re.findall(r'MetricName="(\w+)"', metric[0]["expression"]))
                continue
            namespace = metric[0] if metric[0] != "." else namespace
            if namespace == NAMESPACE:
                shown.add(metric[1])
    assert shown, "the dashboard shows no service metric"
    assert shown <= emitted_names(), shown - emitted_names()
    assert {"UpstreamFetches", "LeaseWaits", "DependencyFaults_KMS"} <= shown
    assert {"CredentialRejections", "PreviousSecretUsed", "RotationsRefused"} <= shown


def test_every_alarm_of_the_template_is_on_the_dashboard() -> None:
    alarms = {
        name
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    widget = next(w for w in dashboard()["widgets"] if w["type"] == "alarm")
    assert {arn.removesuffix(".Arn") for arn in widget["properties"]["alarms"]} == alarms


def called(node: ast.Call) -> str | None:
    """The name of the function a call calls (`metrics.add_metric` -> add_metric)."""
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def emitted_names_in_code() -> tuple[set[str], list[str]]:
    """The Metric members the service's code names, and every emitting call whose name is
    written out instead ("<file>:<line>")."""
    used: set[str] = set()
    spelled: list[str] = []
    for path in SERVICE_CODE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "Metric":
                used.add(node.attr)
            elif isinstance(node, ast.Call) and called(node) in EMITTERS:
                given = [k.value for k in node.keywords if k.arg == "name"] or node.args[:1]
                if any(isinstance(g, ast.Constant | ast.JoinedStr) for g in given):
                    spelled.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return used, spelled


def test_the_code_names_metrics_only_through_the_contract_and_emits_every_one() -> None:
    used, spelled = emitted_names_in_code()
    assert spelled == [], "a metric name written out: use vcc_token_contract.metrics.Metric"
    assert {metric.name for metric in Metric} <= used, "declared, never emitted"


def test_the_templates_namespace_service_and_alarms_are_the_contracts() -> None:
    template = load_template()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
    assert variables["POWERTOOLS_SERVICE_NAME"] == SERVICE
    _, substitutions = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"][
        "Sub"
    ]
    assert substitutions["Service"] == SERVICE
    alarmed = [
        resource["Properties"]["MetricName"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        and resource["Properties"].get("Namespace") == NAMESPACE
    ]
    assert alarmed, "no alarm on the service's metrics"
    assert set(alarmed) <= emitted_names(), set(alarmed) - emitted_names()


def test_every_metric_earns_its_price_on_the_dashboard_or_in_an_alarm() -> None:
    """A custom metric costs every month: each is shown on the dashboard or read by an alarm."""
    body = TEMPLATE.read_text(encoding="utf-8")
    alarms = [
        resource["Properties"]
        for resource in load_template()["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    ]
    alarmed = {a.get("MetricName") for a in alarms} | {
        name for a in alarms for m in a.get("Metrics", []) for name in re.findall(r"\w+", str(m))
    }
    dashboard = body.split("DashboardBody", 1)[1]
    shown = {m.value for m in Metric if re.search(rf"\b{m.value}\b", dashboard)}
    unused = sorted(m.value for m in Metric if m.value not in shown | alarmed)
    assert unused == []


def test_a_healthy_month_bills_only_the_routine_metrics() -> None:
    """The bench's fixed cost (bench/costs.py) counts ROUTINE as every month's series: each is
    emitted by the code and none is per credential (those exist only where a credential's event
    happened)."""
    used, _ = emitted_names_in_code()
    assert {metric.name for metric in ROUTINE} <= used
    assert not ROUTINE & PER_CREDENTIAL
