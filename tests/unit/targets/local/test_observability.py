"""The local Prometheus' settings and files, without running it (tests/e2e runs it): its port is
checked with the others, its config scrapes the API and every worker and loads the SLO rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sreplat.config import load_environment
from sreplat.errors import ConfigError
from sreplat.targets import REGISTRY, load_target
from sreplat.targets.local import LocalTarget, observability

SLO_DIR = Path(__file__).resolve().parents[4] / "slo"


def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: str) -> LocalTarget:
    monkeypatch.chdir(tmp_path)
    env = load_environment(registry=REGISTRY, overrides=overrides)
    loaded = load_target(env)
    assert isinstance(loaded, LocalTarget)
    return loaded


def test_the_prometheus_port_must_differ_from_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="prometheus and api would both use port 18080"):
        target(tmp_path, monkeypatch, api_port="18080", prometheus_port="18080")
    with pytest.raises(ConfigError, match="prometheus_port"):
        target(tmp_path, monkeypatch, prometheus_port="80")  # below 1024


def test_files_scrape_every_worker_and_load_the_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = target(
        tmp_path,
        monkeypatch,
        api_port="18080",
        workers="3",
        worker_metrics_port="19000",
        evaluation_interval_s="5",
        scrape_interval_s="20",
        slo_dir=str(SLO_DIR),
    ).local
    assert observability.write_files(local) is True
    assert observability.write_files(local) is False  # unchanged: no reload needed
    config = yaml.safe_load(local.layout.prometheus_config.read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {
        "api": ["127.0.0.1:18080"],
        "worker": ["127.0.0.1:19000", "127.0.0.1:19001", "127.0.0.1:19002"],
    }
    assert config["global"] == {
        "scrape_interval": "20s",
        "scrape_timeout": "10s",
        "evaluation_interval": "5s",
    }
    assert config["rule_files"] == [str(local.layout.prometheus_rules)]
    rules = yaml.safe_load(local.layout.prometheus_rules.read_text())
    assert {g["name"]: g["interval"] for g in rules["groups"]} == {
        "slo-api-availability": "5s",
        "slo-api-latency": "5s",
        "slo-job-freshness": "5s",
    }
    assert "by (" not in local.layout.prometheus_rules.read_text()  # one Prometheus: no group_by
    program = next(p for p in local.supervisor.config.programs if p.name == "prometheus")
    assert f"--web.listen-address=127.0.0.1:{local.live.prometheus_port}" in program.command


def test_without_slo_files_prometheus_runs_without_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = target(tmp_path, monkeypatch).local  # no slo/ in the project root
    assert observability.slos(local) == ()
    observability.write_files(local)
    assert yaml.safe_load(local.layout.prometheus_rules.read_text()) == {"groups": []}
