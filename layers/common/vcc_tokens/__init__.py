"""Shared code of the VCC token-vending service, shipped to every function as a Lambda layer."""

__version__ = "1.0.0"  # the release's one version (CHANGELOG.md; tests/unit/test_release.py)
