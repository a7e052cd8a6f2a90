"""The shared usage cache: freshness, single flight, shared backoff, robust files, and the library options."""

from __future__ import annotations

import fcntl
import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from claude_usage import (
    ConfigurationError,
    CredentialsExpiredError,
    NetworkError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    UsageClient,
    UsageData,
    get_usage,
)
from claude_usage.cache import (
    CACHE_VERSION,
    DEFAULT_MAX_AGE,
    Fetched,
    UsageCache,
    block_seconds,
    cache_key,
    default_cache_dir,
)
from claude_usage.errors import ClaudeUsageError
from conftest import SECRETS, fixture_body
from loopback_server import LoopbackServer, respond

T0 = 1_772_441_160.0  # 2026-03-02T08:46:00Z
SOURCE = "file:/home/someone/.claude/.credentials.json"
KEY = cache_key(SOURCE, "https://api.anthropic.com/api/oauth/usage")
PRO_MAX = UsageData.from_json(fixture_body("pro_max.json"))
RATE_LIMIT_BODY = b'{"error":{"type":"rate_limit_error","message":"Rate limited. Please try again later."}}'


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Server:
    """A fake fetch: counts calls and answers with the next scripted outcome (the last one repeats)."""

    def __init__(self, *outcomes: UsageData | ClaudeUsageError) -> None:
        self.outcomes = list(outcomes) or [PRO_MAX]
        self.calls = 0

    def __call__(self) -> Fetched:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, ClaudeUsageError):
            raise outcome
        return Fetched(outcome, "max", "default_claude_max_5x")


def make_cache(directory: Path, clock: Callable[[], float], jitter: float = 0.0) -> UsageCache:
    return UsageCache(directory, clock=clock, jitter=lambda: jitter)


def document(directory: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((directory / f"{KEY}.json").read_text())
    return loaded


def test_fresh_data_is_served_without_a_request(tmp_path: Path) -> None:
    """A second call within max_age does not fetch and reports the data's age."""
    clock, server = Clock(), Server()
    cache = make_cache(tmp_path, clock)
    cache.get(KEY, SOURCE, server)
    clock.now += 100
    result = cache.get(KEY, SOURCE, server)
    assert (1, PRO_MAX, 100.0, False, False) == (server.calls, result.usage, result.age_seconds, result.stale, result.requested)


def test_old_data_is_fetched_again(tmp_path: Path) -> None:
    """Data as old as max_age is refreshed."""
    clock, server = Clock(), Server()
    cache = make_cache(tmp_path, clock)
    cache.get(KEY, SOURCE, server)
    clock.now += DEFAULT_MAX_AGE
    result = cache.get(KEY, SOURCE, server)
    assert (2, True, 0.0) == (server.calls, result.requested, result.age_seconds)


def test_force_fetches_fresh_data_again(tmp_path: Path) -> None:
    """force sends a request even though the cached data is fresh."""
    clock, server = Clock(), Server()
    cache = make_cache(tmp_path, clock)
    cache.get(KEY, SOURCE, server)
    clock.now += 1
    cache.get(KEY, SOURCE, server, force=True)
    assert 2 == server.calls


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RateLimitedError("429", retry_after=None), 300.0),
        (RateLimitedError("429", retry_after=0), 300.0),
        (RateLimitedError("429", retry_after=60), 90.0),
        (RateLimitedError("429", retry_after=3600), 4500.0),
        (RateLimitedError("429", retry_after=1e9), 86400.0),
        (ServerError("503", status=503), 30.0),
        (NetworkError("reset"), 30.0),
        (UnauthorizedError("401"), None),
        (CredentialsExpiredError("expired"), None),
    ],
)
def test_block_lengths(error: ClaudeUsageError, expected: float | None) -> None:
    """429 blocks for Retry-After plus a margin (5 min when 0/absent); 5xx and network back off 30 s."""
    assert expected == block_seconds(error)


def test_rate_limit_block_is_recorded_with_margin_and_jitter(tmp_path: Path) -> None:
    """A 429 with Retry-After 3600 records a block of 3600 s + 15 min + the jitter."""
    clock = Clock()
    make_cache(tmp_path, clock, jitter=2.5).get(KEY, SOURCE, Server(RateLimitedError("429", retry_after=3600)))
    recorded = document(tmp_path)
    assert (T0 + 4502.5, 1, "RateLimited") == (recorded["blocked_until"], recorded["failures"], recorded["last_error"]["kind"])  # type: ignore[index]


