"""Settings are parsed once, with clear messages for every wrong value."""

import pytest

from vcc_token_contract.events import DEFAULT_RENEW_RATE_MINUTES
from vcc_token_contract.vcc import SCOPES
from vcc_tokens.values.config import ConfigurationError, Settings

REQUIRED = {
    "TOKEN_TABLE_NAME": "tokens",
    "VCC_SECRET_PREFIX": "vcc/",
    "ENTITLEMENTS_PARAMETER": "/vcc/entitlements",
    "TOKEN_KMS_KEY_ID": "alias/vcc-token-cache",
}


def test_defaults_point_at_vcc_over_https_with_the_documented_scopes() -> None:
    settings = Settings.from_env(REQUIRED)
    assert settings.token_url("nam") == "https://nam.cc.vonage.com/Auth/connect/token"
    assert settings.allowed_scopes == frozenset(SCOPES)
    assert settings.connect_timeout + settings.read_timeout < 15  # the function's timeout


@pytest.mark.parametrize("missing", list(REQUIRED))
def test_a_missing_required_setting_is_named(missing: str) -> None:
    env = {name: value for name, value in REQUIRED.items() if name != missing}
    with pytest.raises(ConfigurationError, match=f"{missing} is not set"):
        Settings.from_env(env)


@pytest.mark.parametrize(
    "template",
    [
        "https://{region}.newvoicemedia.com/Auth/connect/token",
        "https://{region}.newvoicemedia.com/auth/connect/token",
        "http://127.0.0.1:8081/{region}/Auth/connect/token",
        "http://localhost:8081/Auth/connect/token",
        "http://[::1]:8081/Auth/connect/token",
    ],
)
def test_legacy_domain_and_loopback_test_servers_are_accepted(template: str) -> None:
    settings = Settings.from_env({**REQUIRED, "VCC_TOKEN_URL_TEMPLATE": template})
    assert settings.token_url("emea") == template.replace("{region}", "emea")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("http://{region}.cc.vonage.com/Auth/connect/token", "must use https"),
        ("http://10.0.0.5/Auth/connect/token", "must use https"),
        ("ftp://{region}.cc.vonage.com/token", "must use https"),
        ("https://{tenant}.cc.vonage.com/token", "only the placeholder {region}"),
        ("/Auth/connect/token", "absolute URL"),
    ],
)
def test_unsafe_or_broken_token_urls_are_refused(template: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**REQUIRED, "VCC_TOKEN_URL_TEMPLATE": template})


@pytest.mark.parametrize(
    ("name", "value"),
    [("FALLBACK_EXPIRES_IN", "0"), ("UPSTREAM_READ_TIMEOUT", "soon"), ("MAX_MIN_TTL", "99999")],
)
def test_numbers_out_of_range_are_refused_with_the_range(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{name} must be"):
        Settings.from_env({**REQUIRED, name: value})


def test_allowed_scopes_is_a_comma_separated_list() -> None:
    settings = Settings.from_env({**REQUIRED, "ALLOWED_SCOPES": " stats ,users:read,"})
    assert settings.allowed_scopes == {"stats", "users:read"}
    with pytest.raises(ConfigurationError, match="at least one scope"):
        Settings.from_env({**REQUIRED, "ALLOWED_SCOPES": " , "})


def test_unset_optional_settings_take_the_dataclass_defaults() -> None:
    assert Settings.from_env(REQUIRED) == Settings(
        table_name="tokens",
        secret_prefix="vcc/",
        entitlements_parameter="/vcc/entitlements",
        kms_key_id="alias/vcc-token-cache",
    )


def test_the_request_deadline_fits_the_function_timeout_and_api_gateways() -> None:
    # API Gateway gives up on an integration after 29 s; the function must answer before both
    from local.stack import load_template

    timeout = load_template()["Globals"]["Function"]["Timeout"]
    settings = Settings.from_env(REQUIRED)
    assert settings.request_budget + 2 <= timeout < 29
    # a request's fetch still gets VCC's whole budget when it starts at once (room to store)
    assert settings.request_budget - 2 * settings.aws_call_seconds >= settings.upstream_budget
    assert settings.aws_call_seconds == 5


def test_a_request_budget_too_short_for_the_aws_timeouts_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="REQUEST_BUDGET_SECONDS must be at least 19"):
        Settings.from_env({**REQUIRED, "AWS_READ_TIMEOUT": "3", "REQUEST_BUDGET_SECONDS": "18"})


