"""``terraform fmt`` and ``checkov`` over terraform/ (both real binaries)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import checkov
from tests.terraform.hcl import TERRAFORM_DIR

CHECKOV_CONFIG = TERRAFORM_DIR / ".checkov.yaml"


def run_checkov(directory: Path) -> dict[str, Any]:
    return checkov.run_checkov(directory, config=CHECKOV_CONFIG, framework="terraform")


@pytest.mark.terraform
def test_terraform_fmt_is_clean(tmp_path: Path) -> None:
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text("")
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TF_CLI_CONFIG_FILE": str(cli_config)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_checkov_finds_no_failed_check_in_terraform() -> None:
    report = run_checkov(TERRAFORM_DIR)
    summary = report["summary"]
    assert isinstance(summary, dict)
    failed = report["results"]["failed_checks"]
    assert summary["failed"] == 0, "\n".join(
        f"{c['check_id']} {c['resource']} {c['file_path']}" for c in failed
    )
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 30, summary


@pytest.mark.slow
def test_checkov_with_our_config_still_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "main.tf").write_text(
        'resource "google_dns_managed_zone" "zone" {\n'
        '  name     = "zone"\n'
        '  dns_name = "example.com."\n'
        "  dnssec_config {\n"
        '    state = "off"\n'
        "  }\n"
        "}\n"
    )
    report = run_checkov(bad)
    failed = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert "CKV_GCP_16" in failed  # DNSSEC


def test_every_checkov_skip_has_a_reason() -> None:
    reasons = checkov.skip_reasons(CHECKOV_CONFIG)
    assert reasons
    assert [check for check, why in reasons.items() if not why] == [], "skips with no reason above them"
