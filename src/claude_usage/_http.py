"""One HTTPS exchange through ``requests``, with every environment-driven behaviour pinned down.

Pinned: no redirects, no netrc, no ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, no ``SSLKEYLOGFILE``,
no ``http.client`` debug printing, no decompression, a 1 MiB body cap and one deadline for the
whole exchange. Proxies from the standard variables are still honoured (a CONNECT tunnel does not
expose the token). Exceptions raised here are built from strings in frames that never held the
token, and every library exception that passed through is scrubbed of frames and requests.
"""

from __future__ import annotations

import contextvars
import os
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.utils
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

from claude_usage._endpoint import is_loopback_host
from claude_usage._native import NativeCredential, wipe_bytes
from claude_usage.errors import ClaudeUsageError, ConfigurationError, NetworkError, ParseError

MAX_BODY_BYTES = 1024 * 1024
BETA_HEADER = "oauth-2025-04-20"
_CHUNK = 64 * 1024


def default_trust_store() -> str:
    """The system's hashed CA directory if it has one, else certifi's bundle.

    OpenSSL reads a hashed directory lazily, one file per issuer it looks up (~0.3 ms), where a
    bundle is parsed whole for every new context (certifi's: ~35 ms, most of a cold command's
    own work). The directory is OpenSSL's compiled-in one: ``SSL_CERT_DIR`` is not consulted.
    """
    directory = ssl.get_default_verify_paths().openssl_capath
    if _holds_hashed_certificates(directory):
        return directory
    import certifi

    return certifi.where()


def _holds_hashed_certificates(directory: str) -> bool:
    """Whether ``directory`` has a ``<8 hex digits>.<n>`` entry, as c_rehash and update-ca-certificates make.

    A directory without one (Homebrew's and python.org's builds ship it empty) would trust nothing.
    """
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                stem, dot, number = entry.name.partition(".")
                if len(stem) == 8 and dot and number.isdigit() and all(c in _HEX for c in stem):
                    return True
    except OSError:
        pass
    return False


_HEX = frozenset("0123456789abcdef")


def trust_store(verify: bool | str | os.PathLike[str], environ: Mapping[str, str]) -> str:
    """The CA file or hashed directory a client verifies with."""
    if isinstance(verify, bool):  # True: the default store (UsageClient refuses False)
        return environ.get("CLAUDE_USAGE_CA_BUNDLE") or default_trust_store()
    return os.fspath(verify)


def build_ssl_context(verify: bool | str | os.PathLike[str], environ: Mapping[str, str]) -> ssl.SSLContext:
    """A verifying TLS >= 1.2 context that reads no TLS-related environment variable but ours."""
    bundle = trust_store(verify, environ)
    # Not ssl.create_default_context(): it would honour SSLKEYLOGFILE.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if os.path.isdir(bundle):
            context.load_verify_locations(capath=bundle)
        else:
            context.load_verify_locations(cafile=bundle)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"cannot load the CA bundle {bundle}: {reason}") from None
    return context


class Reply:
    """What came back: status, the body (at most MAX_BODY_BYTES) and the headers we use."""

    # Plain slots, not a dataclass: building one at import costs the cold command milliseconds,
    # and without a generated repr the body (server text) stays out of captured locals.
    __slots__ = ("status", "body", "retry_after")

    def __init__(self, status: int, body: bytes, retry_after: str | None = None) -> None:
        self.status = status
        self.body = body
        self.retry_after = retry_after


class _Failure:
    """A failed exchange, described in strings only, so raising it cannot leak anything."""

    __slots__ = ("message", "is_parse")

    def __init__(self, message: str, is_parse: bool = False) -> None:
        self.message = message
        self.is_parse = is_parse

    def error(self) -> ClaudeUsageError:
        return ParseError(self.message) if self.is_parse else NetworkError(self.message)


_active_deadline: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar(
    "claude_usage_deadline", default=None
)