def test_no_request_while_blocked_and_one_after(tmp_path: Path) -> None:
    """While blocked nothing is fetched and RateLimitedError gives the time left; after it, one fetch."""
    clock = Clock()
    server = Server(RateLimitedError("429", retry_after=3600), PRO_MAX)
    cache = make_cache(tmp_path, clock)
    cache.get(KEY, SOURCE, server)
    clock.now += 4000
    blocked = cache.get(KEY, SOURCE, server, force=True)
    with pytest.raises(RateLimitedError) as caught:
        blocked.usage_or_raise()
    clock.now += 501
    after = cache.get(KEY, SOURCE, server)
    assert (2, 500.0, PRO_MAX) == (server.calls, caught.value.retry_after, after.usage)


def test_blocked_with_data_serves_it_stale(tmp_path: Path) -> None:
    """Older data is served, marked stale, while a block is recorded."""
    clock = Clock()
    server = Server(PRO_MAX, RateLimitedError("429", retry_after=0))
    cache = make_cache(tmp_path, clock)
    cache.get(KEY, SOURCE, server)
    clock.now += 200
    first = cache.get(KEY, SOURCE, server)
    clock.now += 60
    second = cache.get(KEY, SOURCE, server)
    assert (2, True, True, PRO_MAX, 260.0, RateLimitedError) == (
        server.calls,
        first.stale,
        second.stale,
        second.usage,
        second.age_seconds,
        type(second.error),
    )


def test_ignore_block_sends_a_request(tmp_path: Path) -> None:
    """ignore_block (the command's --force) fetches during a block."""
    clock = Clock()
    server = Server(RateLimitedError("429", retry_after=3600), PRO_MAX)
    cache = make_cache(tmp_path, clock)
    cache.get(KEY, SOURCE, server)
    result = cache.get(KEY, SOURCE, server, force=True, ignore_block=True)
    assert (2, PRO_MAX, None) == (server.calls, result.usage, document(tmp_path)["blocked_until"])


def test_transient_failure_is_replayed_during_its_backoff(tmp_path: Path) -> None:
    """After a 5xx, callers within 30 s get the recorded ServerError without a request."""
    clock = Clock()
    server = Server(ServerError("the server failed (503)", status=503))
    cache = make_cache(tmp_path, clock)
    cache.get(KEY, SOURCE, server)
    clock.now += 10
    replayed = cache.get(KEY, SOURCE, server).error
    assert (1, ServerError, 503) == (server.calls, type(replayed), getattr(replayed, "status", None))


def test_credential_errors_are_not_backed_off(tmp_path: Path) -> None:
    """An expired login blocks nothing: the next call tries again at once."""
    clock = Clock()
    server = Server(CredentialsExpiredError("expired"), PRO_MAX)
    cache = make_cache(tmp_path, clock)
    cache.get(KEY, SOURCE, server)
    assert (PRO_MAX, 2) == (cache.get(KEY, SOURCE, server).usage, server.calls)


def test_files_are_private_and_written_atomically(tmp_path: Path) -> None:
    """The directory is 0700, the cache and lock files 0600, and no temporary file is left."""
    directory = tmp_path / "made" / "claude-usage"
    make_cache(directory, Clock()).get(KEY, SOURCE, Server())
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in directory.iterdir()}
    assert ({f"{KEY}.json": 0o600, f"{KEY}.lock": 0o600}, 0o700) == (modes, stat.S_IMODE(directory.stat().st_mode))


def test_cache_document_schema(tmp_path: Path) -> None:
    """The file holds the version, source, fetch time, data, its problems, plan and backoff state."""
    make_cache(tmp_path, Clock()).get(KEY, SOURCE, Server())
    expected = {
        "version": CACHE_VERSION,
        "source": SOURCE,
        "fetched_at": T0,
        "data": PRO_MAX.to_dict(),
        "subscription_type": "max",
        "rate_limit_tier": "default_claude_max_5x",
        "blocked_until": None,
        "failures": 0,
        "problems": [],
        "observed": {},
        "last_error": None,
    }
    assert expected == document(tmp_path)


