"""Item 5: a hostile or broken server gets a typed error, in time, with one request and bounded memory.

For every mode: the call raises the expected ClaudeUsageError subclass (never anything else),
returns within the deadline (1 s here) plus 0.5 s, the server saw the token at most once, and
the process's resident memory never grew by 5 MB or more during the call. Elapsed time and
memory are the issue's robustness figures, so they are recorded and asserted here.
"""

from __future__ import annotations

import email.utils
import functools
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

import claude_usage
from claude_usage import (
    ForbiddenError,
    InsufficientScopeError,
    NetworkError,
    ParseError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    UnexpectedStatusError,
)
from conftest import fixture_body, secret_places
from loopback_server import (
    Answer,
    LoopbackServer,
    endless_chunked,
    gzip_bomb,
    huge_body,
    never_answer,
    raw_bytes,
    reset_before_headers,
    reset_mid_body,
    respond,
    trickle_body,
    trickle_headers,
)
from security.probes import record

DEADLINE = 1.0
SLACK = 0.5
RSS_LIMIT = 5 * 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """The largest growth of this process's resident set while the block runs (sampled every 2 ms)."""

    def __init__(self) -> None:
        self.growth = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def current() -> int:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.growth = max(self.growth, self.current() - self.baseline)

    def __enter__(self) -> PeakRss:
        self.baseline = self.current()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.growth = max(self.growth, self.current() - self.baseline)


@dataclass(frozen=True)
class Outcome:
    """How one call ended."""

    error: BaseException | None
    elapsed: float
    rss_growth: int
    tokens_sent: int

    def figure(self) -> str:
        name = type(self.error).__name__ if self.error is not None else "no error"
        return f"{name} in {self.elapsed:.2f} s, token sent {self.tokens_sent}x, RSS +{self.rss_growth / 1e6:.1f} MB"

    def within_bounds(self) -> bool:
        return self.elapsed <= DEADLINE + SLACK and self.tokens_sent <= 1 and self.rss_growth < RSS_LIMIT


GOAL = f"typed error, <= {DEADLINE + SLACK:.1f} s, sent <= 1x, RSS < 5 MB"


@functools.cache
def bomb() -> Answer:
    """Built once (compressing 64 MiB), outside any measured call."""
    return gzip_bomb()


class FaultServer:
    """Runs one get_usage() per call against a fresh loopback server playing the given answer."""

    def __init__(self, context: ssl.SSLContext, ca_file: str, environ: dict[str, str]) -> None:
        self.context, self.ca_file, self.environ = context, ca_file, environ
        self.release = threading.Event()  # lets answers that hang go when the test ends
        self.servers: list[LoopbackServer] = []

    def __call__(self, answer: Answer | None) -> Outcome:
        """One call; ``answer`` None: the port refuses connections."""
        server = LoopbackServer(self.context, answer)
        self.servers.append(server)
        if answer is None:
            server.close()
        error: BaseException | None = None
        with PeakRss() as rss:
            started = time.monotonic()
            try:
                claude_usage.get_usage(api_url=server.url, verify=self.ca_file, environ=self.environ, timeout=DEADLINE)
            except BaseException as exc:  # anything but the expected ClaudeUsageError is a finding
                error = exc
            elapsed = time.monotonic() - started
        sent = sum("authorization" in request.headers for request in server.requests)
        return Outcome(error, elapsed, rss.growth, sent)

    def close(self) -> None:
        self.release.set()
        for server in self.servers:
            server.close()


@pytest.fixture
def call(server_context: ssl.SSLContext, ca_file: str, environ: dict[str, str]) -> Iterator[FaultServer]:
    runner = FaultServer(server_context, ca_file, environ)
    runner(respond(200, fixture_body("pro_max.json")))  # the first call imports the HTTP stack: not measured
    yield runner
    runner.close()


def check(name: str, outcome: Outcome, expected: type[BaseException]) -> None:
    """Record the mode's row, then assert its error type, bounds and clean exception."""
    met = type(outcome.error) is expected and outcome.within_bounds()
    record(f"fault: {name}", outcome.figure(), GOAL, met)
    assert outcome.error is not None, "the call succeeded"
    assert (expected, True, []) == (type(outcome.error), outcome.within_bounds(), secret_places(outcome.error)), outcome.figure()


