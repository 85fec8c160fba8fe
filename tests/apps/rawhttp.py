"""HTTP/1.1 over raw sockets, for tests that must control every byte (and every pause) a client
sends to the real ``sreplat-api``."""

from __future__ import annotations

import socket
import time

ECHO = b'{"task": "echo", "payload": {"n": 1}}'
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


def post(body: bytes = ECHO, *, content_type: bytes = b"application/json") -> bytes:
    return (
        b"POST /process HTTP/1.1\r\nHost: t\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def chunked_post(body: bytes, chunk: int = 4096) -> bytes:
    head = b"POST /process HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + chunk]), body[i : i + chunk]) for i in range(0, len(body), chunk)
    )
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


class Reader:
    """Reads HTTP/1.1 responses (Content-Length framed, as the API sends them) off one socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buffer += chunk

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, value in (h.split(":", 1) for h in header_lines)}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed(self) -> bool:
        try:
            return self.buffer == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def connect(port: int, timeout: float = 10) -> tuple[socket.socket, Reader]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock, Reader(sock)


def timed_get(port: int, request: bytes = HEALTHZ, timeout: float = 5.0) -> tuple[int, float]:
    """One request on a fresh connection: (status, seconds from connect to the whole answer);
    status 0 when it failed (refused, reset, no answer within ``timeout``)."""
    started = time.perf_counter()
    try:
        sock, reader = connect(port, timeout)
        with sock:
            sock.sendall(request)
            status = reader.response()[0]
    except OSError:
        status = 0
    return status, time.perf_counter() - started
