"""Code run in child processes (each one a separate 'Lambda instance') by the concurrency tests."""

from __future__ import annotations

import json
from multiprocessing.synchronize import Barrier
from queue import Queue
from typing import Any


def vend_after_barrier(event: dict[str, Any], barrier: Barrier, results: Queue[Any]) -> None:
    """Import the function as a cold Lambda instance would, wait for the others, then call it."""
    from local.lambda_runtime import LambdaContext, load_function

    handler = load_function("vend").lambda_handler
    barrier.wait(timeout=120)
    result = handler(event, LambdaContext("worker"))
    results.put((result["statusCode"], json.loads(result["body"])))


def vend_once(event: dict[str, Any]) -> None:
    """One request in a process that a test may kill mid-fetch."""
    from local.lambda_runtime import LambdaContext, load_function

    load_function("vend").lambda_handler(event, LambdaContext("doomed"))
