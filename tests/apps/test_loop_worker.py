"""``ThreadLoopWorker`` (boot/loop_worker.py) under the real ``sreplat-api``: HTTP/1.1 keep-alive,
pipelining, chunked bodies, bad requests, graceful stop. Raw sockets, so every byte is checked."""

from __future__ import annotations

import json
import signal
import time

import pytest
from redis import Redis

from tests.apps.rawhttp import ECHO, chunked_post
from tests.apps.rawhttp import connect as _connect
from tests.apps.rawhttp import post as _post
from tests.support.apps import AppProcess

pytestmark = [pytest.mark.redis, pytest.mark.e2e, pytest.mark.slow]


def test_one_connection_serves_many_requests(api: tuple[AppProcess, int], redis_client: Redis) -> None:
    _process, port = api
    sock, reader = _connect(port)
    with sock:
        for _ in range(20):
            sock.sendall(_post())
            status, headers, body = reader.response()
            assert status == 202
            assert headers.get("connection", "keep-alive").lower() != "close"
            assert headers["location"] == f"/jobs/{json.loads(body)['job_id']}"
    assert redis_client.llen("rq:queue:jobs") == 20


def test_pipelined_requests_are_answered_in_order(api: tuple[AppProcess, int]) -> None:
    _process, port = api
    sock, reader = _connect(port)
    with sock:
        sock.sendall(_post() + b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" + _post(b"{") + _post())

        statuses = [reader.response()[0] for _ in range(4)]

    assert statuses == [202, 200, 400, 202]


def test_an_unread_body_is_drained_before_the_next_request(api: tuple[AppProcess, int]) -> None:
    # A 415 leaves the body unread: it must not be taken for the next request on the connection.
    _process, port = api
    sock, reader = _connect(port)
    with sock:
        sock.sendall(_post(content_type=b"text/plain") + _post())

        assert reader.response()[0] == 415
        assert reader.response()[0] == 202


def test_an_oversized_body_gets_its_413_whole_then_the_connection_closes(
    api: tuple[AppProcess, int],
) -> None:
    # Decided on Content-Length; the 100 kB body is more than gunicorn drains (64 KiB), so the
    # connection closes after the answer, without a reset that would destroy the answer.
    _process, port = api
    sock, reader = _connect(port)
    with sock:
        sock.sendall(_post(b"x" * 100_000) + _post())

        status, _headers, body = reader.response()
        assert (status, json.loads(body)["error"]["code"]) == (413, "payload_too_large")
        assert reader.closed()


def test_a_chunked_body_is_accepted(api: tuple[AppProcess, int]) -> None:
    _process, port = api
    sock, reader = _connect(port)
    chunked = chunked_post(ECHO)
    with sock:
        sock.sendall(chunked + _post())

        status, _headers, body = reader.response()
        assert (status, json.loads(body)["status"]) == (202, "queued")
        assert reader.response()[0] == 202  # and the connection is still good


def _json_error(answer: tuple[int, dict[str, str], bytes]) -> tuple[int, str]:
    status, headers, body = answer
    assert headers["content-type"] == "application/json"
    document = json.loads(body)
    assert set(document) == {"error", "trace_id"}
    assert document["error"]["message"]
    return status, document["error"]["code"]


def test_a_malformed_request_gets_400_and_others_are_unaffected(api: tuple[AppProcess, int]) -> None:
    _process, port = api
    bad, bad_reader = _connect(port)
    good, good_reader = _connect(port)
    with bad, good:
        bad.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert _json_error(bad_reader.response()) == (400, "bad_request")
        assert bad_reader.closed()

        good.sendall(_post())
        assert good_reader.response()[0] == 202


def test_an_oversized_header_gets_a_json_431_and_the_connection_closes(api: tuple[AppProcess, int]) -> None:
    # gunicorn's limit_request_field_size is 8190 bytes per header line.
    _process, port = api
    sock, reader = _connect(port)
    with sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")

        assert _json_error(reader.response()) == (431, "headers_too_large")
        assert reader.closed()


def test_a_head_that_never_ends_gets_a_json_431(api: tuple[AppProcess, int]) -> None:
    # Many small headers and no blank line: refused once the head passes its size limit.
    _process, port = api
    sock, reader = _connect(port)
    with sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + b"X-Many: abcdefgh\r\n" * 8000)

        assert _json_error(reader.response()) == (431, "headers_too_large")
        assert reader.closed()


def test_a_chunked_body_over_the_limit_gets_a_json_413(
    api: tuple[AppProcess, int], redis_client: Redis
) -> None:
    _process, port = api
    sock, reader = _connect(port)
    with sock:
        sock.sendall(chunked_post(b'{"task": "echo", "payload": {"x": "' + b"a" * 70_000 + b'"}}'))

        assert _json_error(reader.response()) == (413, "payload_too_large")
    assert redis_client.llen("rq:queue:jobs") == 0


def test_many_connections_at_once_are_all_served(api: tuple[AppProcess, int]) -> None:
    # More connections than threads (2 workers x 4): each thread serves several.
    _process, port = api
    connections = [_connect(port) for _ in range(24)]
    try:
        for sock, _reader in connections:
            sock.sendall(_post())
        assert [reader.response()[0] for _sock, reader in connections] == [202] * 24
        for sock, _reader in connections:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert [reader.response()[0] for _sock, reader in connections] == [200] * 24
    finally:
        for sock, _reader in connections:
            sock.close()


def test_sigterm_finishes_the_request_in_flight_then_exits_0(
    api: tuple[AppProcess, int], redis_client: Redis
) -> None:
    process, port = api
    sock, reader = _connect(port)
    with sock:
        redis_client.execute_command("CLIENT", "PAUSE", "1500", "WRITE")  # the enqueue will wait
        sock.sendall(_post())
        time.sleep(0.3)  # the request is in the worker, waiting for Redis
        process.send(signal.SIGTERM)

        status, _headers, _body = reader.response()

        assert status == 202  # answered, though the worker was told to stop meanwhile
        assert process.wait(timeout=30) == 0
        assert reader.closed()
    assert redis_client.llen("rq:queue:jobs") == 1


def test_a_stopping_worker_answers_a_kept_alive_connection_once_then_closes(
    api: tuple[AppProcess, int],
) -> None:
    process, port = api
    sock, reader = _connect(port)
    with sock:
        sock.sendall(_post())
        assert reader.response()[0] == 202

        process.send(signal.SIGTERM)
        time.sleep(0.2)  # the workers have started stopping, the connection is lingering
        sock.sendall(_post())

        status, headers, _body = reader.response()
        assert status == 202
        assert headers["connection"].lower() == "close"
        assert reader.closed()
    assert process.wait(timeout=30) == 0