def test_existing_directory_is_made_private(tmp_path: Path) -> None:
    """A cache directory with group/other bits is tightened to 0700."""
    tmp_path.chmod(0o755)
    make_cache(tmp_path, Clock()).get(KEY, SOURCE, Server())
    assert 0o700 == stat.S_IMODE(tmp_path.stat().st_mode)


def test_another_users_directory_is_not_used(tmp_path: Path) -> None:
    """A cache directory owned by another uid is neither read nor written: every call fetches."""
    if os.geteuid() == 0:
        directory = tmp_path / "theirs"
        directory.mkdir(mode=0o700)
        os.chown(directory, 65534, 65534)
    else:
        directory = Path("/")  # root's, and not ours
    clock, server = Clock(), Server()
    cache = make_cache(directory, clock)
    cache.get(KEY, SOURCE, server)
    cache.get(KEY, SOURCE, server)
    assert (2, False) == (server.calls, (directory / f"{KEY}.json").exists())


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "corrupt JSON": lambda path: path.write_text('{"version": 1, "source": '),
    "truncated": lambda path: path.write_text(path.read_text()[: len(path.read_text()) // 2]),
    "zero bytes": lambda path: path.write_bytes(b""),
    "wrong version": lambda path: path.write_text(path.read_text().replace('"version":1', '"version":999')),
    "other source": lambda path: path.write_text(path.read_text().replace(SOURCE, "file:/elsewhere")),
    "data not usage": lambda path: path.write_text(path.read_text().replace('"data":{', '"data":[{').replace("},\"subscription_type", "}],\"subscription_type")),
    "problems not strings": lambda path: path.write_text(path.read_text().replace('"problems":[]', '"problems":[1]')),
    "not an object": lambda path: path.write_text("[1, 2, 3]"),
    "empty directory": lambda path: (path.unlink(), path.mkdir()),
    "full directory": lambda path: (path.unlink(), path.mkdir(), (path / "x").write_text("x")),
    "fifo": lambda path: (path.unlink(), os.mkfifo(path)),
    "dangling symlink": lambda path: (path.unlink(), path.symlink_to(path.parent / "nowhere")),
}


@pytest.mark.parametrize("damage", sorted(CORRUPTIONS))
def test_damaged_cache_file_is_ignored_and_replaced(tmp_path: Path, damage: str) -> None:
    """A damaged cache file counts as no cache: one fetch, and a valid file replaces it."""
    clock = Clock()
    make_cache(tmp_path, clock).get(KEY, SOURCE, Server())
    CORRUPTIONS[damage](tmp_path / f"{KEY}.json")
    server = Server()
    result = make_cache(tmp_path, clock).get(KEY, SOURCE, server)
    path = tmp_path / f"{KEY}.json"
    assert (1, PRO_MAX, True, CACHE_VERSION) == (server.calls, result.usage, path.is_file() and not path.is_symlink(), document(tmp_path)["version"])


def test_lock_file_replaced_by_a_directory_still_answers(tmp_path: Path) -> None:
    """When the lock cannot be taken the call fetches unguarded rather than failing."""
    (tmp_path / f"{KEY}.lock").mkdir()
    server = Server()
    assert (PRO_MAX, 1) == (make_cache(tmp_path, Clock()).get(KEY, SOURCE, server).usage, server.calls)


def test_waiter_gives_up_on_a_held_lock_with_the_stale_data(tmp_path: Path) -> None:
    """A lock held past the wait bound sends nothing and serves older data marked stale."""
    clock = Clock()
    make_cache(tmp_path, clock).get(KEY, SOURCE, Server())
    clock.now += 1000
    holder = os.open(tmp_path / f"{KEY}.lock", os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        server = Server()
        result = make_cache(tmp_path, clock).get(KEY, SOURCE, server, wait=0.05)
    finally:
        os.close(holder)
    assert (0, True, NetworkError) == (server.calls, result.stale, type(result.error))


def test_a_fetch_made_while_waiting_satisfies_a_forced_call(tmp_path: Path) -> None:
    """Data fetched after a forced call began (by another process) is used instead of a second request."""
    clock = Clock()
    cache = make_cache(tmp_path, clock)
    server = Server()

    class FetchesFirst(UsageCache):
        def _lock(self, key: str, wait: float) -> int | object | None:
            make_cache(tmp_path, clock).get(KEY, SOURCE, server, force=True)  # the other process
            return super()._lock(key, wait)

    FetchesFirst(tmp_path, clock=clock).get(KEY, SOURCE, server, force=True)
    assert (1, PRO_MAX) == (server.calls, cache.get(KEY, SOURCE, server).usage)


def test_no_directory_means_no_cache(tmp_path: Path) -> None:
    """UsageCache(None) fetches every time and writes nothing."""
    server = Server()
    cache = UsageCache(None, clock=Clock())
    cache.get(KEY, SOURCE, server)
    cache.get(KEY, SOURCE, server)
    assert 2 == server.calls


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"CLAUDE_USAGE_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/c"),
        ({"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/claude-usage"),
        ({"XDG_CACHE_HOME": "relative", "HOME": "/h"}, "/h/.cache/claude-usage"),
        ({"HOME": "/h"}, "/h/.cache/claude-usage"),
        ({}, None),
    ],
)
def test_default_cache_dir(environ: dict[str, str], expected: str | None) -> None:
    """CLAUDE_USAGE_CACHE_DIR, then an absolute XDG_CACHE_HOME, then ~/.cache."""
    assert expected == default_cache_dir(environ)


