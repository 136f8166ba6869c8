"""Powertools' REST resolver and what the handler needs with it, imported without running the
`aws_lambda_powertools.event_handler` package's `__init__`, which loads every resolver
Powertools has (see vcc_tokens.lazy_imports; about 60-80 ms of every cold start). Import these
names from here, and nothing from the event_handler package before this module."""

from vcc_tokens.lazy_imports import lazy_package

lazy_package("aws_lambda_powertools.event_handler")

from aws_lambda_powertools.event_handler import content_types  # noqa: E402
from aws_lambda_powertools.event_handler.api_gateway import (  # noqa: E402
    APIGatewayRestResolver,
    Response,
)
from aws_lambda_powertools.event_handler.exceptions import NotFoundError  # noqa: E402

__all__ = ["APIGatewayRestResolver", "NotFoundError", "Response", "content_types"]
