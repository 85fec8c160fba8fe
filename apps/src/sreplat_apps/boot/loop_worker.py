"""``ThreadLoopWorker``: a gunicorn worker where each thread serves its own connections.

gunicorn's gthread worker runs one event loop in the main thread and hands every request to a
thread pool and back: per request a future, a done-callback, a wake-up pipe write and read,
two ``epoll_ctl`` calls and two ``fcntl`` calls, and two thread switches. On the API's hot request
(~0.3 ms of work) that machinery cost as much CPU as the application's own share
(benchmarks/bench_apps.py). Here each of ``threads`` threads runs its own selector over the
listening sockets and the connections it accepted, and serves a readable connection inline:
the thread that sees the request is the one that answers it. Keep-alive connections stay
registered in their thread's selector between requests, so nothing moves between threads.

Behaviour kept from gthread: HTTP/1.1 keep-alive (``keepalive`` seconds idle), at most
``worker_connections`` connections per process, a body the application did not read is
drained before the connection is reused, pipelined requests are served in order, SIGTERM stops
accepting, lets requests in flight finish within ``graceful_timeout`` and answers a request that
arrives on a kept-alive connection in the next ``STOP_LINGER`` seconds with ``Connection:
close``, the main thread heartbeats the arbiter. Not supported (refused at start-up): TLS and
HTTP/2, which the API does not terminate (the load balancer does).

Trade-off: a client that trickles a request ties up its thread and, with it, that thread's other
connections, where gthread would tie up one pool thread only; the API sits behind a load balancer
or ingress proxy that forwards whole requests. Imported by the gunicorn master (standard library
and gunicorn only), like the rest of ``sreplat_apps.boot``.
"""

from __future__ import annotations

import errno
import os
import select
import selectors
import socket
import threading
import time
from datetime import datetime
from typing import Any

from gunicorn import http, util
from gunicorn.config import Config
from gunicorn.errors import ConfigError
from gunicorn.http import wsgi
from gunicorn.workers import base

# How long a stopping worker keeps idle kept-alive connections open for a request a client may
# already be sending (answered with "Connection: close"), as gunicorn's gthread does.
STOP_LINGER = 2.0
# Longest wait for a request body the application left unread, before the connection is reused.
DRAIN_SECONDS = 5.0
_LISTENER = None  # selector data of a listening socket; a connection's is its _Connection


class _Connection:
    __slots__ = ("client", "deadline", "parser", "server", "sock")

    def __init__(self, sock: socket.socket, client: Any, server: Any, cfg: Config) -> None:
        self.sock = sock
        self.client = client
        self.server = server
        self.parser = http.get_parser(cfg, sock, client)
        self.deadline = 0.0


class ThreadLoopWorker(base.Worker):  # type: ignore[misc]  # gunicorn ships no type hints
    alive: bool
    sockets: list[Any]  # gunicorn's listener wrappers (they delegate to a socket.socket)
    cfg: Config

    @classmethod
    def check_config(cls, cfg: Config, log: Any) -> None:
        if cfg.is_ssl or "h2" in cfg.http_protocols:
            raise ConfigError(f"{cls.__name__} serves plain HTTP/1.1 only (no TLS, no HTTP/2)")

    def init_process(self) -> None:
        # Written once when the worker starts stopping: wakes every serving thread's selector.
        self._stop_read, self._stop_write = os.pipe()
        os.set_blocking(self._stop_read, False)
        self._nr_lock = threading.Lock()
        super().init_process()

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

    # --- serving threads -------------------------------------------------------------------------
    def _serve_forever(self) -> None:
        try:
            _ServingLoop(self).run()
        except BaseException:
            self.log.exception("Serving thread failed; stopping the worker")
            self.alive = False
            raise

    def _serve_connection(self, connection: _Connection) -> bool:
        """Serve the requests waiting on ``connection``; whether to keep it open."""
        req = None
        try:
            while True:
                req = next(connection.parser)
                if not req:
                    return False
                if not self._handle_request(req, connection):
                    return False
                # A body the application did not read would look like the next request.
                if not connection.parser.finish_body(deadline=time.monotonic() + DRAIN_SECONDS):
                    return False
                if not connection.parser.unreader.buf.getvalue():
                    return True
                # Pipelined: the next request is already buffered, the socket may not be readable.
        except http.errors.NoMoreData as exc:
            self.log.debug("Ignored premature client disconnection. %s", exc)
        except StopIteration as exc:
            self.log.debug("Closing connection. %s", exc)
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.exception("Socket error processing request.")
            else:
                self.log.debug("Ignoring connection error: %s", exc)
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


class _ServingLoop:
    """One serving thread's selector and connections (its own: no locking between threads)."""

    def __init__(self, worker: ThreadLoopWorker) -> None:
        self.worker = worker
        self.keepalive = worker.cfg.keepalive
        self.limit = max(1, worker.cfg.worker_connections // worker.cfg.threads)
        self.selector = selectors.DefaultSelector()
        self.selector.register(worker._stop_read, selectors.EVENT_READ, "stop")
        self.connections: dict[socket.socket, _Connection] = {}
        self.accepting = False
        self.stopping = False

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
        linger = time.monotonic() + STOP_LINGER
        for connection in self.connections.values():
            connection.deadline = min(connection.deadline, linger)

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
        sock.setblocking(True)  # requests are read and answered with blocking calls
        connection = _Connection(sock, client, listener.getsockname(), self.worker.cfg)
        connection.deadline = time.monotonic() + self.keepalive
        self.connections[sock] = connection
        self.selector.register(sock, selectors.EVENT_READ, connection)

    def _on_readable(self, connection: _Connection) -> None:
        if self.worker._serve_connection(connection):
            if not self.stopping:
                connection.deadline = time.monotonic() + self.keepalive
            return
        self.selector.unregister(connection.sock)
        del self.connections[connection.sock]
        # FIN first, then drain what the client still sends (an unread body, at most 64 KiB or
        # 2 s), as gthread does: closing with unread bytes would send a RST that can destroy the
        # response before the client reads it.
        util.close_graceful(connection.sock)

    def _close_expired(self, now: float) -> None:
        expired = [sock for sock, connection in self.connections.items() if connection.deadline <= now]
        for sock in expired:
            self.selector.unregister(sock)
            del self.connections[sock]
            util.close(sock)
