"""``terraform fmt`` and ``checkov`` over terraform/ (both real binaries)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.terraform.hcl import TERRAFORM_DIR

REPO = TERRAFORM_DIR.parent
CHECKOV_CONFIG = TERRAFORM_DIR / ".checkov.yaml"


def checkov_binary() -> str:
    local = REPO / ".tools" / "checkov" / "bin" / "checkov"
    found = str(local) if local.exists() else shutil.which("checkov")
    if found is None:
        pytest.fail("checkov is not installed: run `make .tools/checkov/.installed` (make test does)")
    return found


def run_checkov(directory: Path) -> dict[str, object]:
    result = subprocess.run(
        [checkov_binary(), "--config-file", str(CHECKOV_CONFIG), "-d", str(directory), "-o", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    [terraform] = [r for r in reports if r.get("check_type") == "terraform"]
    return dict(terraform)


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
    failed = report["results"]["failed_checks"]  # type: ignore[index]
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
    failed = {c["check_id"] for c in report["results"]["failed_checks"]}  # type: ignore[index]
    assert "CKV_GCP_16" in failed  # DNSSEC


def test_every_checkov_skip_has_a_reason() -> None:
    lines = CHECKOV_CONFIG.read_text().splitlines()
    start = lines.index("skip-check:")
    skips = 0
    for number, line in enumerate(lines[start + 1 :], start=start + 1):
        match = re.fullmatch(r"\s+- (CKV2?_\w+)", line)
        if match is None:
            continue
        skips += 1
        assert lines[number - 1].strip().startswith("#"), f"{match.group(1)} has no reason comment above it"
    assert skips > 0
