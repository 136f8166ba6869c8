"""docs/configuration.md's table, made from the settings' own declarations
(vcc_tokens.values.config: each Settings field's variable, default, range and meaning), so that
no default or range is written down twice. `make docs` writes it; a test fails when the page is
stale."""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

from local.stack import ROOT
from vcc_tokens.values.config import Setting, Settings

PAGE = ROOT / "docs" / "configuration.md"
HEADER = """# Configuration

The functions' environment variables: the template sets them (from its parameters where one is
named), and each execution environment reads them once and validates them; a wrong value stops
it with a message naming the variable and what is allowed. A variable renamed so that "refresh"
means only the 401 route and "renew" replacing a token before it expires is still read by its
former name when the new one is not set (both set, they must agree). Besides these: `POWERTOOLS_*`
(service name, metrics namespace, log level: the template's Globals).

<!-- generated from vcc_tokens/values/config.py by generators/configuration_doc.py (make docs) -->
"""


def default_text(spec: Setting, default: Any) -> str:
    if spec.shown_default:
        shown = spec.shown_default
    elif default is MISSING:
        shown = "required"
    elif isinstance(default, (int, float)) and not isinstance(default, bool):
        shown = f"{default / spec.scale:g}"
    else:
        shown = f"`{default}`"
    return f"`{spec.template}`: {shown}" if spec.template else shown


def range_text(spec: Setting) -> str:
    if spec.choices:
        return ", ".join(spec.choices)
    if spec.low is None and spec.high is None:
        return ""
    return f"{spec.low:g} to {spec.high:g}"


def render() -> str:
    rows = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    for spec_field in fields(Settings):
        spec: Setting = spec_field.metadata["setting"]
        default = default_text(spec, spec_field.default)
        meaning = spec.meaning + (
            f" (formerly `{spec.formerly}`, still read)" if spec.formerly else ""
        )
        rows.append(f"| `{spec.variable}` | {default} | {range_text(spec)} | {meaning} |")
    return HEADER + "\n" + "\n".join(rows) + "\n"


if __name__ == "__main__":
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