class _Watchdog:
    """One daemon thread that expires every active deadline.

    A thread per call (``threading.Timer``) cost about a fifth of a warm call: starting it waits
    for the scheduler. Here a call only takes a lock, and wakes the thread only when its deadline
    is the earliest one.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._active: set[_Deadline] = set()
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    def add(self, deadline: _Deadline) -> None:
        with self._condition:
            self._active.add(deadline)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="claude-usage-deadlines", daemon=True)
                self._thread.start()
            if deadline.expires < self._wake_at:
                self._wake_at = deadline.expires
                self._condition.notify()

    def discard(self, deadline: _Deadline) -> None:
        with self._condition:
            self._active.discard(deadline)

    def _run(self) -> None:
        with self._condition:
            while True:
                now = time.monotonic()
                for deadline in [d for d in self._active if d.expires <= now]:
                    self._active.discard(deadline)
                    deadline.expire()
                self._wake_at = min((d.expires for d in self._active), default=float("inf"))
                self._condition.wait(None if self._wake_at == float("inf") else self._wake_at - now)


_watchdog = _Watchdog()


def _new_watchdog() -> None:
    global _watchdog
    _watchdog = _Watchdog()


if hasattr(os, "register_at_fork"):  # a forked child has no watchdog thread and maybe a held lock
    os.register_at_fork(after_in_child=_new_watchdog)


class _Deadline:
    """One deadline for connect, headers and body: when it passes, the sockets are shut down."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self.expired = False
        self._connections: list[HTTPConnection] = []
        self._token: contextvars.Token[_Deadline | None] | None = None

    def remaining(self) -> float:
        return max(0.001, self.expires - time.monotonic())

    def watch(self, connection: HTTPConnection) -> None:
        self._connections.append(connection)
        connection.timeout = self.remaining()

    def expire(self) -> None:
        """Called by the watchdog: shut the sockets down (a read timeout restarts with every byte)."""
        self.expired = True
        for connection in list(self._connections):
            sock = connection.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> _Deadline:
        self._token = _active_deadline.set(self)
        _watchdog.add(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _watchdog.discard(self)
        if self._token is not None:
            _active_deadline.reset(self._token)
        self._connections.clear()


class _WatchedConnectionMixin:
    # Shadows http.client.HTTPConnection.debuglevel, which would print the Authorization header.
    debuglevel = 0
    # http.client (3.10-3.13 alike) copies the header value twice: putheader() builds the line
    # `name + b": " + value` and appends it to self._buffer; _send_output() joins the buffer
    # into the request head `msg` and passes it to send(). Each is a new bytes object that
    # only http.client's frame and we refer to, so once sent they are wiped (wipe_bytes).
    _secret_line: bytes | None = None
    _wipe_next_send = False

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = _active_deadline.get()
        if deadline is not None:
            deadline.watch(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]

    def putheader(self, header: str | bytes, *values: Any) -> None:
        super().putheader(header, *values)  # type: ignore[misc]
        name = header.decode("latin-1") if isinstance(header, bytes) else header
        if name.lower() == "authorization":
            self._secret_line = self._buffer[-1]  # type: ignore[attr-defined]  # the line _output appended

    def endheaders(self, *args: Any, **kwargs: Any) -> None:
        self._wipe_next_send = self._secret_line is not None
        try:
            super().endheaders(*args, **kwargs)  # type: ignore[misc]
        finally:
            self._wipe_next_send = False
            line, self._secret_line = self._secret_line, None
            if line is not None:
                wipe_bytes(line)

    def send(self, data: Any) -> None:
        # The first send() inside endheaders() is the joined head (a CONNECT to a proxy is
        # sent from within it, after the flag is cleared, and is left alone).
        head = data if self._wipe_next_send and type(data) is bytes else None
        self._wipe_next_send = False
        try:
            super().send(data)  # type: ignore[misc]
        finally:
            if head is not None:
                wipe_bytes(head)


class _HTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _HTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _use_watched_pools(manager: PoolManager) -> PoolManager:
    manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return manager


class _PinnedAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose pools use our TLS context and our watched, quiet connections."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._ssl_context
        super().init_poolmanager(connections, maxsize, block, **kwargs)
        _use_watched_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        kwargs.setdefault("ssl_context", self._ssl_context)
        return _use_watched_pools(super().proxy_manager_for(proxy, **kwargs))

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # requests would point the pool at certifi's bundle, which urllib3 then loads into our
        # context on every new connection: ~40 ms each, and it would widen a context meant to
        # trust only the configured CAs. Verification stays required; the context holds the CAs.
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


class Transport:
    """A ``requests.Session`` configured once, used for every call of one client."""

    def __init__(self, *, verify: bool | str | os.PathLike[str], user_agent: str, environ: Mapping[str, str]) -> None:
        self._session = requests.Session()
        self._session.trust_env = False  # no netrc, no REQUESTS_CA_BUNDLE; proxies are added below
        adapter = _PinnedAdapter(build_ssl_context(verify, environ))
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._headers = {
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "anthropic-beta": BETA_HEADER,
            "User-Agent": user_agent,
        }
        self._proxies: dict[str, dict[str, str]] = {}

    def close(self) -> None:
        self._session.close()

    def fetch(self, url: str, credential: NativeCredential, timeout: float) -> Reply:
        """GET ``url`` with the credential, which is released as soon as the request is sent."""
        outcome = self._exchange(url, credential, timeout)
        if isinstance(outcome, _Failure):
            raise outcome.error()
        return outcome

    def _proxies_for(self, url: str) -> dict[str, str]:
        proxies = self._proxies.get(url)
        if proxies is None:
            if is_loopback_host(urlsplit(url).hostname):
                proxies = {}
            else:
                proxies = dict(requests.utils.get_environ_proxies(url, no_proxy=None))
            self._proxies[url] = proxies
        return proxies

    def _exchange(self, url: str, credential: NativeCredential, timeout: float) -> Reply | _Failure:
        with _Deadline(timeout) as deadline:
            try:
                response = self._send(url, credential, deadline)
            except (requests.RequestException, OSError, ValueError) as exc:
                return _describe(exc, deadline)
            finally:
                credential.close()
            try:
                return _read(response, deadline)
            finally:
                response.close()

    def _send(self, url: str, credential: NativeCredential, deadline: _Deadline) -> requests.Response:
        prepared = requests.PreparedRequest()
        prepared.prepare(method="GET", url=url, headers=self._headers)
        prepared.headers["Authorization"] = credential.authorization()  # type: ignore[assignment]
        try:
            return self._session.send(
                prepared,
                stream=True,
                allow_redirects=False,
                timeout=deadline.remaining(),
                proxies=self._proxies_for(url),
                verify=True,
            )
        finally:
            # The response and any exception keep `prepared`; they must not keep the token.
            # The value is the one object authorization() made; http.client used it as is
            # (a one-item bytes.join returns its item), and it is not needed once sent.
            wipe_bytes(prepared.headers.pop("Authorization"))  # type: ignore[arg-type]


def _read(response: requests.Response, deadline: _Deadline) -> Reply | _Failure:
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return _Failure(f"refused a {encoding}-compressed response body", is_parse=True)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _Failure(f"response body of {declared} bytes is over the {MAX_BODY_BYTES}-byte limit", is_parse=True)
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return _Failure(f"response body is over the {MAX_BODY_BYTES}-byte limit", is_parse=True)
            chunks.append(chunk)
    except (requests.RequestException, OSError, ValueError) as exc:
        return _describe(exc, deadline)
    if deadline.expired:
        return _timed_out(deadline)
    return Reply(response.status_code, b"".join(chunks), response.headers.get("Retry-After"))


def _timed_out(deadline: _Deadline) -> _Failure:
    return _Failure(f"no complete answer within the {deadline.seconds:g} s timeout")


def _describe(exc: BaseException, deadline: _Deadline) -> _Failure:
    """Describe a failure by its kind and the innermost OS/TLS reason, then scrub the exception."""
    chain = _chain(exc)
    try:
        if deadline.expired or any(isinstance(e, (requests.Timeout, socket.timeout)) for e in chain):
            return _timed_out(deadline)
        for error in chain:
            if isinstance(error, ssl.SSLCertVerificationError):
                return _Failure(f"TLS certificate verification failed: {error.verify_message}")
        for error in chain:
            if isinstance(error, ssl.SSLError):
                return _Failure(f"TLS failed: {error.reason or type(error).__name__}")
        if any(isinstance(e, requests.exceptions.ProxyError) for e in chain):
            return _Failure("the proxy refused or failed the connection")
        for error in reversed(chain):
            if isinstance(error, OSError) and error.strerror:
                return _Failure(f"connection failed: {error.strerror}")
        for error in chain:
            if isinstance(error, requests.exceptions.ChunkedEncodingError):
                return _Failure("the connection broke while the response was being read")
        return _Failure(f"the exchange failed ({type(exc).__name__})")
    finally:
        _scrub(chain)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or any(error is s for s in seen):
            continue
        seen.append(error)
        pending.extend((error.__cause__, error.__context__))
        pending.extend(arg for arg in error.args if isinstance(arg, BaseException))
        reason = getattr(error, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
    return seen


def _scrub(chain: list[BaseException]) -> None:
    # Frames of the exchange hold header bytes in their locals, and requests' exceptions hold
    # the request; cycles through them would otherwise outlive this call until a GC pass.
    for error in chain:
        _clear_frames(error.__traceback__)
        for attribute in ("request", "response"):
            if hasattr(error, attribute):
                try:
                    setattr(error, attribute, None)
                except AttributeError:
                    pass


def _clear_frames(tb: TracebackType | None) -> None:
    """traceback.clear_frames, without importing traceback (and linecache) on the cold path."""
    while tb is not None:
        try:
            tb.tb_frame.clear()
        except RuntimeError:  # a frame still running (ours) cannot be cleared
            pass
        tb = tb.tb_next
