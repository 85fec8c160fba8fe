"""What a local environment runs under supervisord (redis, the API, one program per worker), the
configuration each gets, and the addresses they answer on."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from sreplat.targets.local.layout import Layout
from sreplat.targets.local.settings import LocalSettings
from sreplat.tools.local.supervisor import Program, SupervisorConfig, socket_path_for

QUEUE = "jobs"
APP_SCRIPTS = ("sreplat-api", "sreplat-worker")


def redis_url(settings: LocalSettings) -> str:
    return f"redis://127.0.0.1:{settings.redis_port}/0"


def api_url(settings: LocalSettings) -> str:
    host = "127.0.0.1" if settings.api_host == "0.0.0.0" else settings.api_host  # noqa: S104 - reach a wildcard bind via loopback
    return f"http://{host}:{settings.api_port}"


def worker_names(settings: LocalSettings) -> list[str]:
    return [f"worker-{i + 1}" for i in range(settings.workers)]


def supervisor_config(
    layout: Layout, settings: LocalSettings, *, identifier: str, python_path: Path
) -> SupervisorConfig:
    """The supervisord programs for ``settings``; every app process imports from ``python_path``."""
    s = settings
    common = {
        "PYTHONPATH": str(python_path),
        "PYTHONUNBUFFERED": "1",
        "REDIS_URL": redis_url(s),
        "SREPLAT_QUEUE": QUEUE,
        # Empty: the version comes from the release dir's package metadata (tools/local/release_dirs.py).
        "SREPLAT_RELEASE": "",
        "SREPLAT_RUNTIME_DIR": str(layout.runtime_dir),
    }
    programs = [
        Program(
            name="redis",
            command=(binary("redis-server"), str(layout.redis_conf)),
            stdout_log=layout.log("redis"),
            directory=layout.redis_data,
            stopwaitsecs=60,
            priority=10,
        ),
        Program(
            name="api",
            command=(
                script("sreplat-api"),
                "--bind",
                f"{s.api_host}:{s.api_port}",
                "--workers",
                str(s.api_workers),
            ),
            stdout_log=layout.log("api"),
            environment={**common, "PROMETHEUS_MULTIPROC_DIR": str(layout.runtime_dir / "metrics" / "api")},
            directory=layout.runtime_dir,
            stopwaitsecs=45,  # gunicorn's graceful timeout is 30 s
            priority=20,
        ),
    ]
    for index, name in enumerate(worker_names(s)):
        port = s.worker_ports[index]
        programs.append(
            Program(
                name=name,
                command=(script("sreplat-worker"), "--workers", "1", "--metrics-port", str(port)),
                stdout_log=layout.log(name),
                environment={
                    **common,
                    "WORKER_METRICS_PORT": str(port),
                    "PROMETHEUS_MULTIPROC_DIR": str(layout.runtime_dir / "metrics" / name),
                },
                directory=layout.runtime_dir,
                stopwaitsecs=90,  # a warm stop lets the running job (up to 60 s) finish
                priority=30,
                group="workers",
            )
        )
    return SupervisorConfig(
        run_dir=layout.run_dir,
        log_dir=layout.logs_dir,
        identifier=identifier,
        programs=tuple(programs),
        socket_path=socket_path_for(layout.run_dir),
    )


def redis_conf(settings: LocalSettings, data_dir: Path) -> str:
    return f"""\
# written by sreplat: changes are overwritten
port {settings.redis_port}
bind 127.0.0.1
protected-mode yes
daemonize no
dir {data_dir}
appendonly yes
appendfsync everysec
save 3600 1 300 100 60 10000
dbfilename dump.rdb
logfile ""
"""


def binary(name: str) -> str:
    return shutil.which(name) or name


def script(name: str) -> str:
    """A console script of this interpreter's environment (the apps are installed next to us)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)