def test_key_depends_on_source_and_url_only() -> None:
    """The key is a fixed-width hex hash of the source and URL names."""
    assert (True, KEY, False, False) == (
        re.fullmatch(r"usage-[0-9a-f]{16}", KEY) is not None,
        cache_key(SOURCE, "https://api.anthropic.com/api/oauth/usage"),
        KEY == cache_key("environment:CLAUDE_CODE_OAUTH_TOKEN", "https://api.anthropic.com/api/oauth/usage"),
        KEY == cache_key(SOURCE, "https://127.0.0.1:1/api/oauth/usage"),
    )


# -- the library options against a real HTTPS server -------------------------------------------


def library_environ(environ: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**environ, "CLAUDE_USAGE_CACHE_DIR": str(tmp_path / "cache")}


def test_get_usage_max_age_uses_the_shared_cache(https_server: LoopbackServer, environ: dict[str, str], ca_file: str, tmp_path: Path) -> None:
    """get_usage(max_age=...) twice sends one request and keeps no token in the cache."""
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    env = library_environ(environ, tmp_path)
    results = [get_usage(max_age=60, api_url=https_server.url, verify=ca_file, environ=env) for _ in range(2)]
    written = b"".join(path.read_bytes() for path in (tmp_path / "cache").iterdir())
    assert (1, PRO_MAX, PRO_MAX, False) == (
        https_server.request_count,
        *results,
        any(secret.encode() in written for secret in SECRETS),
    )


def test_library_default_is_no_cache(https_server: LoopbackServer, environ: dict[str, str], ca_file: str, tmp_path: Path) -> None:
    """Without cache= or max_age every call sends a request and nothing is written."""
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    env = library_environ(environ, tmp_path)
    for _ in range(2):
        get_usage(api_url=https_server.url, verify=ca_file, environ=env)
    assert (2, False) == (https_server.request_count, (tmp_path / "cache").exists())


