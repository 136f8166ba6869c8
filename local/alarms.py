"""The template's alarms, evaluated on the local stack as CloudWatch evaluates them, so the
runbook's alarm blocks can be rehearsed on `make run`: moto creates the alarms but never
evaluates them.

Each alarm's metric, statistic, period, evaluation periods, datapoints to alarm, threshold and
comparison are read from template.yaml (as expanded for the local stack), never written again.
The datapoints come from where AWS would take them: the functions' embedded-metric-format lines
(captured instead of printed), the API front's answers (API Gateway's `5XXError`, 1 or 0 per
request) and the dead-letter queue's own count (`ApproximateNumberOfMessagesVisible`). Missing
data does not breach (the template's `TreatMissingData: notBreaching`); an alarm grouped by a
dimension (a Metrics Insights `GROUP BY Credential`) is in ALARM when any group breaches.

`LOCAL_ALARM_TIME_SCALE` (default 1) divides every period, so a rehearsal sees a 5-minute alarm
fire and clear in seconds; the states are written to moto's alarms with SetAlarmState, where
`vcc-token admin smoke --stack` and the dashboard's alarm list read them.
"""

from __future__ import annotations

import contextlib
import io
import json
import operator
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from local.stack import template_alarms

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "Sum": sum,
    "Average": lambda values: sum(values) / len(values),
    "Maximum": max,
    "Minimum": min,
    "SampleCount": len,
}
INSIGHTS = re.compile(
    r"SELECT\s+(?P<statistic>SUM|AVG|MAX|MIN)\((?P<metric>\w+)\)\s+FROM\s+SCHEMA\("
    r"(?P<namespace>[\w/]+)[^)]*\)(\s+GROUP\s+BY\s+(?P<group>\w+))?",
    re.IGNORECASE,
)
INSIGHTS_STATISTIC = {"SUM": "Sum", "AVG": "Average", "MAX": "Maximum", "MIN": "Minimum"}


@dataclass(frozen=True)
class Datapoint:
    namespace: str
    metric: str
    dimensions: dict[str, str]
    value: float
    at: float  # epoch seconds


class MetricStore:
    """The datapoints of the last hour, thread-safe."""

    def __init__(self, keep_seconds: float = 3600) -> None:
        self._points: list[Datapoint] = []
        self._keep = keep_seconds
        self._lock = threading.Lock()

    def add(self, point: Datapoint) -> None:
        with self._lock:
            self._points = [p for p in self._points if p.at > point.at - self._keep]
            self._points.append(point)

    def between(self, namespace: str, metric: str, start: float, end: float) -> list[Datapoint]:
        with self._lock:
            return [
                p
                for p in self._points
                if (p.namespace, p.metric) == (namespace, metric) and start <= p.at < end
            ]


