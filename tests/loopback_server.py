"""A real HTTP(S) server on 127.0.0.1 that plays scripted answers, including hostile ones.

Each answer is a function ``(connection, request) -> keep_alive``; the server records every
request it receives (its headers included, so tests can count what was sent).
"""

from __future__ import annotations

import gzip
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024
STOP_WAIT = 30.0  # no handler ever outlives a test by more than this


@dataclass
class Request:
    """One request line and its headers as the server received them."""

    method: str
    target: str
    headers: dict[str, str]
    raw: bytes = field(repr=False)


Answer = Callable[[socket.socket, Request], bool]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def respond(
    status: int = 200,
    body: bytes | str = b"{}",
    headers: dict[str, str] | None = None,
    *,
    content_type: str = "application/json",
) -> Answer:
    """An ordinary answer with a Content-Length; the connection is kept alive."""
    data = body.encode() if isinstance(body, str) else body

    def answer(conn: socket.socket, request: Request) -> bool:
        lines = [f"HTTP/1.1 {status} {_reason(status)}", f"Content-Type: {content_type}", f"Content-Length: {len(data)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
        return True

    return answer


def redirect(location: str, status: int = 302) -> Answer:
    """A redirect; the client must not follow it."""
    return respond(status, b"", {"Location": location})


def reset_before_headers() -> Answer:
    """Close with RST as soon as the request arrives."""

    def answer(conn: socket.socket, request: Request) -> bool:
        _reset(conn)
        return False

    return answer


def reset_mid_body(declared: int = 4096) -> Answer:
    """Send headers and part of the body, then RST."""

    def answer(conn: socket.socket, request: Request) -> bool:
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n".encode())
        conn.sendall(b'{"five_hour": {"utilization": ')
        time.sleep(0.05)
        _reset(conn)
        return False

    return answer


def trickle(payload: bytes, interval: float = 1.0, stop: threading.Event | None = None) -> Answer:
    """Send ``payload`` one byte per ``interval``: each read succeeds, the whole never ends in time."""

    def answer(conn: socket.socket, request: Request) -> bool:
        for byte in payload:
            if stop is not None and stop.is_set():
                break
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return False
            time.sleep(interval)
        return False

    return answer


def trickle_headers(interval: float = 1.0) -> Answer:
    return trickle(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 10_000, interval)


def trickle_body(interval: float = 1.0) -> Answer:
    def answer(conn: socket.socket, request: Request) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        return trickle(b" " * 100_000, interval)(conn, request)

    return answer


def never_answer(release: threading.Event) -> Answer:
    """Read the request, then say nothing until the test ends."""

    def answer(conn: socket.socket, request: Request) -> bool:
        release.wait(STOP_WAIT)
        return False

    return answer


def huge_body(size: int = 5 * 1024 * 1024, *, declare_length: bool = True) -> Answer:
    def answer(conn: socket.socket, request: Request) -> bool:
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {size}\r\n\r\n" if declare_length else "Connection: close\r\n\r\n"
        try:
            conn.sendall(head.encode())
            block = b" " * 65536
            sent = 0
            while sent < size:
                conn.sendall(block[: size - sent])
                sent += len(block)
        except OSError:
            pass
        return False

    return answer


def gzip_bomb(expanded: int = 64 * 1024 * 1024) -> Answer:
    body = gzip.compress(b" " * expanded, compresslevel=9)
    return respond(200, body, {"Content-Encoding": "gzip"})


def endless_chunked(stop: threading.Event) -> Answer:
    def answer(conn: socket.socket, request: Request) -> bool:
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            while not stop.is_set():
                conn.sendall(b"400\r\n" + b" " * 0x400 + b"\r\n")
        except OSError:
            pass
        return False

    return answer


def raw_bytes(data: bytes) -> Answer:
    """Send exactly these bytes and close (for invalid status lines and the like)."""

    def answer(conn: socket.socket, request: Request) -> bool:
        conn.sendall(data)
        return False

    return answer


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


class LoopbackServer:
    """Serves on 127.0.0.1:<free port>, over TLS when given a context; answers with ``answer``."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, answer: Answer | None = None) -> None:
        self.ssl_context = ssl_context
        self.answer: Answer = answer or respond()
        self.requests: list[Request] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}/api/oauth/usage"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def close(self) -> None:
        self._closed.set()
        try:
            self._listener.close()
        except OSError:
            pass

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(STOP_WAIT)
        try:
            if self.ssl_context is not None:
                conn = self.ssl_context.wrap_socket(conn, server_side=True)
            buffered = b""
            while not self._closed.is_set():
                request, buffered = self._read_request(conn, buffered)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                if not self.answer(conn, request):
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    @staticmethod
    def _read_request(conn: socket.socket, buffered: bytes) -> tuple[Request | None, bytes]:
        while b"\r\n\r\n" not in buffered:
            if len(buffered) > MAX_HEAD:
                return None, b""
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            buffered += chunk
        head, _, rest = buffered.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Request(method, target, headers, head), rest
