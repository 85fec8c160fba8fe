"""Fixtures for the bundled apps: settings on the test's Redis, the Flask app, span capture, and
``sreplat-api`` as a real gunicorn process."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis import Redis
from sreplat_apps.api import create_app
from sreplat_apps.settings import Settings

from tests.support.apps import AppProcess, app_env, start_api
from tests.support.redis_server import free_port

_LOGGERS = ("", "rq", "rq.worker", "rq.job")
_RECORD_FLAGS = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # create_app / logs.setup install a JSON handler on the root logger (bound to this test's
    # stdout) and set levels: undo that so no other test logs into a closed capture stream.
    # They also stop collecting caller/thread/process on records: restore that for pytest's
    # own log report.
    root = logging.getLogger()
    handlers, levels = list(root.handlers), {name: logging.getLogger(name).level for name in _LOGGERS}
    flags = {name: getattr(logging, name) for name in _RECORD_FLAGS}
    yield
    root.handlers[:] = handlers
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    for name, value in flags.items():
        setattr(logging, name, value)


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return replace(
        Settings.from_env({}), redis_url=redis_url, runtime_dir=tmp_path / "runtime", release="test-1"
    )


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def app(settings: Settings, spans: InMemorySpanExporter) -> Iterator[Flask]:
    app = create_app({"SETTINGS": settings, "SPAN_EXPORTERS": [spans], "TESTING": True})
    yield app
    app.extensions["sreplat.jobs"].connection.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def api(redis_url: str, tmp_path: Path) -> Iterator[tuple[AppProcess, int]]:
    """``sreplat-api`` as a process (gunicorn, two workers) on the test's Redis: (process, port).
    It runs under tmp_path/rt and logs to tmp_path/api.log."""
    port = free_port()
    process = start_api(app_env(redis_url, tmp_path / "rt"), port, tmp_path / "api.log", workers=2)
    yield process, port
    process.stop(timeout=30)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


def post_process(client: FlaskClient, body: Any, **headers: str) -> Any:
    return client.post(
        "/process", data=json.dumps(body), headers={"Content-Type": "application/json", **headers}
    )


def queued_job_ids(redis_client: Redis, queue: str = "jobs") -> list[str]:
    return [raw.decode() for raw in redis_client.lrange(f"rq:queue:{queue}", 0, -1)]
