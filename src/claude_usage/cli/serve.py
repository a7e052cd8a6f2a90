"""``claude-usage serve``: /metrics and /usage.json over HTTP, for Prometheus and friends.

One background thread reads the shared cache (which fetches, single flight across processes,
only when the data is older than ``--max-age`` and no block holds requests back) and keeps the
latest result; every scrape is answered from that result and never waits on the network, so
any number of scrapers cost the rate budget what one status line does. Only the very first
scrapes, before anything has been read, wait for it, and at most ``FIRST_READ_WAIT`` seconds.

With several accounts (``--config-dir``, ``CLAUDE_USAGE_ACCOUNTS``) each has its own thread and
its own cache entry, so a slow or failing account never holds up the others' data; /metrics
has every account's series labelled ``account``, /usage.json their ``{"accounts": [...]}``.
"""

from __future__ import annotations

import errno
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from claude_usage import __version__
from claude_usage._typing import TYPE_CHECKING
from claude_usage.cache import DEFAULT_MAX_AGE
from claude_usage.cli.arguments import PROG, UsageError
from claude_usage.cli.metrics import refuse_account_label, require_prometheus_client, single_account_label
from claude_usage.errors import EXIT_OK, ClaudeUsageError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import FrameType
    from typing import Any

    from claude_usage.profiles import Account

    from claude_usage.cache import CacheResult, CacheState
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments
    from claude_usage.metrics import Collector

    Latest = tuple[CacheResult, CacheState | None]

#: How long a scrape may wait for the first read of the cache (a fetch, when it is empty).
FIRST_READ_WAIT = 2.0
#: A serving process lives for months: a max age below this would spend the hourly budget of
#: about 30 requests on its own.
MIN_MAX_AGE = 30.0
#: The longest pause between two reads of the cache file (a read without a fetch costs a stat
#: and a small file read), so data another process fetched shows up soon.
MAX_READ_INTERVAL = 15.0


def serve(args: Arguments, context: Context) -> int:
    require_prometheus_client()
    max_age = DEFAULT_MAX_AGE if args.max_age is None else args.max_age
    if max_age < MIN_MAX_AGE:
        raise UsageError(f"serve needs --max-age of at least {MIN_MAX_AGE:g} s (the rate budget is about 30 requests an hour)")
    host, port, family, remote = _listen_address(args.listen)
    if remote and not args.allow_remote:
        raise UsageError(f"--listen {args.listen} is not a loopback address; add --allow-remote to serve other machines")
    accounts = context.accounts(args)
    refuse_account_label(args, accounts)
    feeds = [_Feed(context, max_age, args.timeout, account) for account in accounts or (None,)]
    try:
        server = _Server((host, port), family, feeds, context, single_account_label(args, accounts))
    except OSError as error:
        reason = "the address is already in use" if error.errno == errno.EADDRINUSE else error.strerror or str(error)
        raise ClaudeUsageError(
            f"cannot listen on {args.listen}: {reason}", hint="another program holds it? choose another with --listen HOST:PORT"
        ) from None

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # unwinds serve_forever like Ctrl-C, through the same clean-up

    signal.signal(signal.SIGTERM, stop)
    try:
        if remote:
            context.err.write(f"{PROG}: warning: serving usage data to other machines on {args.listen}; anyone who can reach it can read it\n")
        bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        context.err.write(f"{PROG}: serving http://{shown}:{bound_port}/metrics and /usage.json\n")
        context.err.flush()
        for feed in feeds:
            feed.start()
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(feeds)
        server.server_close()
    return EXIT_OK


def _listen_address(text: str) -> tuple[str, int, int, bool]:
    """(host, port, address family, not loopback) of ``HOST:PORT`` (``[::1]:9464`` for IPv6)."""
    import ipaddress
    import socket

    host, colon, port_text = text.rpartition(":")
    if not colon or not port_text.isdigit() or int(port_text) > 65535:
        raise UsageError(f"argument --listen: expected HOST:PORT (e.g. 127.0.0.1:9464), not {text!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        found = socket.getaddrinfo(host or None, int(port_text), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise UsageError(f"argument --listen: cannot resolve {host!r}: {error.strerror}") from None
    family, _type, _proto, _name, address = found[0]
    # Every address the name stands for must be loopback: a name can resolve to several.
    remote = not host or not all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in found)
    return str(address[0]), int(port_text), int(family), remote


def _stop(feeds: Sequence[_Feed]) -> None:
    import time

    for feed in feeds:
        feed.stopping.set()
    # A fetch in flight is bounded by --timeout; the process does not wait for it to exit.
    deadline = time.monotonic() + 1.0
    for feed in feeds:
        feed.join(max(0.0, deadline - time.monotonic()))