def test_the_configuration_page_is_made_from_the_settings() -> None:
    from generators.configuration_doc import PAGE, render

    assert PAGE.read_text(encoding="utf-8") == render(), "stale: run make docs"


def test_each_setting_a_template_parameter_sets_is_set_from_that_parameter() -> None:
    from dataclasses import fields

    from local.stack import load_template

    environment = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    parameters = load_template()["Parameters"]
    named = [f.metadata["setting"] for f in fields(Settings) if f.metadata["setting"].template]
    assert len(named) >= 7
    for spec in named:
        assert spec.template in parameters, spec.template
        assert environment[spec.variable] == {"Ref": spec.template}, spec.variable


def test_each_template_parameters_default_is_its_settings_default() -> None:
    """A parameter's default, read as its variable, gives what the setting defaults to: the
    default has one home (the setting) and the template is held to it."""
    from dataclasses import MISSING, fields

    from local.stack import load_template

    parameters = load_template()["Parameters"]
    unset = Settings.from_env(REQUIRED)
    checked = []
    for f in fields(Settings):
        spec = f.metadata["setting"]
        declared = parameters.get(spec.template, {}).get("Default") if spec.template else None
        if declared is None or f.default is MISSING:
            continue
        from_template = Settings.from_env({**REQUIRED, spec.variable: str(declared)})
        assert getattr(from_template, f.name) == getattr(unset, f.name), spec.template
        checked.append(spec.template)
    assert "RefreshRateMinutes" in checked


def test_the_renewal_rate_parameter_takes_exactly_the_whole_minutes_the_setting_takes() -> None:
    from dataclasses import fields

    from local.stack import load_template

    (rate,) = [f for f in fields(Settings) if f.name == "renew_rate_seconds"]
    spec = rate.metadata["setting"]
    offered = load_template()["Parameters"][spec.template]["AllowedValues"]
    assert offered == list(range(int(spec.low), int(spec.high) + 1))
    for refused in ("1.5", "0", "61"):
        with pytest.raises(ConfigurationError):
            Settings.from_env({**REQUIRED, spec.variable: refused})


def test_the_default_renewal_rate_has_one_home() -> None:
    assert Settings.from_env(REQUIRED).renew_rate_seconds == DEFAULT_RENEW_RATE_MINUTES * 60


def test_a_renamed_variable_is_still_read_by_its_former_name() -> None:
    # "refresh" is the 401 route's word; renewal before expiry reads RENEW_* now
    settings = Settings.from_env({**REQUIRED, "REFRESH_MARGIN_SECONDS": "90"})
    assert settings.renew_margin_seconds == 90
    agreeing = {"REFRESH_RATE_MINUTES": "7", "RENEW_RATE_MINUTES": "7"}
    assert Settings.from_env({**REQUIRED, **agreeing}).renew_rate_seconds == 420
    assert Settings.from_env({**REQUIRED, "RENEW_IDLE_SECONDS": "120"}).idle_seconds == 120


def test_a_former_name_set_wrong_or_against_the_new_one_is_named() -> None:
    with pytest.raises(ConfigurationError, match="REFRESH_MARGIN_FRACTION must be"):
        Settings.from_env({**REQUIRED, "REFRESH_MARGIN_FRACTION": "2"})
    both = {"REFRESH_IDLE_SECONDS": "600", "RENEW_IDLE_SECONDS": "900"}
    with pytest.raises(ConfigurationError, match="REFRESH_IDLE_SECONDS is the former name of"):
        Settings.from_env({**REQUIRED, **both})
