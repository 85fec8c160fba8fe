"""``ThreadLoopWorker``: a gunicorn worker where each thread serves its own connections.

gunicorn's gthread worker runs one event loop in the main thread and hands every request to a
thread pool and back: per request a future, a done-callback, a wake-up pipe write and read,
two ``epoll_ctl`` calls and two ``fcntl`` calls, and two thread switches. On the API's hot request
(~0.3 ms of work) that machinery cost as much CPU as the application's own share
(benchmarks/bench_apps.py). Here each of ``threads`` threads runs its own selector over the
listening sockets and the connections it accepted: the thread that sees a request complete is the
one that answers it. Keep-alive connections stay registered in their thread's selector between
requests, so nothing moves between threads.

Slow clients never hold a thread (issue 15): a thread reads a socket only when its selector says
it is readable, without blocking, into that connection's buffer (``boot.http_stage``). Only a
request whose head and body are all in memory is served; the application never waits on a
client. Deadlines, checked once a second: a request head must be complete within
``header_timeout`` of its first byte (of the accept, for a connection's first request), its body
within ``body_timeout`` of the end of the head, else the client gets a 408 and the connection is
closed; idle kept-alive connections close after ``keepalive``. A client that stops reading its
answers is dropped once a send has waited ``SEND_TIMEOUT`` seconds. At most
``worker_connections`` connections per process (shared out between its threads).

Behaviour kept from gthread: HTTP/1.1 keep-alive, pipelined requests served in order, a body the
application did not read is discarded before the next request, SIGTERM stops accepting, lets
requests in flight finish within ``graceful_timeout`` and answers a request that completes on a
kept-alive connection in the next ``STOP_LINGER`` seconds with ``Connection: close``, the main
thread heartbeats the arbiter. Errors gunicorn's parser finds are answered in the API's JSON
error format. Not supported (refused at start-up): TLS, HTTP/2 and the uwsgi protocol, which the
API does not speak (the load balancer terminates TLS). Imported by the gunicorn master (standard
library and gunicorn only), like the rest of ``sreplat_apps.boot``; the gunicorn internals used
here are why apps/pyproject.toml pins gunicorn exactly.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import selectors
import socket
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gunicorn import util
from gunicorn.config import Config
from gunicorn.errors import ConfigError
from gunicorn.http import wsgi
from gunicorn.workers import base

from sreplat_apps.boot import http_stage

# How long a stopping worker keeps idle kept-alive connections open for a request a client may
# already be sending (answered with "Connection: close"), as gunicorn's gthread does.
STOP_LINGER = 2.0
# A closing connection (after a refusal, a timeout or a body left over the limit) is half-closed
# and what the client still sends is read and dropped, so that closing does not send a reset that
# could destroy the answer before the client reads it: for at most this long, or this much.
CLOSE_LINGER = 2.0
CLOSE_DRAIN_BYTES = 64 * 1024
SEND_TIMEOUT = 10.0
RECV_BYTES = 65536
# Body limit when the application does not state one (Flask's MAX_CONTENT_LENGTH).
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_LISTENER = None  # selector data of a listening socket; a connection's is its _Connection
_QUIET_ERRNOS = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EAGAIN)

# Where a connection is: between requests, receiving a head, receiving a body, closing.
_IDLE, _HEAD, _BODY, _CLOSING = range(4)


@dataclass(frozen=True)
class Timeouts:
    header: float = 10.0
    body: float = 30.0


class _Connection:
    __slots__ = (
        "client",
        "continued",
        "deadline",
        "drained",
        "pending",
        "phase",
        "requests",
        "server",
        "sock",
        "total",
    )

    def __init__(self, sock: socket.socket, client: Any, server: Any) -> None:
        self.sock = sock
        self.client = client
        self.server = server
        self.pending = bytearray()  # received, not yet part of a served request
        self.phase = _IDLE
        self.deadline = 0.0
        self.requests = 0  # served so far
        self.total: int | None = None  # buffer length at which a Content-Length body is complete
        self.continued = False  # "100 Continue" sent for the request being received
        self.drained = 0  # bytes dropped while closing


class ThreadLoopWorker(base.Worker):  # type: ignore[misc]  # gunicorn ships no type hints
    alive: bool
    sockets: list[Any]  # gunicorn's listener wrappers (they delegate to a socket.socket)
    cfg: Config
    timeouts = Timeouts()
    limits: http_stage.Limits

    @classmethod
    def with_timeouts(cls, timeouts: Timeouts) -> type[ThreadLoopWorker]:
        """This worker class with other header/body timeouts (gunicorn has no setting for them)."""
        return type(cls.__name__, (cls,), {"timeouts": timeouts})

    @classmethod
    def check_config(cls, cfg: Config, log: Any) -> None:
        if cfg.is_ssl or "h2" in cfg.http_protocols or getattr(cfg, "protocol", "http") != "http":
            raise ConfigError(f"{cls.__name__} serves plain HTTP/1.1 only (no TLS, HTTP/2 or uwsgi)")

    def init_process(self) -> None:
        # Written once when the worker starts stopping: wakes every serving thread's selector.
        self._stop_read, self._stop_write = os.pipe()
        os.set_blocking(self._stop_read, False)
        self._nr_lock = threading.Lock()
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # The stage buffers up to the application's own body limit (+1 byte), so that the
        # application, not the stage, decides every 413 (JSON, traced, counted).
        config = getattr(self.wsgi, "config", None)
        limit = config.get("MAX_CONTENT_LENGTH") if isinstance(config, Mapping) else None
        self.limits = http_stage.Limits(
            header_timeout=self.timeouts.header,
            body_timeout=self.timeouts.body,
            max_body_bytes=limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_BODY_BYTES,
        )

    def run(self) -> None:
        for listener in self.sockets:
            listener.setblocking(False)
        threads = [
            threading.Thread(target=self._serve_forever, name=f"serve-{n}", daemon=True)
            for n in range(self.cfg.threads)
        ]
        for thread in threads:
            thread.start()
        # A serving thread that died (a bug) stops the worker: the arbiter starts a fresh one.
        while self.alive and all(thread.is_alive() for thread in threads):
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                self.alive = False
                break
            self._wait_for_signal(1.0)
        self.alive = False
        os.write(self._stop_write, b"x")
        deadline = time.monotonic() + self.cfg.graceful_timeout
        for thread in threads:
            while thread.is_alive() and time.monotonic() < deadline:
                self.notify()
                thread.join(min(1.0, max(deadline - time.monotonic(), 0.0)))

    def _wait_for_signal(self, timeout: float) -> None:
        # The base worker points the signal wake-up fd at PIPE[1]: a SIGTERM ends this wait.
        if select.select([self.PIPE[0]], [], [], timeout)[0]:
            try:
                while os.read(self.PIPE[0], 64):
                    pass
            except BlockingIOError:
                pass

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """As gunicorn's, with the API's JSON error body instead of an HTML page."""
        refusal = http_stage.refusal_for(exc)
        if refusal.status >= 500:
            self.log.exception("Error handling request %s", getattr(req, "uri", "(no URI read)"))
        else:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            client.sendall(refusal.response())
        except OSError:
            self.log.debug("Failed to send error message.")

    # --- serving threads -------------------------------------------------------------------------
    def _serve_forever(self) -> None:
        try:
            _ServingLoop(self).run()
        except BaseException:
            self.log.exception("Serving thread failed; stopping the worker")
            self.alive = False
            raise

    def _serve(self, req: Any, connection: _Connection) -> bool:
        """Answer one complete request; whether the connection may serve another."""
        try:
            return self._handle_request(req, connection)
        except StopIteration:
            return False  # the answer had started: nothing more can be sent
        except OSError as exc:
            if exc.errno in _QUIET_ERRNOS:
                self.log.debug("Ignoring connection error: %s", exc)
            else:
                self.log.exception("Socket error processing request.")
        except Exception as exc:
            self.handle_error(req, connection.sock, connection.client, exc)
        return False

    def _handle_request(self, req: Any, connection: _Connection) -> bool:
        """gunicorn's gthread ``handle_request``: run the WSGI app; whether to keep alive."""
        environ: dict[str, Any] = {}
        resp = None
        try:
            self.cfg.pre_request(self, req)
            request_start = datetime.now()
            resp, environ = wsgi.create(req, connection.sock, connection.client, connection.server, self.cfg)
            environ["wsgi.multithread"] = True
            with self._nr_lock:
                self.nr += 1
                if self.nr >= self.max_requests and self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
            if not self.alive or not self.cfg.keepalive:
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                self.log.access(resp, req, environ, datetime.now() - request_start)
                if hasattr(respiter, "close"):
                    respiter.close()
            return not resp.should_close()
        except OSError:
            raise
        except (Exception, SystemExit):
            if resp is not None and resp.headers_sent:
                # Too late for an error response: the status line is out.
                self.log.exception("Error handling request")
                raise StopIteration() from None
            raise
        finally:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")