class _Feed:
    """The latest cache result of one account (``None``: this environment's login), read again
    by one background thread."""

    def __init__(self, context: Context, max_age: float, timeout: float | None, account: Account | None = None) -> None:
        self.account = account
        self._context = context
        self._max_age = max_age
        self._timeout = timeout
        self._changed = threading.Condition()
        self._latest: Latest | None = None
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="claude-usage-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def latest(self, wait: float = FIRST_READ_WAIT) -> Latest | None:
        """The latest result; before the first read ends, wait for it at most ``wait`` seconds."""
        latest = self._latest
        if latest is not None:
            return latest
        with self._changed:
            self._changed.wait_for(lambda: self._latest is not None, timeout=wait)
            return self._latest

    def _run(self) -> None:
        from claude_usage.cache import CacheResult, reread_interval

        interval = min(MAX_READ_INTERVAL, self._max_age / 4)
        with self._context.client(self._timeout, None if self.account is None else self.account.config_dir) as client:
            while not self.stopping.is_set():
                try:
                    result = client.get_result(max_age=self._max_age)
                    state = client.cache_state()
                except ClaudeUsageError as error:  # e.g. a configuration the cache key cannot be made from
                    result, state = CacheResult(None, None, self._context.now(), error=error), None
                with self._changed:
                    self._latest = (result, state)
                    self._changed.notify_all()
                self.stopping.wait(reread_interval(result, interval))


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a scraper's idle keep-alive connection must not hold up the exit
    # socketserver's default backlog of 5 drops the SYNs of a burst of scrapers, which then wait
    # for the kernel's retransmission (1 s, then 3 s): measured as 4 s scrapes with 50 of them.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], family: int, feeds: Sequence[_Feed], context: Context, account: str | None
    ) -> None:
        self.address_family = family
        self.feeds = feeds
        self.context = context
        self.account = account
        self._rendered: dict[str, tuple[list[Latest | None], int, bytes]] = {}
        super().__init__(address, _Handler)

    def latest(self) -> list[Latest | None]:
        """Every feed's latest result; before the first reads end, wait for them at most
        ``FIRST_READ_WAIT`` in all (not per account)."""
        import time

        deadline = time.monotonic() + FIRST_READ_WAIT
        return [feed.latest(max(0.0, deadline - time.monotonic())) for feed in self.feeds]

    def rendered(self, encoder: Callable[[Collector], bytes], content_type: str) -> bytes:
        """The exposition of the latest results in one format. A body changes only with a new read
        of the cache and with the data's age, so the scrapes of one second share one rendering."""
        from claude_usage.cli.metrics import account_collector
        from claude_usage.metrics import AccountsCollector, UsageCollector

        latest = self.latest()
        now = self.context.now()
        second = int(now)
        cached = self._rendered.get(content_type)  # a dict read and write are atomic: no lock needed
        if cached is not None and cached[1] == second and all(old is new for old, new in zip(cached[0], latest, strict=True)):
            return cached[2]
        collector: Collector
        if len(self.feeds) == 1:
            result, state = (None, None) if latest[0] is None else latest[0]
            collector = UsageCollector(result, state, now=now, account=self.account)
        else:
            collector = AccountsCollector(
                [account_collector(feed.account, answer, now) for feed, answer in zip(self.feeds, latest, strict=True) if feed.account is not None]
            )
        body = encoder(collector)
        self._rendered[content_type] = (latest, second, body)
        return body

    def server_bind(self) -> None:
        # HTTPServer's own looks the host's name up in DNS (socket.getfqdn), which can take seconds.
        import socketserver

        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: Prometheus reuses its connection between scrapes
    server_version = f"claude-usage/{__version__}"
    timeout = 120  # an idle keep-alive connection's thread ends after this
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for the
    # client's delayed ACK of the first: measured as a 40 ms floor on every keep-alive scrape.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._metrics()
        elif path == "/usage.json":
            self._usage_json()
        else:
            self._send(404, b"not found: try /metrics or /usage.json\n", "text/plain; charset=utf-8")

    def _metrics(self) -> None:
        from claude_usage.metrics import encoder_for

        encoder, content_type = encoder_for(self.headers.get("Accept"))
        self._send(200, self.server.rendered(encoder, content_type), content_type)

    def _usage_json(self) -> None:
        """The ``--json`` document (503 with the error object when there is no data); with several
        accounts their ``{"accounts": [...]}``, 200 when any of them has data."""
        import json

        from claude_usage.cli.fanout import accounts_document
        from claude_usage.cli.render import error_object
        from claude_usage.cli.show import json_document  # the one builder of the --json document

        def document(answer: CacheResult | None) -> dict[str, Any]:
            return {"error": _PENDING} if answer is None else dict(json.loads(json_document(answer)))

        answers = [_answer(latest) for latest in self.server.latest()]
        status = 200 if any(answer is not None and not isinstance(answer, ClaudeUsageError) for answer in answers) else 503
        if len(answers) > 1:
            pairs = [(feed.account, answer) for feed, answer in zip(self.server.feeds, answers, strict=True) if feed.account is not None]
            body = accounts_document(pairs, document)
        elif isinstance(answers[0], ClaudeUsageError):
            body = json.dumps({"error": error_object(answers[0])}) + "\n"
        else:
            body = json.dumps(document(answers[0])) + "\n"
        self._send(status, body.encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # a scrape every 15 s would fill the journal; errors are the exposition's to report


#: /usage.json's error before the first read of an account's cache has ended.
_PENDING = {"kind": "Pending", "message": "no data has been read yet"}


def _answer(latest: Latest | None) -> CacheResult | ClaudeUsageError | None:
    """What /usage.json shows of a feed: its result when it has data, else the error that left
    it without (``None``: nothing read yet)."""
    if latest is None:
        return None
    result = latest[0]
    if result.data is None:
        assert result.error is not None
        return result.error
    return result
