"""A small stateful HTTP(S) server that the API doubles build on.

Each double registers routes (method + path regex → handler). The server runs in a thread on a
free loopback port, so the real client libraries send real HTTP to it. Tests steer it with:

- ``inject(pattern, status=..., hang=True, times=N)`` — a fault on matching requests;
- ``set_latency(pattern, seconds)`` — a delay on every matching request (benchmarks);
- ``calls(method, pattern)`` — the requests received, in order;
- ``on_request(pattern, fn)`` — run ``fn(request)`` (under the state lock) before matching
  requests are answered: how a test changes state after the Nth poll, deterministically;
- ``require_token`` — refuse requests without ``Authorization: Bearer <token>``;
- ``sni`` — more TLS identities on the same port, chosen by the name the client asks for
  (SNI), as one address serving several hosts does; ``Request.server_name`` says which was asked.

A handler that raises, or a request no route matches, is recorded in ``problems``; the fixtures
fail the test on teardown if any happened, so a gap in a double never passes for a product bug.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import socket
import ssl
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# A hung request is released when the server stops, or after this long at most.
MAX_HANG_S = 120.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # raw (still percent-encoded) path, without the query
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    match: Mapping[str, str] = field(default_factory=dict)  # the route's named groups, unquoted
    server_name: str | None = None  # the TLS SNI the client sent (None: plain HTTP or no SNI)

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list → JSON, str/bytes as they are, None → empty
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    # A streamed body (Kubernetes watches): sent with chunked encoding, chunk by chunk, until the
    # iterator ends or the client hangs up.
    stream: Iterator[bytes] | None = None

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Handler = Callable[[Request], Response]


@dataclass
class Fault:
    pattern: re.Pattern[str]
    method: str | None
    status: int | None = None
    body: Any = None
    hang: bool = False
    remaining: int | None = None  # None: every matching request
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return (self.method is None or self.method == method) and bool(self.pattern.search(path))


@dataclass
class Latency:
    pattern: re.Pattern[str]
    method: str | None
    seconds: float


class DoubleServer:
    """Base class: subclasses call ``route`` in ``__init__`` and implement the API's error body."""

    name = "double"

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        require_token: str | None = None,
        sni: Mapping[str, ssl.SSLContext] | None = None,
    ) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[Fault] = []
        self._latencies: list[Latency] = []
        self._hooks: list[tuple[str | None, re.Pattern[str], Callable[[Request], None]]] = []
        self._log: list[Request] = []
        self.problems: list[str] = []
        self.require_token = require_token
        self.lock = threading.RLock()  # guards the subclass state too
        self._stopping = threading.Event()
        self._tls = tls
        self._sni = dict(sni or {})
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- configuration by the subclass --------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern), handler))

    def error(self, status: int, message: str, reason: str | None = None) -> Response:
        """The API's error body (Google JSON error by default)."""
        return google_error(status, message, reason)

    def refuses_connection(self, request: Request) -> bool:
        """Whether to drop the connection without an answer (a firewall in front of the server:
        the client sees a reset). Overridden by doubles with unreachable endpoints."""
        return False

    def check_auth(self, request: Request) -> Response | None:
        """None if ``request`` may proceed; else the refusal (a bearer token check by default)."""
        token = self.require_token
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            return self.error(401, "Request had invalid authentication credentials.", "unauthorized")
        return None

    # --- steering by tests --------------------------------------------------------------------
    def inject(
        self,
        pattern: str,
        *,
        method: str | None = None,
        status: int | None = None,
        body: Any = None,
        hang: bool = False,
        times: int | None = None,
    ) -> Fault:
        """Make matching requests fail with ``status`` (and ``body``), or hang until stop."""
        if status is None and not hang:
            raise ValueError("a fault needs a status or hang=True")
        fault = Fault(re.compile(pattern), method, status, body, hang, times)
        with self.lock:
            self._faults.append(fault)
        return fault

    def set_latency(self, pattern: str, seconds: float, *, method: str | None = None) -> None:
        with self.lock:
            self._latencies.append(Latency(re.compile(pattern), method, seconds))

    def on_request(self, pattern: str, fn: Callable[[Request], None], *, method: str | None = None) -> None:
        with self.lock:
            self._hooks.append((method, re.compile(pattern), fn))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._latencies.clear()

    def calls(self, method: str | None = None, pattern: str | None = None) -> list[Request]:
        rx = re.compile(pattern) if pattern else None
        with self.lock:
            return [
                r
                for r in self._log
                if (method is None or r.method == method) and (rx is None or rx.search(r.path))
            ]

    def reset_calls(self) -> None:
        with self.lock:
            self._log.clear()

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.host}"

    def start(self) -> DoubleServer:
        self._server = _Server(("127.0.0.1", 0), _make_handler(self), _front_context(self._tls, self._sni))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DoubleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- request handling ---------------------------------------------------------------------
    def _dispatch(self, request: Request) -> Response | None:  # noqa: PLR0911
        """Answer ``request``; None means hang up without answering (an injected hang)."""
        if self.refuses_connection(request):
            return None
        with self.lock:
            self._log.append(request)
            delay = sum(
                lat.seconds
                for lat in self._latencies
                if (lat.method is None or lat.method == request.method) and lat.pattern.search(request.path)
            )
            fault = next((f for f in self._faults if f.matches(request.method, request.path)), None)
            if fault is not None:
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
        if delay:
            self._stopping.wait(delay)
        if fault is not None and fault.hang:
            self._stopping.wait(MAX_HANG_S)
            return None
        if fault is not None and fault.status is not None:
            if fault.body is not None:
                return Response(fault.status, fault.body)
            return self.error(fault.status, f"injected fault ({fault.status})", "injected")
        with self.lock:
            for method, pattern, fn in self._hooks:
                if (method is None or method == request.method) and pattern.search(request.path):
                    try:
                        fn(request)
                    except Exception:
                        self.problems.append(f"hook on {request.path}: {traceback.format_exc()}")
        refusal = self.check_auth(request)
        if refusal is not None:
            return refusal
        for method, pattern, handler in self._routes:
            if method != request.method:
                continue
            m = pattern.fullmatch(request.path)
            if m is None:
                continue
            groups = {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
            try:
                with self.lock:
                    return handler(_with_match(request, groups))
            except Exception:
                self.problems.append(f"{request.method} {request.path}: {traceback.format_exc()}")
                return self.error(500, "the double failed; see its problems list", "backendError")
        self.problems.append(f"no route for {request.method} {request.path}")
        return self.error(501, f"{self.name}: no route for {request.method} {request.path}", "notImplemented")


def _with_match(request: Request, groups: Mapping[str, str]) -> Request:
    return dataclasses.replace(request, match=groups)


def _front_context(tls: ssl.SSLContext | None, sni: Mapping[str, ssl.SSLContext]) -> ssl.SSLContext | None:
    """The context connections are wrapped with: ``tls`` itself, or — with ``sni`` names — one that
    picks the identity by the requested name and records that name on the connection."""
    if tls is None or not sni:
        return tls
    front = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

    def choose(sock: Any, name: str | None, _context: ssl.SSLContext) -> None:
        sock.context = sni.get(name or "", tls)
        sock.sreplat_server_name = name

    front.sni_callback = choose
    return front


def google_error(status: int, message: str, reason: str | None = None) -> Response:
    statuses = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        409: "ALREADY_EXISTS",
        412: "FAILED_PRECONDITION",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        501: "UNIMPLEMENTED",
        503: "UNAVAILABLE",
    }
    return Response(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason or "error"}],
                "status": statuses.get(status, "UNKNOWN"),
            }
        },
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        tls: ssl.SSLContext | None,
    ) -> None:
        self._tls = tls
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self._tls is not None:
            # Handshake in the handler thread (first read), not in the accept loop.
            sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


def _make_handler(double: DoubleServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                body = self._read_chunked()  # Go clients stream uploads this way
            else:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                server_name=getattr(self.connection, "sreplat_server_name", None),
            )
            response = double._dispatch(request)
            if response is None:
                self.close_connection = True
                return
            if response.stream is not None:
                self._stream(response)
                return
            payload = response.encoded()
            try:
                self.send_response(response.status)
                if payload or self.command != "HEAD":
                    self.send_header("Content-Type", response.content_type)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                self.close_connection = True

        def _stream(self, response: Response) -> None:
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                assert response.stream is not None
                for chunk in response.stream:
                    if chunk:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                self.close_connection = True

        def _read_chunked(self) -> bytes:
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        def handle(self) -> None:
            with contextlib.suppress(OSError):  # clients that hang up (timeouts) are expected
                super().handle()

    return _Handler


def rfc3339(ts: float | None = None) -> str:
    t = time.time() if ts is None else ts
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}Z"
