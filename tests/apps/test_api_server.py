"""``sreplat-api`` as the local target runs it: real gunicorn master and workers, real Redis."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sreplat_apps

from tests.support.apps import AppProcess, app_env, http_get, start_api, wait_for
from tests.support.redis_server import free_port

pytestmark = [pytest.mark.redis, pytest.mark.e2e, pytest.mark.slow]


def _worker_pids(master: int) -> set[int]:
    path = Path(f"/proc/{master}/task/{master}/children")
    return {int(pid) for pid in path.read_text().split()} if path.exists() else set()


def test_master_imports_no_application_module() -> None:
    probe = (
        "import json, os, sys\n"
        "from sreplat_apps.boot import api, gunicorn_server as g\n"
        "args = api.parse_args(['--bind', '127.0.0.1:1', '--workers', '2'], os.environ)\n"
        "g.ApiServer(g.gunicorn_options(args.bind, args.workers, os.environ))\n"
        "watched = ('sreplat_apps', 'flask', 'werkzeug', 'rq', 'redis', 'pydantic', 'opentelemetry',"
        " 'prometheus_client')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in watched)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout

    imported = set(json.loads(out.strip().splitlines()[-1]))
    assert imported == {
        "sreplat_apps",
        "sreplat_apps.boot",
        "sreplat_apps.boot.api",
        "sreplat_apps.boot.cpus",
        "sreplat_apps.boot.gunicorn_server",
        "sreplat_apps.boot.http_stage",
        "sreplat_apps.boot.jsonlog",
        "sreplat_apps.boot.loop_worker",
        "sreplat_apps.boot.paths",
    }


def test_post_process_through_gunicorn_and_oversized_body_is_refused(api: tuple[AppProcess, int]) -> None:
    _process, port = api
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(
        "POST",
        "/process",
        body=b'{"task": "echo", "payload": {}}',
        headers={"Content-Type": "application/json"},
    )
    accepted = connection.getresponse()
    assert accepted.status == 202
    accepted.read()

    connection.request(
        "POST", "/process", body=b"x" * (1024 * 1024), headers={"Content-Type": "application/json"}
    )
    refused = connection.getresponse()

    assert refused.status == 413
    assert json.loads(refused.read())["error"]["code"] == "payload_too_large"
    connection.close()


def test_metrics_add_up_across_gunicorn_workers(api: tuple[AppProcess, int]) -> None:
    process, port = api
    assert len(_worker_pids(process.pid)) == 2
    for _ in range(30):  # new connection each time: spread over both workers
        assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200

    status, body = http_get(f"http://127.0.0.1:{port}/metrics")

    assert status == 200
    text = body.decode()
    assert 'sreplat_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith('sreplat_http_requests_total{method="GET",route="/healthz"')
    )
    assert float(line.split()[-1]) >= 30  # plus the readiness polls of start_api
    assert 'sreplat_build_info{release="' in text
    assert 'sreplat_queue_depth{queue="jobs"} 0.0' in text


def test_api_writes_only_under_its_runtime_dir(api: tuple[AppProcess, int], tmp_path: Path) -> None:
    # Read-only root filesystem: gunicorn's control socket would go to $HOME, its heartbeat files
    # and the metrics to the runtime dir.
    _process, port = api
    assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200

    assert list((tmp_path / "home").iterdir()) == []
    assert {path.name for path in (tmp_path / "rt").iterdir()} == {"gunicorn", "metrics"}
    assert any((tmp_path / "rt" / "metrics" / "api").glob("*.db"))


def test_sighup_reload_loads_new_code_without_failing_a_request(redis_url: str, tmp_path: Path) -> None:
    # A copy of the package first on PYTHONPATH stands for "a new release installed".
    source = Path(sreplat_apps.__file__).parent
    shutil.copytree(source, tmp_path / "code" / "sreplat_apps")
    routes = tmp_path / "code" / "sreplat_apps" / "api" / "routes.py"
    port = free_port()
    env = app_env(redis_url, tmp_path / "rt", PYTHONPATH=str(tmp_path / "code"))
    api = start_api(env, port, tmp_path / "api.log", workers=2)
    failures: list[str] = []
    served = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal served
        while not stop.is_set():
            try:
                status, _ = http_get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                served += 1
                if status != 200:
                    failures.append(f"status {status}")
            except OSError as exc:
                failures.append(repr(exc))

    try:
        old_workers = _worker_pids(api.pid)
        assert json.loads(http_get(f"http://127.0.0.1:{port}/healthz")[1])["release"] != "reloaded"
        routes.write_text(
            routes.read_text().replace("Health(release=_settings().release)", 'Health(release="reloaded")')
        )
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()

        api.send(signal.SIGHUP)
        wait_for(
            lambda: json.loads(http_get(f"http://127.0.0.1:{port}/healthz")[1])["release"] == "reloaded",
            30,
            "new workers serving the new code",
        )
        wait_for(lambda: not (_worker_pids(api.pid) & old_workers), 30, "old workers to exit")
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        stop.set()
        code = api.stop(timeout=30)

    assert failures == []
    assert served > 0
    assert len(_worker_pids(api.pid)) == 0
    assert code == 0  # SIGTERM: graceful stop


def test_bad_flags_and_environment_exit_2_with_the_reason(tmp_path: Path) -> None:
    api = [sys.executable, "-c", "import sys; from sreplat_apps.boot.api import main; main(sys.argv[1:])"]
    worker = [
        sys.executable,
        "-c",
        "import sys; from sreplat_apps.worker.cli import main; main(sys.argv[1:])",
    ]
    env = app_env("redis://127.0.0.1:1/0", tmp_path / "rt")
    cases = [
        ([*api, "--bind", "nowhere"], env, "HOST:PORT"),
        ([*api, "--workers", "0"], env, "--workers"),
        (api, {**env, "WEB_CONCURRENCY": "many"}, "WEB_CONCURRENCY"),
        ([*worker, "--workers", "-1"], env, "--workers"),
        ([*worker, "--metrics-port", "70000"], env, "--metrics-port"),
        ([*worker, "--metrics-host", "not a host!"], env, "--metrics-host"),
        (worker, {**env, "WORKER_METRICS_HOST": "-x"}, "WORKER_METRICS_HOST"),
        (api, {**env, "SREPLAT_HEADER_TIMEOUT_SECONDS": "0"}, "SREPLAT_HEADER_TIMEOUT_SECONDS"),
        (api, {**env, "SREPLAT_BODY_TIMEOUT_SECONDS": "soon"}, "SREPLAT_BODY_TIMEOUT_SECONDS"),
        (api, {**env, "SREPLAT_MAX_CONNECTIONS": "0"}, "SREPLAT_MAX_CONNECTIONS"),
        (worker, {**env, "MAX_BODY_BYTES": "lots"}, "MAX_BODY_BYTES='lots'"),
        (worker, {**env, "REDIS_URL": "http://x"}, "REDIS_URL"),
    ]
    for argv, environ, reason in cases:
        result = subprocess.run(argv, env=environ, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 2, (argv, result.stderr)
        assert reason in result.stderr
        assert "Traceback" not in result.stderr


def test_api_with_an_invalid_setting_stops_with_the_reason(redis_url: str, tmp_path: Path) -> None:
    env = app_env(redis_url, tmp_path / "rt", MAX_BODY_BYTES="lots")
    argv = [sys.executable, "-c", "import sys; from sreplat_apps.boot.api import main; main(sys.argv[1:])"]

    result = subprocess.run(
        [*argv, "--bind", f"127.0.0.1:{free_port()}", "--workers", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "MAX_BODY_BYTES='lots'" in result.stdout + result.stderr
