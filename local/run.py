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

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iam.deployment import TemplateError
from iam.evaluation import EvaluatorMissing
from iam.gateway import LocalCaller, ResourcePolicy, resource_policy
from local import deployments
from local.alarms import MetricStore, api_5xx, capturing_metrics, evaluate_alarms
from local.api_front import ApiFront, template_routes
from local.exports import exported
from local.inputs import (
    DEFAULT_ACCOUNTS,
    ENTITLEMENTS_PARAMETER,
    SECRET_PREFIX,
    TABLE,
    Inputs,
    StartupError,
    Upstream,
    bind,
    check_settings,
    port_setting,
)
from local.lambda_runtime import LOCAL_REFRESHER, load_function
from local.log_delivery import LogDelivery
from local.schedule import Schedule
from local.stack import (
    DEAD_LETTER_QUEUE,
    LOCAL_AWS_ENV,
    LOCAL_STACK_NAME,
    DeadLetters,
    LocalDeployment,
    dead_letter_queue,
    function_environment,
    start_moto_server,
    stop_server,
)
from local.vcc_emulator import DEMO_CLIENTS, VccEmulator, demo_client
from vcc_token_contract.vcc import REGIONS


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


def start_alarms(
    store: MetricStore, aws_endpoint: str, queue_url: str, running: Running, scale: float
) -> None:
    """The template's alarms evaluated over the functions' metrics (local/alarms.py)."""
    cloudwatch, sqs = aws_client("cloudwatch", aws_endpoint), aws_client("sqs", aws_endpoint)
    evaluator = evaluate_alarms(store, cloudwatch, sqs, queue_url, scale)
    running.stops.append(evaluator.start().stop)


def start(inputs: Inputs, running: Running) -> Started:
    aws_endpoint = start_aws(running)
    upstream, emulator_url = start_upstream(inputs.upstream, running)
    seed(inputs, upstream, aws_endpoint)
    check_settings()
    store = MetricStore()
    front, dead_letter_url = start_functions(inputs, running, aws_endpoint, store)
    start_alarms(store, aws_endpoint, dead_letter_url, running, inputs.alarm_time_scale)
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
