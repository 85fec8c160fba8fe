"""tools.redis_probe against a real redis-server; tools.http_probe against a real HTTP server."""

from __future__ import annotations

import http.server
import json
import os
import socket
from collections.abc import Iterator

import pytest

from sreplat.errors import OperationFailed
from sreplat.tools import http_probe
from sreplat.tools.local import redis_probe
from tests.support.http_server import serving


@pytest.mark.redis
def test_redis_facts(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.rpush("rq:queue:jobs", "a", "b")
    client.zadd("rq:failed:jobs", {"j1": 1})
    client.sadd("rq:workers:jobs", "rq:worker:w1", "rq:worker:gone")
    client.hset(
        "rq:worker:w1", mapping={"pid": os.getpid(), "hostname": socket.gethostname(), "state": "idle"}
    )
    assert redis_probe.ping(redis_url)
    assert redis_probe.queue_depth(redis_url, "jobs") == 2
    assert redis_probe.failed_jobs(redis_url, "jobs") == 1
    workers = redis_probe.workers(redis_url, "jobs")
    assert [(w.name, w.pid, w.state) for w in workers] == [
        ("w1", os.getpid(), "idle")
    ]  # "gone" has no record
    health = redis_probe.health(redis_url)
    assert health.version.count(".") == 2 and health.used_memory_bytes > 0
    assert health.aof_enabled is False  # the test server runs without AOF


def test_redis_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"redis://:secret@127.0.0.1:{port}/0"
    assert redis_probe.ping(url, timeout_s=1) is False
    with pytest.raises(OperationFailed) as info:
        redis_probe.queue_depth(url, "jobs", timeout_s=1)
    assert "secret" not in info.value.message


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200 if self.path == "/ok" else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    with serving(_Handler) as port:
        yield port


def test_http_get(server: int) -> None:
    ok = http_probe.get(f"http://127.0.0.1:{server}/ok")
    assert ok.status == 200 and ok.json() == {"path": "/ok"}
    assert http_probe.get(f"http://127.0.0.1:{server}/no").describe() == "HTTP 503"


def test_http_get_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    answer = http_probe.get(f"http://127.0.0.1:{port}/")
    assert answer.status == 0 and "ConnectionRefused" in answer.error
