"""Clients that stall mid-request (slowloris) must cost the real ``sreplat-api`` nothing but a
socket each: complete requests keep being served at full speed, and the stalled sockets are closed
once the header or body timeout runs out (issue 15, item 1)."""

from __future__ import annotations

import math
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.apps.rawhttp import connect, post, timed_get
from tests.support.apps import AppProcess, app_env, start_api
from tests.support.redis_server import free_port

pytestmark = [pytest.mark.redis, pytest.mark.e2e, pytest.mark.slow]

TIMEOUT_S = 6  # the API's header and body timeouts in this test
STALLED = 200
KEEPALIVE_CLIENTS = 8  # as many as the API has serving threads (2 workers x 4)
TRICKLE_EVERY_S = 1.0


@pytest.fixture
def guarded_api(redis_url: str, tmp_path: Path) -> Iterator[tuple[AppProcess, int]]:
    port = free_port()
    env = app_env(
        redis_url,
        tmp_path / "rt",
        SREPLAT_HEADER_TIMEOUT_SECONDS=str(TIMEOUT_S),
        SREPLAT_BODY_TIMEOUT_SECONDS=str(TIMEOUT_S),
    )
    process = start_api(env, port, tmp_path / "api.log", workers=2)
    yield process, port
    process.stop(timeout=30)


@dataclass
class StalledSocket:
    sock: socket.socket
    opened: float
    trickle: bytes  # sent one byte per TRICKLE_EVERY_S (a head that never ends); b"": silent
    closed_after: float | None = None  # seconds from open until the server closed it


class Staller:
    """Opens ``count`` stalled requests, half slowloris heads and half bodies that stop, keeps
    trickling, and records when the server closes each one."""

    def __init__(self, port: int, count: int) -> None:
        self.sockets: list[StalledSocket] = []
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        for n in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if n % 2:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                trickle = b"a" * 1000
            else:
                head = b"POST /process HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                sock.sendall(head + b"Content-Length: 10000\r\n\r\n" + b'{"task": "echo", ')
                trickle = b""
            sock.setblocking(False)
            stalled = StalledSocket(sock, time.monotonic(), trickle)
            self.sockets.append(stalled)
            self._selector.register(sock, selectors.EVENT_READ, stalled)
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        next_trickle = time.monotonic() + TRICKLE_EVERY_S
        while not self._stop.is_set() and self._selector.get_map():
            for key, _events in self._selector.select(0.1):
                stalled: StalledSocket = key.data
                try:
                    data = stalled.sock.recv(65536)  # a 408 answer, then EOF
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    stalled.closed_after = time.monotonic() - stalled.opened
                    self._selector.unregister(stalled.sock)
            if time.monotonic() >= next_trickle:
                next_trickle += TRICKLE_EVERY_S
                for stalled in self.sockets:
                    if stalled.trickle and stalled.closed_after is None:
                        try:
                            stalled.sock.send(stalled.trickle[:1])
                            stalled.trickle = stalled.trickle[1:]
                        except OSError:
                            pass

    def wait_closed(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(s.closed_after is None for s in self.sockets):
            time.sleep(0.1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for stalled in self.sockets:
            stalled.sock.close()
        self._selector.close()


def _p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


def test_stalled_clients_neither_block_nor_slow_complete_requests_and_are_closed_on_timeout(
    guarded_api: tuple[AppProcess, int],
) -> None:
    _process, port = guarded_api
    # Kept-alive clients first, so they are spread over every serving thread before the stall.
    clients = [connect(port, timeout=3) for _ in range(KEEPALIVE_CLIENTS)]
    for sock, reader in clients:
        sock.sendall(post())
        assert reader.response()[0] == 202
    before = [timed_get(port) for _ in range(100)]

    staller = Staller(port, STALLED)
    try:
        # Measure only while every stalled socket is still open (none has reached its timeout).
        window_end = staller.sockets[0].opened + TIMEOUT_S - 0.5
        during: list[tuple[int, float]] = []
        posted: list[int] = []
        while time.monotonic() < window_end and len(during) < 1000:
            during.append(timed_get(port))
            sock, reader = clients[len(during) % KEEPALIVE_CLIENTS]
            try:
                sock.sendall(post())
                posted.append(reader.response()[0])
            except OSError:
                posted.append(0)
            time.sleep(0.005)
        open_at_window_end = sum(s.closed_after is None for s in staller.sockets)
        staller.wait_closed(TIMEOUT_S + 5)
    finally:
        staller.close()
        for sock, _reader in clients:
            sock.close()

    p99_before = _p99([seconds for _status, seconds in before])
    p99_during = _p99([seconds for _status, seconds in during])
    print(
        f"/healthz p99: {p99_before * 1000:.1f} ms alone, {p99_during * 1000:.1f} ms with {STALLED} stalled"
        f" sockets ({len(during)} probes); stalled sockets closed after"
        f" {min(s.closed_after or 0 for s in staller.sockets):.1f}-"
        f"{max(s.closed_after or 0 for s in staller.sockets):.1f} s"
    )
    assert open_at_window_end == STALLED  # the stall was in force for every probe
    assert [status for status, _seconds in during] == [200] * len(during)
    assert len(during) >= 100
    # The bound (p99 within 100 ms). Broken, the server answers in seconds or never
    # (every thread blocked in a read): far outside any noise of a loaded machine.
    assert p99_during <= 0.1
    assert posted == [202] * len(posted)
    closed = [s.closed_after for s in staller.sockets]
    assert None not in closed, f"{closed.count(None)} stalled sockets still open"
    # Closed by the timeout (checked about once a second), not before it.
    assert all(TIMEOUT_S - 0.5 <= seconds <= TIMEOUT_S + 3 for seconds in closed if seconds is not None)


def test_connections_per_worker_are_bounded(redis_url: str, tmp_path: Path) -> None:
    # One process, 4 threads: SREPLAT_MAX_CONNECTIONS=8 gives each thread 2. A 9th connection
    # waits in the listen backlog until one of the 8 goes away.
    port = free_port()
    env = app_env(
        redis_url, tmp_path / "rt", SREPLAT_MAX_CONNECTIONS="8", SREPLAT_HEADER_TIMEOUT_SECONDS="60"
    )
    api = start_api(env, port, tmp_path / "api.log", workers=1)
    held = []
    try:
        time.sleep(1.5)  # the readiness probes' connections are gone (closed by start_api)
        held = [connect(port, timeout=5) for _ in range(8)]
        time.sleep(0.5)  # every one of them accepted
        sock, reader = connect(port, timeout=1)
        with sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            with pytest.raises(TimeoutError):
                reader.response()
            held.pop()[0].close()
            sock.settimeout(5)
            assert reader.response()[0] == 200
    finally:
        for held_sock, _reader in held:
            held_sock.close()
        api.stop(timeout=30)
