"""Configuration from the environment: defaults, every variable, and clear errors."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from sreplat_apps.boot import api, paths
from sreplat_apps.settings import Settings, SettingsError, package_version
from sreplat_apps.worker import cli as worker_cli


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})

    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.queue == "jobs"
    assert settings.max_body_bytes == 65536
    assert settings.release == package_version()
    assert settings.worker_metrics_port == 9100
    assert settings.runtime_dir == Path(tempfile.gettempdir()) / "sreplat"


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "REDIS_URL": "rediss://:pw@redis:6380/2",
            "SREPLAT_QUEUE": "batch.v2",
            "MAX_BODY_BYTES": "1024",
            "SREPLAT_RELEASE": "abc123",
            "SREPLAT_RUNTIME_DIR": "/run/sreplat",
            "WORKER_METRICS_PORT": "9200",
            "WORKER_METRICS_HOST": "127.0.0.1",
            "LOG_LEVEL": "debug",
            "SREPLAT_RESULT_TTL": "60",
            "SREPLAT_FAILURE_TTL": "120",
            "SREPLAT_RETRY_MAX": "0",
            "SREPLAT_RETRY_INTERVALS": "2, 4,8",
            "SREPLAT_HEARTBEAT_SECONDS": "3",
            "SREPLAT_ABANDON_GRACE_SECONDS": "4",
            "SREPLAT_MAINTENANCE_SECONDS": "5",
            "SREPLAT_SCHEDULER_SECONDS": "2",
            "SREPLAT_REDIS_TIMEOUT_SECONDS": "0.5",
        }
    )

    assert settings == Settings(
        redis_url="rediss://:pw@redis:6380/2",
        queue="batch.v2",
        max_body_bytes=1024,
        release="abc123",
        runtime_dir=Path("/run/sreplat"),
        log_level="DEBUG",
        worker_metrics_port=9200,
        worker_metrics_host="127.0.0.1",
        result_ttl=60,
        failure_ttl=120,
        retry_max=0,
        retry_intervals=(2, 4, 8),
        heartbeat_seconds=3,
        abandon_grace_seconds=4,
        maintenance_seconds=5,
        scheduler_seconds=2,
        redis_timeout_seconds=0.5,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "http://redis"),
        ("SREPLAT_QUEUE", "has space"),
        ("MAX_BODY_BYTES", "0"),
        ("MAX_BODY_BYTES", "64k"),
        ("WORKER_METRICS_PORT", "65536"),
        ("WORKER_METRICS_HOST", "-x"),
        ("WORKER_METRICS_HOST", "a host"),
        ("LOG_LEVEL", "loud"),
        ("SREPLAT_RETRY_INTERVALS", "1,,2"),
        ("SREPLAT_RETRY_INTERVALS", "-1"),
        ("SREPLAT_REDIS_TIMEOUT_SECONDS", "soon"),
        ("SREPLAT_RELEASE", "x" * 129),
    ],
)
def test_invalid_values_name_the_variable_the_value_and_the_expectation(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})

    message = str(raised.value)
    assert message.startswith(f"{name}={value!r}: expected")


def test_metrics_dir_defaults_per_service_under_the_runtime_dir(tmp_path: Path) -> None:
    environ = {"SREPLAT_RUNTIME_DIR": str(tmp_path)}

    assert paths.metrics_dir("api", environ) == tmp_path / "metrics" / "api"
    assert paths.metrics_dir("worker", environ) == tmp_path / "metrics" / "worker"
    assert paths.metrics_dir("api", {**environ, "PROMETHEUS_MULTIPROC_DIR": "/m"}) == Path("/m")


def test_activating_the_metrics_dir_wipes_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SREPLAT_RUNTIME_DIR", str(tmp_path))
    # setenv first so that monkeypatch restores "unset" after activate_metrics_dir sets it.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "placeholder")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    stale = tmp_path / "metrics" / "worker" / "counter_123.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x")

    kept = paths.activate_metrics_dir("worker", wipe=False)
    assert stale.exists()
    wiped = paths.activate_metrics_dir("worker", wipe=True)

    assert kept == wiped == stale.parent
    assert not stale.exists()
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(stale.parent)


@pytest.mark.parametrize(
    ("cpu_max", "limit"),
    [("max 100000\n", None), ("50000 100000\n", 1), ("150000 100000\n", 2), ("garbage", None)],
)
def test_api_workers_default_to_the_cpus_the_cgroup_allows(
    tmp_path: Path, cpu_max: str, limit: int | None
) -> None:
    cpu_file = tmp_path / "cpu.max"
    cpu_file.write_text(cpu_max)
    affinity = len(os.sched_getaffinity(0))

    assert api.available_cpus(cpu_file) == (min(affinity, limit) if limit else affinity)
    assert api.available_cpus(tmp_path / "missing") == affinity


def test_web_concurrency_sets_the_api_workers() -> None:
    assert api.default_workers({"WEB_CONCURRENCY": "7"}) == 7
    assert api.default_workers({}) == api.available_cpus()
    with pytest.raises(api.UsageError, match="WEB_CONCURRENCY"):
        api.default_workers({"WEB_CONCURRENCY": "0"})


def test_worker_processes_default_to_the_available_cpus_like_the_api() -> None:
    assert worker_cli.parse_args([]).workers == api.available_cpus()
    assert worker_cli.parse_args(["--workers", "3"]).workers == 3
