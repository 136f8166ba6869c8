"""Code run in child processes (each one a separate 'Lambda instance') by the concurrency tests."""

from __future__ import annotations

import json
import os
from multiprocessing.synchronize import Barrier
from queue import Queue
from typing import Any


def vend_after_barrier(event: dict[str, Any], barrier: Barrier, results: Queue[Any]) -> None:
    """Import the function as a cold Lambda instance would, wait for the others, then call it.
    The entitlement rules are read before the barrier (as an instance's earlier requests would
    have): the burst at the barrier is then the key's alone, which is what the test is about,
    and moto (one request at a time) is not also asked for the rules fifty times at once."""
    from local.lambda_runtime import LambdaContext, load_function
    from vcc_tokens.wiring import entitlement_store

    as_a_separate_machine()
    handler = load_function("vend").lambda_handler
    entitlement_store().get()
    barrier.wait(timeout=120)
    result = handler(event, LambdaContext("worker"))
    results.put((result["statusCode"], json.loads(result["body"])))


def vend_once(event: dict[str, Any]) -> None:
    """One request in a process that a test may kill mid-fetch."""
    from local.lambda_runtime import LambdaContext, load_function

    as_a_separate_machine()
    load_function("vend").lambda_handler(event, LambdaContext("doomed"))


def as_a_separate_machine() -> None:
    """In AWS, Lambda instances and DynamoDB do not share CPUs; here fifty 'instances' and the
    moto server (in the test process) share two cores with whatever else the machine runs. The
    instances yield to it (lower priority), so a burst of callers queues at moto, as it would at
    DynamoDB, instead of starving it until its answers time out."""
    os.nice(19)