TRANSPORT_MODES: list[tuple[str, Callable[[threading.Event], Answer | None], type[BaseException]]] = [
    ("connection refused", lambda _: None, NetworkError),
    ("reset before headers", lambda _: reset_before_headers(), NetworkError),
    ("reset mid-body", lambda _: reset_mid_body(), NetworkError),
    ("headers trickled 1 byte/s", lambda _: trickle_headers(interval=1.0), NetworkError),
    ("body trickled 1 byte/s", lambda _: trickle_body(interval=1.0), NetworkError),
    ("never answers", never_answer, NetworkError),
    ("5 MiB body, length declared", lambda _: huge_body(declare_length=True), ParseError),
    ("5 MiB body, length undeclared", lambda _: huge_body(declare_length=False), ParseError),
    ("gzip bomb (64 MiB of spaces)", lambda _: bomb(), ParseError),
    ("chunked body that never ends", endless_chunked, ParseError),
    ("invalid status line", lambda _: raw_bytes(b"HTTP/1.1 two hundred OK\r\n\r\n{}"), NetworkError),
    ("not HTTP at all", lambda _: raw_bytes(b"SSH-2.0-OpenSSH_9.2\r\n"), NetworkError),
    ("invalid JSON", lambda _: respond(200, b'{"five_hour": {"utilization": 4'), ParseError),
    ("JSON of the wrong shape (array)", lambda _: respond(200, b"[1, 2, 3]"), ParseError),
    ("JSON of the wrong shape (a string)", lambda _: respond(200, b'"five_hour"'), ParseError),
    ("HTML with status 200", lambda _: respond(200, b"<!doctype html><title>Sign in</title>", content_type="text/html"), ParseError),
]


@pytest.mark.parametrize(("name", "answer", "expected"), TRANSPORT_MODES, ids=[m[0] for m in TRANSPORT_MODES])
def test_transport_and_body_faults(
    call: FaultServer, name: str, answer: Callable[[threading.Event], Answer | None], expected: type[BaseException]
) -> None:
    """A broken or hostile answer ends in its typed error, in time, with one request and bounded memory."""
    check(name, call(answer(call.release)), expected)


ERROR_BODIES = {
    401: b'{"type":"error","error":{"type":"authentication_error","message":"Invalid bearer token"}}',
    403: b'{"type":"error","error":{"type":"permission_error","message":"OAuth token does not meet scope requirement user:profile"}}',
    429: b'{"error":{"type":"rate_limit_error","message":"Rate limited. Please try again later."}}',
}
STATUS_ERRORS: dict[int, tuple[type[BaseException], type[BaseException]]] = {
    401: (UnauthorizedError, UnauthorizedError),
    403: (InsufficientScopeError, ForbiddenError),  # the scope body, then no body
    429: (RateLimitedError, RateLimitedError),
}
STATUSES = [400, 401, 402, 403, 404, 405, 408, 409, 410, 413, 418, 422, 429, 500, 502, 503, 504]


def expected_errors(status: int) -> tuple[type[BaseException], type[BaseException]]:
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    return (ServerError, ServerError) if status >= 500 else (UnexpectedStatusError, UnexpectedStatusError)


@pytest.mark.parametrize("status", STATUSES)
def test_error_status_with_and_without_body(call: FaultServer, status: int) -> None:
    """Each error status, with its real body and with none, is its own typed error, in time."""
    body = ERROR_BODIES.get(status, b'{"type":"error","error":{"type":"api_error","message":"something failed"}}')
    with_body, without_body = call(respond(status, body)), call(respond(status, b""))
    expected = expected_errors(status)
    for variant, outcome, error_type in (("with", with_body, expected[0]), ("without", without_body, expected[1])):
        record(f"fault: status {status} {variant} body", outcome.figure(), GOAL, type(outcome.error) is error_type and outcome.within_bounds())
    places = secret_places(with_body.error) + secret_places(without_body.error)  # type: ignore[arg-type]
    assert (expected, True, True, []) == (
        (type(with_body.error), type(without_body.error)),
        with_body.within_bounds(),
        without_body.within_bounds(),
        places,
    )


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


RETRY_AFTER = [
    ("seconds", lambda: {"Retry-After": "120"}, 120.0),
    ("HTTP-date", lambda: {"Retry-After": _http_date(600)}, 600.0),
    ("garbage", lambda: {"Retry-After": "soon-ish; maybe"}, None),
    ("missing", lambda: {}, None),
]


@pytest.mark.parametrize(("form", "headers", "seconds"), RETRY_AFTER, ids=[r[0] for r in RETRY_AFTER])
def test_rate_limit_retry_after_forms(
    call: FaultServer, form: str, headers: Callable[[], dict[str, str]], seconds: float | None
) -> None:
    """429 gives a RateLimitedError whose retry_after reads seconds and HTTP-dates, and is None otherwise."""
    outcome = call(respond(429, ERROR_BODIES[429], headers()))
    retry_after = getattr(outcome.error, "retry_after", "absent")
    close = retry_after == seconds or (isinstance(retry_after, float) and seconds is not None and abs(retry_after - seconds) <= 2)
    check(f"429, Retry-After {form}", outcome, RateLimitedError)
    assert True is close, retry_after