def _timeval(seconds: float) -> bytes:
    return struct.pack("ll", int(seconds), int((seconds % 1) * 1_000_000))


class _ServingLoop:
    """One serving thread's selector and connections (its own: no locking between threads)."""

    def __init__(self, worker: ThreadLoopWorker) -> None:
        self.worker = worker
        self.cfg = worker.cfg
        self.limits = worker.limits
        self.keepalive = float(worker.cfg.keepalive)
        self.limit = max(1, worker.cfg.worker_connections // worker.cfg.threads)
        self.selector = selectors.DefaultSelector()
        self.selector.register(worker._stop_read, selectors.EVENT_READ, "stop")
        self.connections: dict[socket.socket, _Connection] = {}
        self.accepting = False
        self.stopping = False
        self.linger_until = 0.0

    def run(self) -> None:
        next_sweep = 0.0
        try:
            while True:
                if not self.stopping and not self.worker.alive:
                    self._start_stopping()
                    next_sweep = 0.0
                if self.stopping and not self.connections:
                    return
                self._set_accepting(not self.stopping and len(self.connections) < self.limit)
                listener: Any = None
                for key, _events in self.selector.select(1.0):
                    if key.data is _LISTENER:
                        listener = key.fileobj
                    elif isinstance(key.data, _Connection):
                        self._on_readable(key.data)
                if listener is not None:
                    # One new connection per pass, after the requests ready in it: a busy thread
                    # (or process) accepts more slowly than an idle one, which spreads a burst of
                    # connections (a load balancer opening its pool) over threads and processes.
                    self._accept(listener)
                now = time.monotonic()
                if now >= next_sweep:
                    self._close_expired(now)
                    next_sweep = now + (0.1 if self.stopping else 1.0)
        finally:
            for connection in self.connections.values():
                util.close(connection.sock)
            self.selector.close()

    def _start_stopping(self) -> None:
        self.stopping = True
        self.selector.unregister(self.worker._stop_read)
        self.linger_until = time.monotonic() + STOP_LINGER
        for connection in self.connections.values():
            connection.deadline = min(connection.deadline, self.linger_until)

    def _expire_in(self, connection: _Connection, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        connection.deadline = min(deadline, self.linger_until) if self.stopping else deadline

    def _set_accepting(self, accepting: bool) -> None:
        if accepting == self.accepting:
            return
        for listener in self.worker.sockets:
            if accepting:
                self.selector.register(listener, selectors.EVENT_READ, _LISTENER)
            else:
                self.selector.unregister(listener)
        self.accepting = accepting

    def _accept(self, listener: Any) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:  # another thread or process took it
            if exc.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        # Blocking for the answers (bounded by SO_SNDTIMEO); reads never block (MSG_DONTWAIT).
        sock.setblocking(True)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(SEND_TIMEOUT))
        connection = _Connection(sock, client, listener.getsockname())
        self._expire_in(connection, self.limits.header_timeout)  # the first request's head
        self.connections[sock] = connection
        self.selector.register(sock, selectors.EVENT_READ, connection)

    # --- reading ---------------------------------------------------------------------------------
    def _on_readable(self, connection: _Connection) -> None:
        try:
            data = connection.sock.recv(RECV_BYTES, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client closed (or reset) the connection
            self._drop(connection)
            return
        if connection.phase == _CLOSING:
            connection.drained += len(data)
            if connection.drained > CLOSE_DRAIN_BYTES:
                self._drop(connection)
            return
        connection.pending += data
        if connection.phase == _IDLE:
            connection.phase = _HEAD
            if connection.requests:  # a kept-alive connection's next request starts now
                self._expire_in(connection, self.limits.header_timeout)
        self._advance(connection)

    def _advance(self, connection: _Connection) -> None:
        """Serve every complete request in the connection's buffer, in order."""
        while connection.total is None or len(connection.pending) >= connection.total:
            try:
                outcome = http_stage.frame(
                    bytes(connection.pending),
                    self.cfg,
                    connection.client,
                    connection.requests + 1,
                    self.limits,
                )
            except Exception as exc:  # a parser failure not foreseen: this client only, not the thread
                self.worker.log.exception("Cannot parse a request from ip=%s", connection.client[0])
                outcome = http_stage.refusal_for(exc)
            if isinstance(outcome, http_stage.NeedMore):
                self._wait_for_more(connection, outcome)
                return
            if isinstance(outcome, http_stage.Refusal):
                self._refuse(connection, outcome)
                return
            if not self._serve(connection, outcome):
                self._close(connection)
                return
            if not connection.pending:
                connection.phase = _IDLE
                self._expire_in(connection, self.keepalive)
                return
            connection.phase = _HEAD  # pipelined: the next request is (partly) here already
            self._expire_in(connection, self.limits.header_timeout)

    def _wait_for_more(self, connection: _Connection, outcome: http_stage.NeedMore) -> None:
        if outcome.in_body and connection.phase != _BODY:
            connection.phase = _BODY
            self._expire_in(connection, self.limits.body_timeout)
        connection.total = outcome.total_bytes
        if outcome.send_continue and not connection.continued:
            connection.continued = True
            try:
                connection.sock.sendall(http_stage.CONTINUE)
            except OSError:
                self._drop(connection)

    def _serve(self, connection: _Connection, ready: http_stage.Ready) -> bool:
        """Hand a request to the application; whether the connection can serve another."""
        connection.requests += 1
        connection.total = None
        if connection.continued:  # sent while the body was arriving: not again
            ready.request._expected_100_continue = False
            connection.continued = False
        keep = self.worker._serve(ready.request, connection) and ready.complete
        if keep:
            try:  # the body the application did not read is in memory: skip it
                while ready.request.body.read(RECV_BYTES):
                    pass
            except Exception:
                keep = False
        connection.pending = bytearray(ready.source.rest()) if keep else bytearray()
        return keep

    # --- closing ---------------------------------------------------------------------------------
    def _refuse(self, connection: _Connection, refusal: http_stage.Refusal) -> None:
        log = self.worker.log.info if refusal.status == 408 else self.worker.log.warning
        log("Refused a request from ip=%s: %s %s", connection.client[0], refusal.status, refusal.message)
        with contextlib.suppress(OSError):  # best effort: the connection closes either way
            connection.sock.send(refusal.response(), socket.MSG_DONTWAIT)
        self._close(connection)

    def _close(self, connection: _Connection) -> None:
        """Half-close (FIN after the answer), then drop what the client still sends for a while."""
        try:
            connection.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._drop(connection)
            return
        connection.phase = _CLOSING
        connection.pending = bytearray()
        connection.deadline = time.monotonic() + CLOSE_LINGER

    def _drop(self, connection: _Connection) -> None:
        self.selector.unregister(connection.sock)
        del self.connections[connection.sock]
        util.close(connection.sock)

    def _close_expired(self, now: float) -> None:
        expired = [connection for connection in self.connections.values() if connection.deadline <= now]
        for connection in expired:
            if connection.phase in (_HEAD, _BODY):
                self._refuse(connection, http_stage.REQUEST_TIMEOUT)
            else:
                self._drop(connection)