def test_max_age_without_a_cache_is_refused(environ: dict[str, str]) -> None:
    """UsageClient().get_usage(max_age=...) without a cache is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        UsageClient(environ=environ).get_usage(max_age=5)


def test_client_cache_shares_a_rate_limit_block(https_server: LoopbackServer, environ: dict[str, str], ca_file: str, tmp_path: Path) -> None:
    """A 429 seen by one client keeps another client with the same cache from sending anything."""
    https_server.answer = respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})
    clock = Clock(T0)
    errors = []
    for _ in range(2):
        cache = UsageCache(tmp_path / "cache", clock=clock)
        with UsageClient(api_url=https_server.url, verify=ca_file, environ=environ, cache=cache) as client:
            with pytest.raises(RateLimitedError) as caught:
                client.get_usage()
            errors.append(caught.value.retry_after)
    assert (1, 3600.0) == (https_server.request_count, errors[0])
    assert 4500.0 <= errors[1] <= 4505.0  # type: ignore[operator]


def test_client_cache_result_reports_stale_data(https_server: LoopbackServer, environ: dict[str, str], ca_file: str, tmp_path: Path) -> None:
    """After a failure the client returns the older data and says why in cache_result."""
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    clock = Clock(T0)
    with UsageClient(api_url=https_server.url, verify=ca_file, environ=environ, cache=UsageCache(tmp_path, clock=clock)) as client:
        client.get_usage()
        https_server.answer = respond(503, b"")
        clock.now += 600
        usage = client.get_usage()
        result = client.cache_result
    assert result is not None
    assert (PRO_MAX, True, ServerError, 600.0) == (usage, result.stale, type(result.error), result.age_seconds)


def test_undecoded_hit_gives_the_dict_form_and_parses_on_demand(tmp_path: Path) -> None:
    """decode=False serves the cached to_dict() form as data; usage parses it when asked."""
    clock, server = Clock(), Server()
    make_cache(tmp_path, clock).get(KEY, SOURCE, server)
    clock.now += 10
    result = make_cache(tmp_path, clock).get(KEY, SOURCE, server, decode=False)
    assert (1, PRO_MAX.to_dict(), PRO_MAX, False) == (server.calls, result.data, result.usage, result.stale)


ODD = UsageData.from_dict({"five_hour": {"utilization": None}, "seven_day": {"utilization": 64, "resets_at": None}})


def test_undecoded_hit_does_not_parse(tmp_path: Path) -> None:
    """decode=False trusts the file: its data and problems are served as written; usage is parsed only when asked."""
    clock, server = Clock(), Server()
    make_cache(tmp_path, clock).get(KEY, SOURCE, server)
    path = tmp_path / f"{KEY}.json"
    path.write_text(path.read_text().replace('"utilization":48.0', '"utilization":"x"'))
    result = make_cache(tmp_path, clock).get(KEY, SOURCE, server, decode=False)
    assert result.data is not None
    assert (1, "x", (), ("five_hour.utilization: string, expected a number",)) == (
        server.calls,
        result.data["five_hour"]["utilization"],
        result.problems,
        result.usage_or_raise().problems,
    )


@pytest.mark.parametrize("decode", [True, False])
def test_problems_are_kept_in_the_file(tmp_path: Path, decode: bool) -> None:
    """Data with a problem is cached with its problem lines, served by a fresh or an undecoded read alike."""
    clock, server = Clock(), Server(ODD)
    fetched = make_cache(tmp_path, clock).get(KEY, SOURCE, server)
    clock.now += 10
    hit = make_cache(tmp_path, clock).get(KEY, SOURCE, server, decode=decode)
    expected = ("five_hour.utilization: null",)
    assert (1, expected, expected, list(expected), ODD) == (
        server.calls,
        fetched.problems,
        hit.problems,
        document(tmp_path)["problems"],
        hit.usage,
    )


@pytest.mark.parametrize("decode", [True, False])
def test_file_without_problems_still_loads(tmp_path: Path, decode: bool) -> None:
    """A file written before problems existed (no "problems" key) is a hit with no problems."""
    clock, server = Clock(), Server()
    make_cache(tmp_path, clock).get(KEY, SOURCE, server)
    path = tmp_path / f"{KEY}.json"
    old = json.loads(path.read_text())
    del old["problems"]
    path.write_text(json.dumps(old))
    result = make_cache(tmp_path, clock).get(KEY, SOURCE, server, decode=decode)
    assert (1, (), PRO_MAX) == (server.calls, result.problems, result.usage)


def test_a_file_of_another_source_under_the_same_name_is_a_miss(tmp_path: Path) -> None:
    """The file names its source: another source's file at this key is not served."""
    clock, server = Clock(), Server()
    make_cache(tmp_path, clock).get(KEY, "file:/elsewhere", server)
    result = make_cache(tmp_path, clock).get(KEY, SOURCE, server)
    assert (2, SOURCE, PRO_MAX) == (server.calls, document(tmp_path)["source"], result.usage)