@dataclass(frozen=True)
class AlarmRule:
    name: str
    namespace: str
    metric: str
    statistic: str
    period: float  # seconds (scaled)
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    group_by: str | None = None  # a dimension each group of which is judged on its own
    dimensions: dict[str, str] = field(default_factory=dict)

    def state(self, store: MetricStore, now: float) -> str:
        """ALARM if enough of the last evaluation periods breach, in any group; else OK."""
        start = now - self.period * self.evaluation_periods
        points = store.between(self.namespace, self.metric, start, now)
        points = [p for p in points if _matches(p.dimensions, self.dimensions)]
        groups: dict[str, list[Datapoint]] = {}
        for point in points:
            groups.setdefault(point.dimensions.get(self.group_by or "", ""), []).append(point)
        breaches = (self._breaching_periods(group, start) for group in groups.values())
        return "ALARM" if any(n >= self.datapoints_to_alarm for n in breaches) else "OK"

    def _breaching_periods(self, points: list[Datapoint], start: float) -> int:
        periods: dict[int, list[float]] = {}
        for point in points:
            periods.setdefault(int((point.at - start) // self.period), []).append(point.value)
        compare, statistic = COMPARISONS[self.comparison], STATISTICS[self.statistic]
        return sum(compare(statistic(values), self.threshold) for values in periods.values())


def rules(alarms: Iterable[dict[str, Any]], scale: float = 1.0) -> list[AlarmRule]:
    """The rules of the template's alarm properties (as CloudFormation would create them)."""
    return [_rule(properties, scale) for properties in alarms]


def _rule(properties: dict[str, Any], scale: float) -> AlarmRule:
    common: dict[str, Any] = {
        "name": properties["AlarmName"],
        "evaluation_periods": int(properties["EvaluationPeriods"]),
        "datapoints_to_alarm": int(
            properties.get("DatapointsToAlarm", properties["EvaluationPeriods"])
        ),
        "threshold": float(properties["Threshold"]),
        "comparison": properties["ComparisonOperator"],
    }
    if "Metrics" not in properties:
        dimensions = {d["Name"]: str(d["Value"]) for d in properties.get("Dimensions", [])}
        return AlarmRule(
            **common,
            namespace=properties["Namespace"],
            metric=properties["MetricName"],
            statistic=properties["Statistic"],
            period=float(properties["Period"]) / scale,
            dimensions=dimensions,
        )
    [query] = [m for m in properties["Metrics"] if m.get("ReturnData", True)]  # Metrics Insights
    parsed = INSIGHTS.search(query["Expression"])
    if parsed is None:
        raise ValueError(f"{common['name']}: a query the local evaluator cannot read")
    return AlarmRule(
        **common,
        namespace=parsed["namespace"],
        metric=parsed["metric"],
        statistic=INSIGHTS_STATISTIC[parsed["statistic"].upper()],
        period=float(query["Period"]) / scale,
        group_by=parsed["group"],
    )


def emf_datapoints(text: str, at: float) -> list[Datapoint]:
    """The datapoints of embedded-metric-format lines (what Powertools prints per invocation)."""
    points = []
    for line in text.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if not isinstance(document, dict) or "_aws" not in document:
            continue
        stamped = document["_aws"].get("Timestamp")
        when = stamped / 1000 if isinstance(stamped, int | float) else at
        for directive in document["_aws"].get("CloudWatchMetrics", []):
            dimension_names = [name for names in directive.get("Dimensions", []) for name in names]
            dimensions = {name: str(document.get(name)) for name in dimension_names}
            for metric in directive.get("Metrics", []):
                values = document.get(metric["Name"], [])
                for value in values if isinstance(values, list) else [values]:
                    points.append(
                        Datapoint(directive["Namespace"], metric["Name"], dimensions, value, when)
                    )
    return points


def capturing_metrics(store: MetricStore, handler: Callable[..., Any]) -> Callable[..., Any]:
    """`handler`, its embedded-metric-format lines kept in `store` instead of printed (what it
    prints otherwise still reaches stdout)."""

    def invoke(event: dict[str, Any], context: Any) -> Any:
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                return handler(event, context)
        finally:
            for point in emf_datapoints(printed.getvalue(), time.time()):
                store.add(point)
            other = [line for line in printed.getvalue().splitlines() if '"_aws"' not in line]
            if other:
                print("\n".join(other), flush=True)

    return invoke


class AlarmEvaluator:
    """Evaluates every rule each `tick` seconds, and writes what changed to the alarms."""

    def __init__(
        self,
        alarm_rules: list[AlarmRule],
        store: MetricStore,
        set_state: Callable[[str, str, str], None],
        sample: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = alarm_rules
        self.store = store
        self._set_state = set_state
        self._sample = sample  # gauges read at each tick (the dead-letter queue's count)
        self._clock = clock
        self._states = {rule.name: "OK" for rule in alarm_rules}
        self._stopped = threading.Event()
        self.tick = max(0.2, min(rule.period for rule in alarm_rules) / 10) if alarm_rules else 1

    def evaluate(self) -> dict[str, str]:
        self._sample()
        now = self._clock()
        for rule in self.rules:
            state = rule.state(self.store, now)
            if state != self._states[rule.name]:
                self._states[rule.name] = state
                self._set_state(rule.name, state, f"local evaluation of {rule.metric}")
        return dict(self._states)

    def start(self) -> AlarmEvaluator:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self.tick):
            try:
                self.evaluate()
            except Exception as error:  # a rehearsal aid never stops the stack
                print(f"local alarm evaluation failed: {error}", flush=True)


def _matches(given: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(given.get(name) == value for name, value in wanted.items() if name in given)


def api_5xx(status: int) -> Datapoint:
    """API Gateway's `5XXError` for one answer (1 or 0: its Average is the rate). Without
    dimensions: the one local API is the one the template's alarm names (rules compare only the
    dimensions a datapoint carries)."""
    return Datapoint("AWS/ApiGateway", "5XXError", {}, float(status >= 500), time.time())


def evaluate_alarms(
    store: MetricStore, cloudwatch: Any, sqs: Any, queue_url: str, scale: float
) -> AlarmEvaluator:
    """The template's alarms (each period divided by `scale`, LOCAL_ALARM_TIME_SCALE), their
    states written to moto's CloudWatch, the dead-letter queue's count sampled at each
    evaluation."""

    def set_state(name: str, state: str, reason: str) -> None:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)

    def sample_dead_letters() -> None:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        count = float(attributes.get("ApproximateNumberOfMessages", 0))
        metric = "ApproximateNumberOfMessagesVisible"
        store.add(Datapoint("AWS/SQS", metric, {}, count, time.time()))

    return AlarmEvaluator(rules(template_alarms(), scale), store, set_state, sample_dead_letters)
