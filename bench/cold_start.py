"""(c) Cold start: importing each function module, and the vend function's first cached
answer, in fresh processes alternated with a bare `import boto3` (medians of 9 rounds, as
ratios), with peak memory (max RSS) and the built layer's unzipped size."""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import botocore
from ship_models import keep_only, shipped_services  # layers/common, as the layer's build runs it

from bench.common import TABLE, fresh_process
from local.stack import ROOT
from vcc_token_contract.names import CacheKey

PACKAGE = ROOT / "layers" / "common" / "vcc_tokens"
CONTRACT = ROOT / "layers" / "common" / "contract" / "vcc_token_contract"
_PYCACHE = shutil.ignore_patterns("__pycache__")

COLD_START_CHILD = """
import time, sys, json
started = time.perf_counter()
if sys.argv[1] == "boto3":
    import boto3
    imported = served = time.perf_counter()
elif sys.argv[1] == "boto3 GetItem":  # the floor of a cached answer: the SDK, a client, one read
    import boto3
    imported = time.perf_counter()
    key = {"cache_key": {"S": sys.argv[3]}}
    assert "Item" in boto3.client("dynamodb").get_item(TableName=sys.argv[2], Key=key)
    served = time.perf_counter()
else:
    from local.lambda_runtime import LambdaContext, load_function
    function = sys.argv[1].split(",")[0]  # "vend, every model" is the vend function
    handler = load_function(function).lambda_handler
    imported = served = time.perf_counter()
    if function == "vend":
        event = json.load(open("events/get_token_emea_agents_availability.json"))
        assert handler(event, LambdaContext("cold"))["statusCode"] == 200
        served = time.perf_counter()
# VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across fork and exec
status = open("/proc/self/status").read().splitlines()
peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
modules = sorted(
    m for m in sys.modules if m.split(".")[0] in ("aws_xray_sdk", "opentelemetry", "requests")
)
print(json.dumps({"import_ms": (imported - started) * 1000, "first_ms": (served - started) * 1000,
                  "max_rss_mb": peak_kb / 1024, "loaded": modules[:3]}))
"""

COLD_START_KINDS = ("boto3", "boto3 GetItem", "vend, every model", "vend", "refresher")
BARE = ("boto3", "boto3 GetItem")  # the baselines: the SDK as PyPI ships it, every model
# the vend function as it was before the layer kept only five models: botocore with every one
EVERY_MODEL = "vend, every model"

COLD_START_ROUNDS = 9

SDK_PACKAGES = ("botocore", "jmespath")  # what the layer ships of the AWS SDK (no boto3)


def cold_starts(rounds: int = COLD_START_ROUNDS) -> dict[str, dict[str, Any]]:
    """(c): medians over fresh interpreters, the kinds alternated in every round. The service's
    packages are imported as the layer ships them: with their bytecode (layers/common/Makefile),
    as the SDK and Powertools in this environment have theirs."""
    samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in COLD_START_KINDS}
    cached = [TABLE, CacheKey("emea", "agents-availability:read").text()]  # the vend event's key
    with tempfile.TemporaryDirectory() as layer, tempfile.TemporaryDirectory() as sdk:
        shipped_layer(Path(layer), Path(sdk))
        paths = {
            kind: str(ROOT) if kind in BARE else os.pathsep.join([layer, str(ROOT)])
            for kind in COLD_START_KINDS
        }
        paths |= {"vend": os.pathsep.join([sdk, layer, str(ROOT)]), "refresher": paths["vend"]}
        for _ in range(rounds):
            for kind in COLD_START_KINDS:
                command = [sys.executable, "-c", COLD_START_CHILD, kind, *cached]  # fresh
                env = {**os.environ, "PYTHONPATH": paths[kind]}
                samples[kind].append(json.loads(fresh_process(command, env)))
    return {
        kind: {
            **{
                name: statistics.median(sample[name] for sample in runs)
                for name in ("import_ms", "first_ms", "max_rss_mb")
            },
            "loaded": runs[0]["loaded"],
        }
        for kind, runs in samples.items()
    }


def shipped_layer(layer: Path, sdk: Path) -> None:
    """The service's packages (in `layer`) and botocore (in `sdk`) as the layer ships them: with
    their bytecode (layers/common/Makefile), botocore with only the models of the services the
    functions call (layers/common/ship_models.py)."""
    for package, into in (
        (PACKAGE, layer),
        (CONTRACT, layer),
        (Path(botocore.__file__).parent, sdk),
    ):
        shutil.copytree(package, into / package.name, ignore=_PYCACHE)
    keep_only(sdk / "botocore" / "data", shipped_services())
    for folder in (layer, sdk):
        compileall.compile_dir(
            folder, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )


def layer_size() -> dict[str, float]:
    """The layer as `sam build` makes it (from the lock, for arm64), unzipped: MB in all and
    MB of the AWS SDK (what taking the runtime's own boto3 would save)."""
    with tempfile.TemporaryDirectory() as out:
        fresh_process(
            [
                "make",
                "-s",
                "-C",
                "layers/common",
                "build-CommonLayer",
                f"ARTIFACTS_DIR={out}",
                f"PYTHON={sys.executable}",
            ],
            dict(os.environ),
        )
        root = Path(out) / "python"
        sizes = {
            entry.name: sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
            for entry in root.iterdir()
        }
    sdk = sum(size for name, size in sizes.items() if name.split("-")[0] in SDK_PACKAGES)
    return {"total_mb": sum(sizes.values()) / 1e6, "sdk_mb": sdk / 1e6}


def print_cold_starts(starts: dict[str, dict[str, Any]], layer: dict[str, float]) -> None:
    print(
        f"\n(c) cold start in fresh processes (median of {COLD_START_ROUNDS} rounds, the kinds "
        "alternated); ratios against a bare `import boto3`"
    )
    print(
        "| process | import, ms | ratio | first cached answer, ms | ratio to boto3 + client + "
        "GetItem | peak RSS, MB |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    bare, floor = starts["boto3"]["import_ms"], starts["boto3 GetItem"]["first_ms"]
    for kind in COLD_START_KINDS:
        start = starts[kind]
        first = (
            f"{start['first_ms']:.0f} | {start['first_ms'] / floor:.2f}"
            if kind in ("vend", EVERY_MODEL, "boto3 GetItem")
            else "- | -"
        )
        print(
            f"| {kind} | {start['import_ms']:.0f} | {start['import_ms'] / bare:.2f} | {first} | "
            f"{start['max_rss_mb']:.0f} |"
        )
    loaded = starts["vend"]["loaded"]
    print(f"tracing SDK or requests loaded by the first cached answer: {loaded or 'neither'}")
    print(
        "the tracing path (Lambda's own, docs/design-tracing.md) adds no import: the vend ratio "
        "above is the chosen path's cold start against a bare `import boto3`"
    )
    print(
        f"layer, unzipped: {layer['total_mb']:.1f} MB, of which the AWS SDK (botocore, jmespath) "
        f"{layer['sdk_mb']:.1f} MB"
    )
