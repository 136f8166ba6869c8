"""`make run`: the whole service on one machine, with no AWS account and no Docker.

Starts, in this one process, moto in server mode as AWS (table from template.yaml, one secret per
region), the VCC token-endpoint emulator (unless a real upstream is configured), and the local
API front on 127.0.0.1:$PORT, which checks SigV4 like API Gateway and runs the same handlers as
Lambda. Ctrl-C or SIGTERM stops everything and frees every port.

Environment:
  PORT (3000), MOTO_PORT (5000), VCC_EMULATOR_PORT (8081), VCC_EMULATOR_LATENCY (0 s)
  RENEW_RATE_MINUTES  the scheduled refresher's period (default: the template's)
  LOCAL_CALLERS      JSON file of known callers (default local/callers.json)
  LOCAL_ENTITLEMENTS JSON file of entitlement rules (default local/entitlements.json)
  ALLOWED_ACCOUNT_IDS, ALLOWED_ORGANIZATION_ID
                     the template's AllowedAccountIds / AllowedOrganizationId: the API's resource
                     policy, applied to the callers as API Gateway would (default: the accounts
                     111122223333 and 444455556666, no organization; the stack's own account is
                     moto's, 123456789012)
  VCC_TOKEN_URL_TEMPLATE + VCC_CLIENT_ID + VCC_CLIENT_SECRET [+ VCC_AUTH_METHOD]
                     use that token endpoint and those credentials instead of the emulator
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcc_token_client.testing.sigv4 import load_callers

from iam.deployment import TemplateError
from iam.evaluation import EvaluatorMissing
from iam.gateway import LocalCaller, ResourcePolicy, resource_policy
from local import deployments
from local.alarms import AlarmEvaluator, Datapoint, MetricStore, capturing_metrics
from local.alarms import rules as alarm_rules
from local.api_front import ApiFront, template_routes
from local.lambda_runtime import LOCAL_REFRESHER, load_function
from local.log_delivery import LogDelivery
from local.stack import (
    DEAD_LETTER_QUEUE,
    LOCAL_AWS_ENV,
    LOCAL_STACK_NAME,
    ROOT,
    DeadLetters,
    LocalDeployment,
    dead_letter_queue,
    function_environment,
    invoke_async,
    load_template,
    start_moto_server,
    stop_server,
    template_alarms,
)
from local.vcc_emulator import DEMO_CLIENTS, VccEmulator, demo_client
from vcc_token_contract.vcc import REGIONS

TABLE = "vcc-tokens-local"
SECRET_PREFIX = "vcc/local/"
DEFAULT_CALLERS = ROOT / "local" / "callers.json"
DEFAULT_ENTITLEMENTS = ROOT / "local" / "entitlements.json"
ENTITLEMENTS_PARAMETER = "/vcc-token-vending/local/entitlements"
DEFAULT_ACCOUNTS = "111122223333,444455556666"  # local/callers.json's, but for the outsider


class StartupError(Exception):
    """A clear reason the stack cannot start (a port in use, a bad setting)."""


@dataclass(frozen=True)
class Upstream:
    token_url_template: str
    client_id: str
    client_secret: str
    auth_method: str | None
    # (client_id, client_secret) per region, when each region has its own (the emulator's)
    per_region: dict[str, tuple[str, str]] = field(default_factory=dict)


def port_setting(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise StartupError(f"{name} must be a port number from 0 to 65535, got {raw!r}")
    return int(raw)


def bind(name: str, port: int, start: Callable[[], Any]) -> Any:
    """Start a server, turning 'address in use' into a message that says what to do (checked
    first too: moto's server prints its own message and exits the process instead)."""
    in_use = StartupError(f"port {port} is in use; set {name} to a free port")
    if port:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise in_use from None
    try:
        return start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise in_use from None
        raise


def configured_upstream() -> Upstream | None:
    names = ("VCC_TOKEN_URL_TEMPLATE", "VCC_CLIENT_ID", "VCC_CLIENT_SECRET")
    values = [os.environ.get(name, "") for name in names]
    if not any(values):
        return None
    if not all(values):
        missing = ", ".join(name for name, value in zip(names, values, strict=True) if not value)
        raise StartupError(f"a configured upstream needs {', '.join(names)}; missing: {missing}")
    url, client_id, client_secret = values
    return Upstream(url, client_id, client_secret, os.environ.get("VCC_AUTH_METHOD") or None)


class Schedule:
    """Invokes a function every `period` seconds, as EventBridge Scheduler would. The first
    `failing_runs` runs fail as a whole (LOCAL_FAILING_RUNS: the dead-letter rehearsal), each
    retried twice and then dead-lettered, as Lambda does with a failed asynchronous run."""

    def __init__(
        self,
        handler: Any,
        period: float,
        lock: threading.Lock,
        dead_letters: DeadLetters,
        failing_runs: int = 0,
    ) -> None:
        self._handler = handler
        self._failing_runs = failing_runs
        self._dead_letters = dead_letters
        self._period = period
        self._lock = lock
        self._stopped = threading.Event()
        self._event = json.loads((ROOT / "events" / "scheduled_refresh.json").read_text())
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Schedule:
        """One run now (a deployed schedule has run within its first period), then one per
        period."""
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        self._invoke()
        while not self._stopped.wait(self._period):
            self._invoke()

    def _invoke(self) -> None:
        handler = self._handler
        if self._failing_runs > 0:
            self._failing_runs -= 1
            handler = _failing_run
        with self._lock:  # asynchronously, as the schedule invokes: retried, then dead-lettered
            invoke_async(handler, self._event, self._dead_letters, "schedule")


def _failing_run(event: dict[str, Any], context: Any) -> None:
    raise RuntimeError("a scheduled run made to fail by LOCAL_FAILING_RUNS (the rehearsal)")


def failing_runs() -> int:
    raw = os.environ.get("LOCAL_FAILING_RUNS", "0")
    if not raw.isdigit() or int(raw) > 100:
        raise StartupError(
            f"LOCAL_FAILING_RUNS must be a number of runs from 0 to 100, got {raw!r}"
        )
    return int(raw)


def read_entitlements(path: Path) -> str:
    """The rules file, checked now so that a mistake is reported at start-up, not per request."""
    # Imported here: vcc_tokens sets up Powertools, which must see the function environment first.
    from vcc_token_contract.entitlements import InvalidEntitlements, parse_entitlements

    try:
        document = path.read_text(encoding="utf-8")
        parse_entitlements(document)
    except (OSError, InvalidEntitlements) as problem:
        raise StartupError(f"entitlements file {path}: {problem}") from None
    return document


DEMO_CALLER = "LOCALORDERSSERVICE01"  # orders-service in local/callers.json: the examples' caller


def export_block(
    service_url: str,
    aws_endpoint: str,
    emulator_url: str | None,
    dead_letters_url: str,
    callers: dict[str, Any],
) -> str:
    """The shell lines that set what the README's examples and the runbook use, for the ports
    this stack runs on: printed when it is ready, pasted into another shell."""
    names = exported(service_url, aws_endpoint, emulator_url, dead_letters_url, callers)
    return "\n".join(f"export {name}={value}" for name, value in names.items())


def exported(
    service_url: str,
    aws_endpoint: str,
    emulator_url: str | None,
    dead_letters_url: str,
    callers: dict[str, Any],
) -> dict[str, str]:
    """What export_block sets, by name."""
    caller = callers.get(DEMO_CALLER) or next(iter(callers.values()))
    names = {
        "VCC_TOKEN_SERVICE_URL": service_url,
        **({"VCC_EMULATOR_URL": emulator_url} if emulator_url else {}),
        "LOCAL_AWS_ENDPOINT": aws_endpoint,
        "AWS_ACCESS_KEY_ID": caller.access_key_id,
        "AWS_SECRET_ACCESS_KEY": caller.secret_access_key,
        "AWS_DEFAULT_REGION": LOCAL_AWS_ENV["AWS_REGION"],
        "LOCAL_STACK": LOCAL_STACK_NAME,
        "LOCAL_TABLE": TABLE,
        "LOCAL_SECRET_PREFIX": SECRET_PREFIX,
        "LOCAL_ENTITLEMENTS_PARAMETER": ENTITLEMENTS_PARAMETER,
        "LOCAL_REFRESHER": LOCAL_REFRESHER,
        "LOCAL_DEAD_LETTERS": dead_letters_url,
    }
    return names


def aws_client(service: str, aws_endpoint: str) -> Any:
    """A client of the stack's own AWS (moto), with the local stack's keys."""
    import boto3

    session = boto3.session.Session()
    return session.client(  # type: ignore[call-overload]
        service,
        endpoint_url=aws_endpoint,
        region_name=LOCAL_AWS_ENV["AWS_REGION"],
        aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def log_delivery(aws_endpoint: str) -> LogDelivery:
    """The functions' log lines, to their log groups on moto (as Lambda sends them to
    CloudWatch Logs), besides stdout."""
    from vcc_tokens.observability import logger  # after function_environment(): Powertools

    logs = aws_client("logs", aws_endpoint)
    delivery = LogDelivery(logs, LOCAL_STACK_NAME, logger.registered_formatter)
    delivery.create(["vend", "refresher"])
    logging.getLogger(logger.name).addHandler(delivery)
    return delivery


def renew_rate_minutes() -> int:
    """The refresher's period as the service reads it (RENEW_RATE_MINUTES, or its former name
    REFRESH_RATE_MINUTES): make run's schedule and the functions' setting are one value."""
    from vcc_tokens.values.config import ConfigurationError, setting_from_env

    try:
        return int(setting_from_env("renew_rate_seconds", os.environ)) // 60
    except ConfigurationError as problem:
        raise StartupError(str(problem)) from None


def check_settings() -> None:
    """The functions' settings as the stack seeded them: a configuration error stops the start
    in one line, instead of answering every request 500."""
    from vcc_tokens.values.config import ConfigurationError, Settings

    try:
        Settings.from_env(os.environ)
    except ConfigurationError as problem:
        raise StartupError(f"the service's settings: {problem}") from None


@dataclass(frozen=True)
class Inputs:
    """What `make run` reads before it starts anything: a mistake here starts nothing."""

    port: int
    callers_path: Path
    callers: dict[str, Any]
    entitlements_path: Path
    entitlements: str
    upstream: Upstream | None  # None: the emulator
    template: dict[str, Any]
    rate: int  # the refresher's, in minutes
    failing_runs: int  # how many scheduled runs fail on purpose (LOCAL_FAILING_RUNS)

    @classmethod
    def read(cls) -> Inputs:
        callers_path = Path(os.environ.get("LOCAL_CALLERS") or DEFAULT_CALLERS)
        entitlements_path = Path(os.environ.get("LOCAL_ENTITLEMENTS") or DEFAULT_ENTITLEMENTS)
        template = load_template()
        return cls(
            port_setting("PORT", 3000),
            callers_path,
            load_callers(callers_path),
            entitlements_path,
            read_entitlements(entitlements_path),
            configured_upstream(),
            template,
            renew_rate_minutes(),
            failing_runs(),
        )


@dataclass
class Running:
    """What has started, to stop in reverse order; and what moto's Lambda API reaches."""

    stops: list[Callable[[], None]] = field(default_factory=list)
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    sends: list[DeadLetters] = field(default_factory=list)  # once the stack is seeded

    def dead_letters(self, event: dict[str, Any], error: Exception) -> None:
        for send in self.sends:
            send(event, error)

    def stop(self) -> None:
        for stop in reversed(self.stops):  # the API front again too: stopping it twice is fine
            stop()


@dataclass(frozen=True)
class Started:
    front: ApiFront
    aws_endpoint: str
    upstream_name: str
    emulator_url: str | None
    dead_letter_url: str
    upstream: Upstream  # the VCC it uses (the emulator's demo client, or the one configured)


def start_aws(running: Running) -> str:
    """moto's server; its endpoint."""
    moto_port = port_setting("MOTO_PORT", 5000)
    moto, aws_endpoint = bind(
        "MOTO_PORT",
        moto_port,
        lambda: start_moto_server(moto_port, running.functions, running.dead_letters),
    )
    running.stops.append(lambda: stop_server(moto))
    return str(aws_endpoint)


def start_upstream(upstream: Upstream | None, running: Running) -> tuple[Upstream, str | None]:
    """The VCC configured, or the emulator started; (it, the emulator's URL if started)."""
    if upstream is not None:
        return upstream, None
    emulator_port = port_setting("VCC_EMULATOR_PORT", 8081)
    latency = float(os.environ.get("VCC_EMULATOR_LATENCY", "0"))
    emulator = bind(
        "VCC_EMULATOR_PORT",
        emulator_port,
        lambda: VccEmulator(DEMO_CLIENTS, port=emulator_port, latency=latency).start(),
    )
    running.stops.append(emulator.stop)
    client = DEMO_CLIENTS[0]  # for every region, as a configured VCC would be (a second stack)
    own: dict[str, tuple[str, str]] = {
        region: (demo_client(region).client_id, demo_client(region).client_secret)
        for region in REGIONS
    }
    upstream = Upstream(
        emulator.token_url_template, client.client_id, client.client_secret, None, own
    )
    return upstream, emulator.base_url


def seed(inputs: Inputs, upstream: Upstream, aws_endpoint: str) -> None:
    """The stack's table, key, secret and rules in moto; the functions' environment."""
    deployment = LocalDeployment(
        table=TABLE,
        secret_prefix=SECRET_PREFIX,
        entitlements_parameter=ENTITLEMENTS_PARAMETER,
        entitlements=inputs.entitlements,
        client_id=upstream.client_id,
        client_secret=upstream.client_secret,
        auth_method=upstream.auth_method,
        region_clients=upstream.per_region,
    )
    os.environ.update(
        {
            **deployment.seed(aws_endpoint),
            "VCC_TOKEN_URL_TEMPLATE": upstream.token_url_template,
            "POWERTOOLS_METRICS_DISABLED": "true",  # EMF lines would drown the request logs
            "RENEW_RATE_MINUTES": str(inputs.rate),
        }
    )


def api_policy(inputs: Inputs) -> ResourcePolicy:
    """The API's resource policy (the template's), for the local callers."""
    return resource_policy(
        [
            LocalCaller(c.access_key_id, c.principal_arn, c.organization_id)
            for c in inputs.callers.values()
        ],
        {
            "AllowedAccountIds": os.environ.get("ALLOWED_ACCOUNT_IDS", DEFAULT_ACCOUNTS),
            "AllowedOrganizationId": os.environ.get("ALLOWED_ORGANIZATION_ID", ""),
        },
    )


def start_functions(
    inputs: Inputs, running: Running, aws_endpoint: str, store: MetricStore
) -> tuple[ApiFront, str]:
    """The API front with the template's routes and resource policy, and the refresher on its
    schedule with its dead-letter queue; (the front, the queue's URL). Their metrics go to
    `store`, for the local alarms."""
    policy = api_policy(inputs)
    delivery = log_delivery(aws_endpoint)
    sqs = aws_client("sqs", aws_endpoint)
    dead_letter_url = str(sqs.get_queue_url(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"])
    routes = template_routes(inputs.template)

    def function(name: str) -> Any:
        handler = load_function(name).lambda_handler
        return capturing_metrics(store, delivery.delivering(name, handler))

    handlers = {route.function: function(route.function) for route in routes}
    lock = threading.Lock()
    front = bind(
        "PORT",
        inputs.port,
        lambda: ApiFront(
            routes,
            handlers,
            inputs.callers,
            port=inputs.port,
            invoke_lock=lock,
            resource_policy=policy,
            on_answer=lambda status: store.add(api_5xx(status)),
        ),
    )
    running.stops.append(front.stop)
    refresher = function("refresher")
    running.functions[LOCAL_REFRESHER] = refresher  # for `vcc-token admin rotate --function`
    running.sends.append(dead_letter_queue(sqs, dead_letter_url))
    schedule = Schedule(
        refresher, inputs.rate * 60, lock, running.dead_letters, inputs.failing_runs
    )
    running.stops.append(schedule.start().stop)
    return front, dead_letter_url


def api_5xx(status: int) -> Datapoint:
    """API Gateway's `5XXError` for one answer (1 or 0: its Average is the rate). Without
    dimensions: the one local API is the one the template's alarm names (local/alarms.py
    compares only the dimensions a datapoint carries)."""
    return Datapoint("AWS/ApiGateway", "5XXError", {}, float(status >= 500), time.time())


def start_alarms(store: MetricStore, aws_endpoint: str, queue_url: str, running: Running) -> None:
    """The template's alarms evaluated (local/alarms.py), every period divided by
    LOCAL_ALARM_TIME_SCALE, the dead-letter queue's count sampled at each evaluation."""
    raw = os.environ.get("LOCAL_ALARM_TIME_SCALE", "1")
    try:
        scale = float(raw)
    except ValueError:
        scale = 0.0
    if not 1 <= scale <= 3600:
        raise StartupError(f"LOCAL_ALARM_TIME_SCALE must be a number from 1 to 3600, got {raw!r}")
    cloudwatch, sqs = aws_client("cloudwatch", aws_endpoint), aws_client("sqs", aws_endpoint)

    def set_state(name: str, state: str, reason: str) -> None:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)

    def sample_dead_letters() -> None:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        count = float(attributes.get("ApproximateNumberOfMessages", 0))
        metric = "ApproximateNumberOfMessagesVisible"
        store.add(Datapoint("AWS/SQS", metric, {}, count, time.time()))

    evaluator = AlarmEvaluator(
        alarm_rules(template_alarms(), scale), store, set_state, sample_dead_letters
    )
    running.stops.append(evaluator.start().stop)


def start(inputs: Inputs, running: Running) -> Started:
    aws_endpoint = start_aws(running)
    upstream, emulator_url = start_upstream(inputs.upstream, running)
    seed(inputs, upstream, aws_endpoint)
    check_settings()
    store = MetricStore()
    front, dead_letter_url = start_functions(inputs, running, aws_endpoint, store)
    start_alarms(store, aws_endpoint, dead_letter_url, running)
    where = (
        f"VCC emulator at {emulator_url}"
        if emulator_url
        else f"VCC at {upstream.token_url_template}"
    )
    return Started(front, aws_endpoint, where, emulator_url, dead_letter_url, upstream)


def main() -> int:
    os.environ.update(function_environment())  # Powertools reads it when vcc_tokens loads
    running = Running()
    try:
        inputs = Inputs.read()
        count = deployments.wanted()
        started = start(inputs, running)
        second = start_second(started, running) if count == 2 else None
    except (
        StartupError,
        ValueError,
        EvaluatorMissing,
        TemplateError,
        deployments.DeploymentsError,
    ) as exc:
        print(f"make run: cannot start: {exc}", file=sys.stderr)
        running.stop()
        return 2
    front = started.front

    def shut_down(signum: int, _frame: Any) -> None:
        print(f"\nstopping ({signal.Signals(signum).name})", flush=True)
        threading.Thread(target=front.stop, daemon=True).start()

    signal.signal(signal.SIGINT, shut_down)
    signal.signal(signal.SIGTERM, shut_down)
    # a second deployment's stdout is a pipe to the first: gone with it, so stop without a word
    deployments.stop_with_parent(lambda: threading.Thread(target=front.stop, daemon=True).start())
    announce(inputs, started, second)
    try:
        front.serve_forever()
    finally:
        running.stop()
    return 0


def start_second(started: Started, running: Running) -> deployments.SecondDeployment:
    """The second deployment (local/deployments.py), on SECOND_PORT and SECOND_MOTO_PORT, with
    the first's VCC."""
    upstream = started.upstream
    second = deployments.SecondDeployment.start(
        port_setting("SECOND_PORT", 3001),
        port_setting("SECOND_MOTO_PORT", 5001),
        {
            "VCC_TOKEN_URL_TEMPLATE": upstream.token_url_template,
            "VCC_CLIENT_ID": upstream.client_id,
            "VCC_CLIENT_SECRET": upstream.client_secret,
            "VCC_AUTH_METHOD": upstream.auth_method or "",
        },
    )
    running.stops.append(second.stop)
    return second


def first_exports(inputs: Inputs, started: Started) -> dict[str, str]:
    return exported(
        started.front.url,
        started.aws_endpoint,
        started.emulator_url,
        started.dead_letter_url,
        inputs.callers,
    )


def announce(inputs: Inputs, started: Started, second: deployments.SecondDeployment | None) -> None:
    print("# paste into another shell: the README's examples and the runbook use these")
    names = first_exports(inputs, started)
    if second is not None:
        both = deployments.description(names, second.exports)
        path = deployments.write_description(both, inputs.port)
        print(f"# two deployments ({path}): vcc-token fails over between them, admin asks both")
        print("\n".join(f"#   {line}" for line in json.dumps(both, indent=2).splitlines()))
        names["VCC_TOKEN_DEPLOYMENTS"] = str(path)
    print("\n".join(f"export {name}={value}" for name, value in names.items()))
    routes = ", ".join(f"{r.method} {r.resource}" for r in template_routes(inputs.template))
    print(
        f"VCC token vending ready at {started.front.url} (routes: {routes}; "
        f"AWS: moto at {started.aws_endpoint}; upstream: {started.upstream_name}; "
        f"refresher {LOCAL_REFRESHER} every {inputs.rate} min; "
        f"callers: {inputs.callers_path}; entitlements: {inputs.entitlements_path}). "
        "Ctrl-C stops.",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
