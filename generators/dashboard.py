"""The operations dashboard's body in template.yaml, rendered from the metric names
(vcc_token_contract.metrics) and the kinds the code counts them by, so the dashboard cannot show a
metric nobody emits. `make docs` writes it into the template; a test fails when it is stale.

CloudFormation takes a dashboard's body only inline (or from S3), so the rendered JSON lives in
the template, between the markers below; `${...}` are the template's !Sub variables.
"""

from __future__ import annotations

import json
from typing import Any

from local.stack import ROOT, load_template
from vcc_token_contract.ledger import SERVED, Field
from vcc_token_contract.metrics import NAMESPACE, Metric, by_kind
from vcc_tokens.aws.clients import SERVICES as AWS_SERVICES
from vcc_tokens.values.errors import upstream_error_kinds

TEMPLATE = ROOT / "template.yaml"
START = "      DashboardBody: !Sub\n        - |\n"
END = "        - Service: "
INDENT = " " * 10


COUNTS = {"stat": "Sum", "view": "timeSeries"}
CREDENTIAL_ROWS = {  # each per-credential metric, with its row's id (a test checks all are here)
    Metric.CREDENTIAL_REJECTIONS: "rejected",
    Metric.PREVIOUS_SECRET_USED: "previous",
    Metric.ROTATIONS_REFUSED: "refused",
    Metric.RENEWAL_FAILURES: "failed",
}


def alarm_names() -> list[str]:
    """The template's alarms, in its order: the dashboard shows every one."""
    resources = load_template(TEMPLATE)["Resources"].items()
    return [name for name, resource in resources if resource["Type"] == "AWS::CloudWatch::Alarm"]


def service_rows(names: list[str], **options: Any) -> list[list[Any]]:
    """Rows of the service's own metrics, the first naming namespace and dimension in full."""
    first = [NAMESPACE, names[0], "service", "${Service}", *([options] if options else [])]
    return [first, *([".", name, ".", "."] for name in names[1:])]


def answer_rows() -> list[list[Any]]:
    return service_rows([Metric.UPSTREAM_FETCHES, Metric.FALLBACK_ANSWERS, Metric.BACKOFF_ANSWERS])


def ledger_query() -> str:
    """Requests by where their tokens came from, counted from the ledger line (the vending
    function's log group, the template's VendFunctionLogGroup) instead of three metrics."""
    served = f'filter message = "{SERVED}"'
    count = f"stats count(*) as requests by {Field.SOURCE}"
    return f"SOURCE '${{VendFunctionLogGroup}}' | {served} | {count}"


def error_rows() -> list[list[Any]]:
    return service_rows([by_kind(Metric.UPSTREAM_ERRORS, kind) for kind in upstream_error_kinds()])


def latency_rows() -> list[list[Any]]:
    api = ["AWS/ApiGateway", "Latency", "ApiName", "${ApiName}", "Stage", "v1"]
    return [
        *service_rows([Metric.UPSTREAM_LATENCY], stat="p99"),
        [*api, {"stat": "p99"}],
        [*api, {"stat": "p50"}],
        ["AWS/Lambda", "Duration", "FunctionName", "${VendFunction}", {"stat": "p99"}],
    ]


def kept_going_rows() -> list[list[Any]]:
    faults = [by_kind(Metric.DEPENDENCY_FAULTS, service) for service in AWS_SERVICES]
    return service_rows(
        [
            Metric.LEASE_WAITS,
            *faults,
            Metric.CACHE_DECRYPT_FAILURES,
            Metric.ENTITLEMENTS_STALE,
            Metric.UNCACHED_TOKENS,
            Metric.RENEW_AHEAD_FAILURES,
            Metric.SCHEDULED_RUNS,
            Metric.SCHEDULER_RENEWALS,
            Metric.RENEWALS_HANDED_OVER,
            Metric.RENEWAL_EVENTS_REFUSED,
        ]
    )


