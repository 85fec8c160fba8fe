"""Fixtures shared by the whole suite.

- Every test runs with HOME, the state root and the temp dir isolated, and NO_COLOR=1.
- ``redis_server`` is a real redis-server on a free loopback port (session scoped);
  ``redis_url`` gives each test a flushed database on it.
- The public Web PKI is stood in for by one throwaway CA in ``SSL_CERT_FILE``, which must be in
  the environment pytest started with (the Helm SDK is Go): ``pytest_configure`` re-executes
  pytest once to put it there, before any test module loads (tests/support/public_pki.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import public_pki
from tests.support.redis_server import RedisServer


def pytest_configure(config: pytest.Config) -> None:
    capture = config.pluginmanager.getplugin("capturemanager")
    public_pki.install(before_exec=lambda: capture and capture.suspend_global_capture(in_=True))


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SREPLAT_STATE_ROOT", str(tmp_path / "state"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TF_IN_AUTOMATION", "1")
    for var in list(__import__("os").environ):
        # A developer's own configuration must not leak into tests.
        if var.startswith("SREPLAT_") and var != "SREPLAT_STATE_ROOT":
            monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.ensure_running()
    redis_server.flushall()
    return redis_server.url
