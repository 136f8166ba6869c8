"""A release someone can adopt: one version everywhere, a license, a changelog, and the metadata
`sam publish` needs for the AWS Serverless Application Repository (its own checks, and SAR's
documented limits on each field)."""

from __future__ import annotations

import re
import tomllib

import vcc_token_client
from vcc_token_client.cli_parser import version_line

import vcc_token_contract
import vcc_tokens
from local.stack import ROOT, load_template

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


def sar() -> dict[str, object]:
    metadata: dict[str, object] = load_template()["Metadata"]["AWS::ServerlessRepo::Application"]
    return metadata


def test_one_version_for_the_application_the_layer_the_client_and_the_cli() -> None:
    version = vcc_tokens.__version__
    assert SEMVER.match(version)
    assert vcc_token_client.__version__ == version
    assert vcc_token_contract.__version__ == version
    assert sar()["SemanticVersion"] == version
    assert version_line() == f"vcc-token {version} (service code {version})"
    for package in ("client", "layers/common", "layers/common/contract"):
        project = tomllib.loads((ROOT / package / "pyproject.toml").read_text())["project"]
        assert project["dynamic"] == ["version"]  # read from the package's __version__
    newest = re.search(r"^## \[(\d[^\]]*)\] - \d{4}-\d{2}-\d{2}$", changelog(), re.MULTILINE)
    assert newest is not None
    assert newest.group(1) == version


def changelog() -> str:
    return (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_the_changelog_keeps_a_changelog() -> None:
    text = changelog()
    assert text.startswith("# Changelog\n")
    assert "## [Unreleased]" in text
    assert "keepachangelog.com" in text


def test_the_license_is_apache_2_and_the_metadata_says_so() -> None:
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in license_text
    assert "Version 2.0, January 2004" in license_text
    assert sar()["SpdxLicenseId"] == "Apache-2.0"


def test_the_serverless_repo_metadata_passes_sam_publishs_checks() -> None:
    metadata = sar()
    # sam publish: author, description and name for a new application, a semantic version for
    # each version, and a license and readme as a URL or a body, not both
    for field in ("Author", "Description", "Name", "SemanticVersion"):
        assert metadata.get(field), field
    assert not ("LicenseBody" in metadata and "LicenseUrl" in metadata)
    assert not ("ReadmeBody" in metadata and "ReadmeUrl" in metadata)
    # sam package uploads the files these name, relative to the template
    assert (ROOT / str(metadata["LicenseUrl"])).is_file()
    assert (ROOT / str(metadata["ReadmeUrl"])).is_file()
    # SAR's limits (CreateApplication)
    assert re.fullmatch(r"[a-zA-Z0-9\-]{1,140}", str(metadata["Name"]))
    assert re.fullmatch(r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?", str(metadata["Author"]))
    assert len(str(metadata["Author"])) <= 127
    assert 1 <= len(str(metadata["Description"])) <= 256
    labels = metadata["Labels"]
    assert isinstance(labels, list)
    assert len(labels) <= 10
    assert all(re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", label) for label in labels)
