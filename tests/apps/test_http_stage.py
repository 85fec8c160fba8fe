"""``boot.http_stage.frame``: what the bytes received so far on a connection amount to, decided
by gunicorn's own parser reading from memory (the serving thread never waits on a client)."""

from __future__ import annotations

import pytest
from gunicorn.config import Config
from sreplat_apps.boot import http_stage
from sreplat_apps.boot.http_stage import NeedMore, Ready, Refusal

LIMITS = http_stage.Limits(header_timeout=10, body_timeout=30, max_body_bytes=100)
HEAD = b"POST /process HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"


def _frame(data: bytes) -> NeedMore | Ready | Refusal:
    return http_stage.frame(data, Config(), ("127.0.0.1", 1), 1, LIMITS)


def _chunked(body: bytes, *, last: bool = True) -> bytes:
    return (
        HEAD
        + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(body), body)
        + (b"0\r\n\r\n" if last else b"")
    )


@pytest.mark.parametrize("data", [b"", b"GET /healthz HTTP/1.1\r\nHost", b"GET /healthz HTTP/1.1\r\n"])
def test_a_head_still_arriving_waits(data: bytes) -> None:
    assert _frame(data) == NeedMore(in_body=False)


def test_a_body_still_arriving_waits_until_its_length_is_here() -> None:
    data = HEAD + b"Content-Length: 10\r\n\r\n0123"

    waiting = HEAD + b"Content-Length: 10\r\nExpect: 100-continue\r\n\r\n"

    assert _frame(data) == NeedMore(in_body=True, total_bytes=len(data) + 6)
    assert _frame(waiting) == NeedMore(in_body=True, total_bytes=len(waiting) + 10, send_continue=True)


def test_a_complete_request_is_ready_with_its_body_and_the_pipelined_rest() -> None:
    outcome = _frame(HEAD + b"Content-Length: 4\r\n\r\nbodyGET /next")

    assert isinstance(outcome, Ready) and outcome.complete
    assert (outcome.request.method, outcome.request.path) == ("POST", "/process")
    assert outcome.request.body.read() == b"body"
    assert outcome.source.rest() == b"GET /next"


def test_a_chunked_body_is_ready_once_its_last_chunk_is_here() -> None:
    assert _frame(_chunked(b"abc", last=False)) == NeedMore(in_body=True)

    outcome = _frame(_chunked(b"abc") + b"GET")

    assert isinstance(outcome, Ready) and outcome.complete
    assert outcome.request.body.read() == b"abc"  # a fresh parse: the body unread
    assert outcome.source.rest() == b"GET"


@pytest.mark.parametrize(
    "data",
    [HEAD + b"Content-Length: 101\r\n\r\n", _chunked(b"x" * 101, last=False)],
    ids=["content-length", "chunked"],
)
def test_a_body_over_the_limit_is_handed_on_early_and_incomplete(data: bytes) -> None:
    # The application sees the length (or limit + 1 bytes) and answers 413; then the stage closes.
    outcome = _frame(data)

    assert isinstance(outcome, Ready) and not outcome.complete


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"NOT HTTP\r\n\r\n", 400, "bad_request"),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431, "headers_too_large"),
        (b"GET / HTTP/1.1\r\n" + b"X-Many: abc\r\n" * 6000, 431, "headers_too_large"),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", 414, "uri_too_long"),
        (HEAD + b"Transfer-Encoding: gzip, chunked\r\nTransfer-Encoding: br\r\n\r\n", 501, "not_implemented"),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "bad_request"),
    ],
    ids=["malformed", "long-header", "endless-head", "long-uri", "coding", "bad-chunk"],
)
def test_what_the_parser_refuses_is_a_json_error(data: bytes, status: int, code: str) -> None:
    outcome = _frame(data)

    assert isinstance(outcome, Refusal)
    assert (outcome.status, outcome.code) == (status, code)
    head, body = outcome.response().split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 %d " % status)
    assert b"Connection: close" in head and b"Content-Type: application/json" in head
    assert body.startswith(b'{"error":{"code":"' + code.encode())
    assert body.endswith(b',"trace_id":null}')