def credential_rows() -> list[list[dict[str, str]]]:
    rows = []
    for metric, row_id in CREDENTIAL_ROWS.items():
        search = f'{{{NAMESPACE},Credential,service}} MetricName="{metric}"'
        rows.append([{"id": row_id, "expression": f"SEARCH('{search}', 'Sum', 300)"}])
    return rows


def metric_widget(
    at: tuple[int, int, int], title: str, rows: list[Any], **how: Any
) -> dict[str, Any]:
    """A graph at (x, y, width), six rows high."""
    x, y, width = at
    properties = {"title": title, "region": "${AWS::Region}", **how, "metrics": rows}
    return {"type": "metric", "x": x, "y": y, "width": width, "height": 6, "properties": properties}


def widgets() -> list[dict[str, Any]]:
    health = "Credential health: rejections, previous-secret fallbacks, refused rotations, failed "
    alarms = {"title": "Alarms", "alarms": [f"${{{name}.Arn}}" for name in alarm_names()]}
    ledger = {
        "title": "Requests by where their tokens came from (the ledger line)",
        "region": "${AWS::Region}",
        "view": "table",
        "query": ledger_query(),
    }
    return [
        {"type": "log", "x": 0, "y": 0, "width": 6, "height": 6, "properties": ledger},
        metric_widget(
            (6, 0, 6), "Tokens fetched from VCC; fallback and backoff answers", answer_rows(),
            **COUNTS, period=60, stacked=False,
        ),
        metric_widget(
            (12, 0, 12), "VCC token endpoint errors, by kind", error_rows(),
            **COUNTS, period=300, stacked=True,
        ),
        metric_widget(
            (0, 6, 12), "Latency (ms): VCC token requests, API, function", latency_rows(),
            period=60, view="timeSeries",
        ),
        metric_widget(
            (12, 6, 12), "Lease waits, AWS faults, stale rules, uncached tokens, renewals",
            kept_going_rows(), **COUNTS, period=300,
        ),
        metric_widget(
            (0, 12, 24), health + "renewals, by credential", credential_rows(),
            period=300, view="timeSeries",
        ),
        {"type": "alarm", "x": 0, "y": 18, "width": 24, "height": 3, "properties": alarms},
    ]  # fmt: skip


def render() -> str:
    """The body as the template holds it: a widget's settings on one line, a row per line."""
    lines = ['{"widgets": [']
    every = widgets()
    for number, widget in enumerate(every):
        properties = dict(widget["properties"])
        place = {k: v for k, v in widget.items() if k != "properties"}
        lines.append(f'  {_json(place)[:-1]}, "properties": {{')
        after = "," if number < len(every) - 1 else ""
        if "query" in properties:  # a Logs Insights widget: its settings, then its query
            query = properties.pop("query")
            lines.append(f"    {_json(properties)[1:-1]},")
            lines.append(f'    "query": {_json(query)}}}}}' + after)
            continue
        listed = "metrics" if "metrics" in properties else "alarms"
        rows = properties.pop(listed)
        lines.append(f"    {_json(properties)[1:-1]},")
        lines.append(f'    "{listed}": [')
        body = ",\n".join(f"      {_json(row)}" for row in rows)
        lines.append(body + "]}}" + after)
    lines.append("]}")
    return "".join(INDENT + line + "\n" for line in "\n".join(lines).split("\n"))


def _json(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "))


def parse(body: str) -> dict[str, Any]:
    """The body as CloudWatch reads it, with the template's variables left as names."""
    import re

    document: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))
    return document


def written(template: str) -> str:
    """`template` with the rendered body in place of the one it holds."""
    start = template.index(START) + len(START)
    end = template.index(END, start)
    return template[:start] + render() + template[end:]


def service_name_in_template(template: str) -> str:
    start = template.index(END) + len(END)
    return template[start : template.index("\n", start)]


if __name__ == "__main__":
    TEMPLATE.write_text(written(TEMPLATE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote the dashboard's body into {TEMPLATE.relative_to(ROOT)}")
