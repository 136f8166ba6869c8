"""A package imported without running its `__init__` until something in it is asked for.

Powertools 3.37's `aws_lambda_powertools.event_handler/__init__.py` imports every resolver it
has (AppSync, Bedrock, VPC Lattice, HTTP..., and asyncio with them): about 60-80 ms of every cold
start, for a function that uses only the REST resolver. Python runs a package's `__init__` before
any of its submodules, so importing `event_handler.api_gateway` directly does not avoid it.
`lazy_package` registers the package with its `__init__` deferred (PEP 562 `__getattr__`):
submodules import as usual, and the first request for anything else (a name the `__init__`
defines) runs the real `__init__` then, so nothing that imports from the package breaks.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType


def lazy_package(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not a package")
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def __getattr__(attribute: str) -> object:  # noqa: N807 - PEP 562's name
        submodule = f"{name}.{attribute}"
        if importlib.util.find_spec(submodule) is not None:
            return importlib.import_module(submodule)
        del package.__getattr__
        loader.exec_module(package)  # the real __init__, now that a name of it is wanted
        return getattr(package, attribute)

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = package
    return package
