"""Shared code of the VCC token-vending service, shipped to every function as a Lambda layer."""
