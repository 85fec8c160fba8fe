"""The stage in front of the serving code: bytes received so far on a connection → a complete
request, "wait for more", or a refusal.

``ThreadLoopWorker`` reads sockets only when its selector says they are readable and never
blocks on a client: whatever arrives is appended to the connection's buffer and handed to
``frame``. Only a request whose head and body are entirely in memory reaches the application, so
a client that stalls mid-request (slowloris, a body that never ends) costs a buffer and a
selector entry, never a serving thread; the worker closes it when its header or body deadline
passes. The head is parsed by gunicorn's own ``Request`` (same validation, limits and errors as
every gunicorn worker), reading from the buffer instead of the socket.

Refusals (malformed request, head over its limit, timeout) are JSON like the application's own
errors (DESIGN §5): ``{"error": {"code", "message", "details"}, "trace_id": null}`` — no span
exists for a request that never reached the application.

Standard library and gunicorn only: the gunicorn master imports this (``sreplat_apps.boot``).
gunicorn internals used here (``Request``, ``Unreader``, the body readers) are why
apps/pyproject.toml pins gunicorn exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gunicorn.http import errors
from gunicorn.http.body import ChunkedReader
from gunicorn.http.message import Request
from gunicorn.http.unreader import Unreader

# Largest request head (request line and headers) buffered while waiting for its end; gunicorn
# then applies its own per-line limits (limit_request_line, limit_request_field_size).
MAX_HEAD_BYTES = 64 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass(frozen=True)
class Limits:
    header_timeout: float  # seconds for a request head, from its first byte (or the accept)
    body_timeout: float  # seconds for the body, from the end of the head
    max_body_bytes: int  # the application's body limit: at most this + 1 body bytes are buffered


@dataclass(frozen=True)
class NeedMore:
    """The request is not complete yet: wait for its head, or for its body."""

    in_body: bool
    total_bytes: int | None = None  # buffer length at which a Content-Length body is complete
    send_continue: bool = False  # the client waits for "100 Continue" before sending its body


@dataclass(frozen=True)
class Ready:
    """A request to serve. ``complete`` False: its body is over the limit and only partly here
    (the application refuses it without reading); the connection closes after the answer."""

    request: Any  # gunicorn.http.message.Request (untyped)
    source: BufferUnreader
    complete: bool


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str
    code: str
    message: str

    def response(self) -> bytes:
        body = json.dumps(
            {"error": {"code": self.code, "message": self.message, "details": None}, "trace_id": None},
            separators=(",", ":"),
        ).encode()
        head = (
            f"HTTP/1.1 {self.status} {self.reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("latin-1") + body


REQUEST_TIMEOUT = Refusal(408, "Request Timeout", "request_timeout", "the request was not received in time")
HEAD_TOO_LARGE = Refusal(
    431,
    "Request Header Fields Too Large",
    "headers_too_large",
    f"the request head is larger than {MAX_HEAD_BYTES} bytes",
)


class BufferUnreader(Unreader):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn's reader interface over bytes already received: the parser never touches the
    socket, so it can never wait on the client."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = data

    def chunk(self, size_hint: int | None = None) -> bytes:
        data, self._data = self._data, b""
        return data

    def rest(self) -> bytes:
        """What the parser has not consumed: the next (pipelined) request's bytes."""
        return bytes(self.buf.getvalue()) + self._data


def frame(data: bytes, cfg: Any, peer: Any, number: int, limits: Limits) -> NeedMore | Ready | Refusal:
    """What ``data`` (everything received since the previous request ended) amounts to."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0 or head_end > MAX_HEAD_BYTES:
        return HEAD_TOO_LARGE if len(data) > MAX_HEAD_BYTES else NeedMore(in_body=False)

    def parse(source: BufferUnreader) -> Any:
        return Request(cfg, source, peer, number)

    try:
        source = BufferUnreader(data)
        request = parse(source)
        # A request's body is chunked or has a length (none: length 0).
        if isinstance(request.body.reader, ChunkedReader):
            return _frame_chunked(request, data, parse, limits)
        return _frame_length(request, source, len(data), limits)
    except errors.NoMoreData:
        return NeedMore(in_body=False)  # (a head gunicorn reads further than its blank line)
    except errors.ParseException as exc:
        return refusal_for(exc)


def _frame_length(request: Any, source: BufferUnreader, received: int, limits: Limits) -> NeedMore | Ready:
    length: int = request.body.reader.length
    buffered = len(source.buf.getvalue())  # what follows the head
    if buffered >= length:
        return Ready(request, source, complete=True)
    if length > limits.max_body_bytes:
        return Ready(request, source, complete=False)
    return NeedMore(
        in_body=True, total_bytes=received + length - buffered, send_continue=request._expected_100_continue
    )


def _frame_chunked(
    request: Any, data: bytes, parse: Callable[[BufferUnreader], Any], limits: Limits
) -> NeedMore | Ready:
    # Decode what is here (in memory) to learn whether the last chunk has arrived; the request
    # handed on is a fresh parse, its body unread.
    decoded = 0
    complete = True
    try:
        # Piece by piece from gunicorn's chunk decoder: Body.read(n) would wait for n bytes (or
        # the end) before saying how many it decoded.
        for piece in request.body.reader.parser:
            decoded += len(piece)
            if decoded > limits.max_body_bytes:
                complete = False  # enough for the application to see it is over the limit
                break
    except errors.NoMoreData:
        return NeedMore(in_body=True, send_continue=request._expected_100_continue)
    source = BufferUnreader(data)
    return Ready(parse(source), source, complete)


# gunicorn's parse errors → status, as gunicorn's own ``handle_error`` chooses them; first match.
_REFUSALS: list[tuple[type[BaseException], int, str, str]] = [
    (errors.LimitRequestHeaders, 431, "Request Header Fields Too Large", "headers_too_large"),
    (errors.LimitRequestLine, 414, "URI Too Long", "uri_too_long"),
    (errors.UnsupportedTransferCoding, 501, "Not Implemented", "not_implemented"),
    (errors.ExpectationFailed, 417, "Expectation Failed", "expectation_failed"),
    (errors.ForbiddenProxyRequest, 403, "Forbidden", "forbidden"),
    (errors.InvalidResponseHeader, 500, "Internal Server Error", "internal_error"),  # the app's fault
    (errors.InvalidResponseHeaderName, 500, "Internal Server Error", "internal_error"),
    (errors.ParseException, 400, "Bad Request", "bad_request"),
]


def refusal_for(exc: BaseException) -> Refusal:
    """The answer to a request gunicorn's parser (or the application's answer) failed, in the
    API's JSON error format."""
    for exc_class, status, reason, code in _REFUSALS:
        if isinstance(exc, exc_class):
            detail = str(exc)[:200] or type(exc).__name__
            message = "internal error" if status >= 500 else f"{reason.lower()}: {detail}"
            return Refusal(status, reason, code, message)
    return Refusal(500, "Internal Server Error", "internal_error", "internal error")
