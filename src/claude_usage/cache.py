"""A usage cache shared by every process of one user, so that all of them live inside the rate limit.

One JSON file per account (and API URL) holds the last usage data, when it was fetched, and the
shared backoff state. Nothing in it is secret: the file name is a hash of the account's key, the
login's *location* (a file, a Keychain item), or for a token handed over in the environment an
HMAC of the token under a random per-user key (:func:`token_account_key`), and the token is never
written. The file also names its account, checked on every read, so a file that is not this
account's is a miss.

Protocol of :meth:`UsageCache.get`:

1. Fresh data (younger than ``max_age``) is returned without a request and without a lock.
2. While a block is recorded (a 429, or a brief backoff after a 5xx or network failure), no
   request is sent: older data comes back marked stale, or the recorded error is raised.
3. Otherwise one process takes an exclusive ``flock`` on a lock file next to the cache, reads the
   cache again (another process may have just fetched), fetches if it is still stale, and writes
   the result atomically. The others wait for the lock (bounded) and then read that result.

A cache file that is corrupt, truncated, of another version, a directory, or unreadable is ignored
and replaced. A directory that cannot be used (not ours, not creatable, not writable) turns the
cache off: every call then fetches, and nothing fails because of the cache.

This module stays import-light: the command's cache hit runs through it, so it imports no HTTP,
no models (the data stays in its ``to_dict()`` form until a caller asks for ``UsageData``), and
neither typing, dataclasses nor hashlib, each of which costs more than the whole hit.
"""

from __future__ import annotations

import json
import os
import stat
import time

from claude_usage import errors
from claude_usage.errors import (
    ApiError,
    ClaudeUsageError,
    ForbiddenError,
    NetworkError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    UnexpectedStatusError,
)
from claude_usage._typing import TYPE_CHECKING
from claude_usage.windows import WINDOWS, problem_names

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from claude_usage.models import UsageData

__all__ = [
    "CACHE_DIR_VARIABLE",
    "CACHE_VERSION",
    "DEFAULT_MAX_AGE",
    "CacheResult",
    "CacheState",
    "Fetched",
    "finite_number",
    "reread_interval",
    "Observation",
    "UsageCache",
    "block_seconds",
    "cache_key",
    "default_cache_dir",
    "token_account_key",
]

CACHE_VERSION = 1
CACHE_DIR_VARIABLE = "CLAUDE_USAGE_CACHE_DIR"
DEFAULT_MAX_AGE = 180.0

#: ``Retry-After: 0`` or none: the hourly budget is spent; probing sooner only re-blocks.
BUDGET_EXHAUSTED_BLOCK = 300.0
#: Retrying exactly at an hour-long block's deadline often re-blocks.
LONG_BLOCK = 3600.0
LONG_BLOCK_MARGIN = 900.0
SHORT_BLOCK_MARGIN = 30.0
#: A hostile or broken ``Retry-After`` must not silence the command for years.
MAX_BLOCK = 86400.0
#: After a 5xx or a network failure, so a dead network is not hammered by every status line.
TRANSIENT_BACKOFF = 30.0
MAX_JITTER = 5.0
LOCK_POLL_SECONDS = 0.02
#: The server's body is capped at 1 MiB; anything much larger is not ours.
MAX_CACHE_BYTES = 4 * 1024 * 1024
#: The source of data a request to the server brought, and of Claude Code's status-line stdin.
SERVER = "server"
CLAUDE_CODE = "claude_code"
#: An observation that repeats the cached numbers is written only when the recorded one is older
#: than this: a status line renders every second, and a write with fsync costs more than the render.
OBSERVATION_REWRITE_SECONDS = 60.0
#: Two reset times this close name the same window (the server's carry microseconds, stdin's not).
SAME_RESET_SECONDS = 60.0


def default_cache_dir(environ: Mapping[str, str]) -> str | None:
    """``$CLAUDE_USAGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/claude-usage``, else ``~/.cache/claude-usage``."""
    return user_dir(environ, CACHE_DIR_VARIABLE, "XDG_CACHE_HOME", ".cache")


def user_dir(environ: Mapping[str, str], ours: str, xdg_variable: str, *under_home: str) -> str | None:
    """``$ours``, else ``$xdg_variable/claude-usage``, else ``~/<under_home>/claude-usage``
    (``None`` without ``HOME``): where the cache and the history live, by the XDG rules."""
    explicit = environ.get(ours)
    if explicit:
        return explicit
    xdg = environ.get(xdg_variable)
    if xdg and os.path.isabs(xdg):  # the XDG spec says relative values are to be ignored
        return os.path.join(xdg, "claude-usage")
    home = environ.get("HOME")
    return os.path.join(home, *under_home, "claude-usage") if home else None


def cache_key(source_key: str, api_url: str) -> str:
    """The file name stem for a credential source and API URL (a hash of their names, not of a token).

    64-bit FNV-1a: the name needs no secrecy, and hashlib would load libcrypto (~9 ms, ~4 MB) on
    every cache hit. A collision could only pair two sources of one user, and each file names its
    source, so it would cost a refetch, never the wrong data.
    """
    digest = 0xCBF29CE484222325
    for byte in f"{source_key}\n{api_url}".encode("utf-8", "surrogateescape"):
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"usage-{digest:016x}"


#: The per-user HMAC key that names a token's cache entry (see :func:`token_account_key`).
TOKEN_KEY_FILE = "token-key"
TOKEN_KEY_BYTES = 32


def token_account_key(token: str, directory: str | None) -> str | None:
    """The account key of a token handed over in the environment: ``environment:`` and the
    HMAC-SHA256 of the token under the per-user key in ``directory``, so two tokens never share
    a cache entry, and nothing written anywhere lets a token be recovered or even tested for.
    ``None`` when no key can be kept there (the caller then neither caches nor records)."""
    key = None if directory is None or not _prepare_directory(directory) else _token_key(directory)
    if key is None:
        return None
    # Imported here: hmac loads libcrypto, which only a token from the environment needs.
    import hmac

    message = bytearray(token.encode("utf-8", "surrogateescape"))
    try:
        return "environment:" + hmac.new(key, message, "sha256").hexdigest()
    finally:
        message[:] = bytes(len(message))  # our copy of the token; os.environ's is beyond reach


def _token_key(directory: str) -> bytes | None:
    """The key in ``directory``, made (0600, whole or not at all) when missing or unusable."""
    path = os.path.join(directory, TOKEN_KEY_FILE)
    for _attempt in range(3):
        key = _read_token_key(path)
        if key is not None:
            return key
        temporary = _private_temporary(directory, TOKEN_KEY_FILE, os.urandom(TOKEN_KEY_BYTES))
        if temporary is None:
            return None
        try:
            # A link, not a rename: of two processes making the key at once one wins, and the
            # other reads the winner's below.
            try:
                os.link(temporary, path)
            except FileExistsError:
                key = _read_token_key(path)
                if key is not None:
                    return key
                # Unusable (short, foreign, not a file): replaced. Two processes replacing it
                # at once cost one of them a cache miss, never another token's data.
                _replace(temporary, path)
        except OSError:
            return None
        finally:
            _unlink_quietly(temporary)
        _fsync_directory(directory)
    return None


def _read_token_key(path: str) -> bytes | None:
    key = _read_regular(path, TOKEN_KEY_BYTES, _private_to_us)
    return key if key is not None and len(key) == TOKEN_KEY_BYTES else None


def _private_to_us(info: os.stat_result) -> bool:
    ours = not hasattr(os, "geteuid") or info.st_uid == os.geteuid()
    return ours and not info.st_mode & 0o077


def block_seconds(error: ClaudeUsageError) -> float | None:
    """How long every process should send nothing after ``error``, before jitter; ``None``: no backoff."""
    if isinstance(error, RateLimitedError):
        retry_after = error.retry_after
        if not retry_after or retry_after <= 0:
            return BUDGET_EXHAUSTED_BLOCK
        margin = LONG_BLOCK_MARGIN if retry_after >= LONG_BLOCK else SHORT_BLOCK_MARGIN
        return min(MAX_BLOCK, retry_after + margin)
    # 401/403 are fixed by logging in again, which should work at once; they are not backed off.
    if isinstance(error, ApiError) and not isinstance(error, (UnauthorizedError, ForbiddenError)):
        return TRANSIENT_BACKOFF
    return None


def reread_interval(result: CacheResult, interval: float) -> float:
    """How long a reader that stays (``watch``, ``serve``) waits before reading the cache again
    after ``result``: ``interval``, but at least the default max age after a refused token. The
    cache does not back that off (logging in again fixes it at once), yet a reader that stays
    must not spend the budget retrying it at every read."""
    refused = result.error is not None and result.requested
    return max(interval, DEFAULT_MAX_AGE) if refused else interval


def _urandom_jitter() -> float:
    return int.from_bytes(os.urandom(2), "big") / 0xFFFF * MAX_JITTER


class Fetched:
    """What one successful request gave: the usage and what the login said about the plan."""

    __slots__ = ("usage", "subscription_type", "rate_limit_tier")

    def __init__(self, usage: UsageData, subscription_type: str | None = None, rate_limit_tier: str | None = None) -> None:
        self.usage = usage
        self.subscription_type = subscription_type
        self.rate_limit_tier = rate_limit_tier

    def __repr__(self) -> str:
        return f"Fetched(usage={self.usage!r}, subscription_type={self.subscription_type!r}, rate_limit_tier={self.rate_limit_tier!r})"


class Observation:
    """Usage numbers seen without a request, e.g. in Claude Code's status-line stdin.

    ``windows`` maps a window's JSON key (only keys of :data:`claude_usage.windows.WINDOWS`) to
    ``(utilization, resets_at, observed_at)``: percent used, the reset as epoch seconds (or
    ``None``), and when it was observed (epoch seconds). ``source`` names where it came from
    (``"claude_code"``); :meth:`UsageCache.observe` bridges it into the shared cache.
    """

    __slots__ = ("windows", "source")

    def __init__(self, windows: Mapping[str, tuple[float, float | None, float]], source: str = CLAUDE_CODE) -> None:
        self.windows = dict(windows)
        self.source = source

    @classmethod
    def from_rate_limits(cls, rate_limits: Any, observed_at: float, source: str = CLAUDE_CODE) -> Observation:
        """The windows of Claude Code's ``rate_limits`` object (``{"five_hour": {"used_percentage":
        23.5, "resets_at": 1738425600}, ...}``), parsed tolerantly: a window that is not in the
        windows table, or whose numbers are not numbers, is left out; anything else is ignored."""
        found: dict[str, tuple[float, float | None, float]] = {}
        if isinstance(rate_limits, dict):
            for key, _label, _alias, _hours in WINDOWS:
                window = rate_limits.get(key)
                if not isinstance(window, dict):
                    continue
                used = finite_number(window.get("used_percentage"))
                resets_at = window.get("resets_at")
                reset = None if resets_at is None else finite_number(resets_at)
                # Epoch seconds; milliseconds (or garbage) would put the reset past the year 5000.
                if used is None or used < 0 or (resets_at is not None and (reset is None or not 0 < reset < 1e11)):
                    continue
                found[key] = (used, reset, observed_at)
        return cls(found, source)

    def __repr__(self) -> str:
        return f"Observation({self.windows!r}, source={self.source!r})"


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite JSON number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if -float("inf") < number < float("inf") else None


def iso_utc(seconds: float) -> str:
    """Epoch seconds as the server writes ``resets_at`` (``2026-03-02T11:00:00.521744+00:00``;
    no fraction when whole), without importing datetime (the ``--json`` hit loads none)."""
    whole = int(seconds // 1)
    micro = round((seconds - whole) * 1e6)
    if micro >= 1_000_000:
        whole, micro = whole + 1, 0
    fraction = f".{micro:06d}" if micro else ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + fraction + "+00:00"


# The records below are plain slotted classes rather than dataclasses: importing dataclasses
# (inspect, ast, dis...) and building each class costs the command's cache hit tens of ms.


class _Failure:
    """The last failed attempt, as recorded in the cache file (kind and message only; no secrets)."""

    __slots__ = ("kind", "message", "at", "status")

    def __init__(self, kind: str, message: str, at: float, status: int | None = None) -> None:
        self.kind = kind
        self.message = message
        self.at = at
        self.status = status


class _Entry:
    """One cache file's content. ``data`` is the usage in its ``to_dict()`` form; ``usage`` is
    the same parsed, when it has been (see ``decode`` in :meth:`UsageCache.get`); ``problems``
    is ``usage.problems``, kept in the file so that an undecoded read has them too."""

    __slots__ = (
        "source", "fetched_at", "data", "usage", "subscription_type", "rate_limit_tier",
        "blocked_until", "failures", "last_error", "problems", "observed",
    )

    def __init__(
        self,
        source: str,
        fetched_at: float | None = None,
        data: dict[str, Any] | None = None,
        usage: UsageData | None = None,
        subscription_type: str | None = None,
        rate_limit_tier: str | None = None,
        blocked_until: float | None = None,
        failures: int = 0,
        last_error: _Failure | None = None,
        problems: tuple[str, ...] = (),
        observed: dict[str, tuple[str, float]] | None = None,
    ) -> None:
        self.source = source
        self.fetched_at = fetched_at
        self.data = data
        self.usage = usage
        self.subscription_type = subscription_type
        self.rate_limit_tier = rate_limit_tier
        self.blocked_until = blocked_until
        self.failures = failures
        self.last_error = last_error
        self.problems = problems
        # Window key -> (source, observed_at) for windows whose numbers did not come with the
        # request at fetched_at (Claude Code's stdin); every other window is the server's.
        self.observed = observed or {}

    def failed(self, failure: _Failure, blocked_until: float | None) -> _Entry:
        """This entry's data, with one more failure recorded."""
        return _Entry(
            self.source,
            self.fetched_at,
            self.data,
            self.usage,
            self.subscription_type,
            self.rate_limit_tier,
            blocked_until,
            self.failures + 1,
            failure,
            self.problems,
            self.observed,
        )

    def with_observation(self, observation: Observation, now: float) -> tuple[_Entry, set[str], bool]:
        """This entry with ``observation``'s windows where they are newer: the entry, the keys
        whose cached numbers are now the observation's, and whether anything is worth writing.

        A window is taken unless what is cached is newer: observed later, or, for the same reset,
        a higher percentage (usage only grows within a window, so a lower one is an old reading,
        e.g. of an idle session), or a later reset. A reset already passed is no news at all.
        """
        if self.data is None or self.fetched_at is None:
            return self, set(), False  # nothing to attach numbers to; a request comes next anyway
        data = self.data
        observed = self.observed
        problems = self.problems
        current: set[str] = set()
        changed = False
        for key, (utilization, resets_at, observed_at) in observation.windows.items():
            if resets_at is not None and resets_at <= now:
                continue
            cached = data.get(key)
            cached_source, cached_at = observed.get(key, (SERVER, self.fetched_at))
            if observed_at < cached_at:
                continue
            reset_text = None if resets_at is None else iso_utc(resets_at)
            if isinstance(cached, dict):
                cached_use = finite_number(cached.get("utilization"))
                cached_reset = cached.get("resets_at")
                cached_epoch = epoch_seconds(cached_reset) if isinstance(cached_reset, str) else None
                if resets_at is not None and cached_epoch is not None and resets_at < cached_epoch - SAME_RESET_SECONDS:
                    continue
                same_window = resets_at is None or cached_epoch is None or abs(resets_at - cached_epoch) <= SAME_RESET_SECONDS
                if same_window and cached_use is not None and utilization < cached_use:
                    continue
                if (
                    cached_source == observation.source
                    and cached_use == utilization
                    and cached_reset == reset_text
                    and observed_at - cached_at < OBSERVATION_REWRITE_SECONDS
                ):
                    current.add(key)  # the same numbers, recorded a moment ago: no write
                    continue
            if data is self.data:  # copy on first change: the caller's entry stays as it was
                data, observed = dict(data), dict(observed)
            data[key] = {"utilization": utilization, "resets_at": reset_text}
            observed[key] = (observation.source, observed_at)
            # A window the server sent but that was not understood now holds understood numbers.
            problems = tuple(line for line in problems if not problem_names(line, key))
            current.add(key)
            changed = True
        if not changed:
            return self, current, False
        entry = _Entry(
            self.source, self.fetched_at, data, None, self.subscription_type, self.rate_limit_tier,
            self.blocked_until, self.failures, self.last_error, problems, observed,
        )
        return entry, current, True

    def to_document(self) -> dict[str, Any]:
        failure = self.last_error
        return {
            "version": CACHE_VERSION,
            "source": self.source,
            "fetched_at": self.fetched_at,
            "data": self.data,
            "subscription_type": self.subscription_type,
            "rate_limit_tier": self.rate_limit_tier,
            "blocked_until": self.blocked_until,
            "failures": self.failures,
            "problems": list(self.problems),
            "observed": {key: {"source": source, "observed_at": at} for key, (source, at) in self.observed.items()},
            "last_error": None
            if failure is None
            else {"kind": failure.kind, "message": failure.message, "at": failure.at, "status": failure.status},
        }

    @classmethod
    def from_document(cls, document: Any, source: str, decode: bool) -> _Entry | None:
        """The entry a cache file holds, or ``None`` when it is not a valid one for ``source``.

        ``decode`` parses the data into ``UsageData`` (data that does not parse makes the file
        invalid); without it the data is trusted as this library wrote it and left undecoded.
        """
        if not isinstance(document, dict) or document.get("version") != CACHE_VERSION:
            return None
        if document.get("source") != source:
            return None
        data = document.get("data")
        fetched_at = _optional_float(document.get("fetched_at"))
        if (data is None) != (fetched_at is None) or not (data is None or isinstance(data, dict)):
            return None
        usage = None
        # A file without "problems" was written before parsing tolerated any: its data had none.
        problems = document.get("problems", [])
        if not (isinstance(problems, list) and all(isinstance(line, str) for line in problems)):
            raise ValueError("problems is not a list of strings")
        if decode and data is not None:
            from claude_usage.models import UsageData

            usage = UsageData.from_dict(data)
            problems = usage.problems
        failure = document.get("last_error")
        last_error = None
        if isinstance(failure, dict):
            status = failure.get("status")
            last_error = _Failure(
                kind=str(failure["kind"]),
                message=str(failure["message"]),
                at=float(failure["at"]),
                status=status if isinstance(status, int) and not isinstance(status, bool) else None,
            )
        failures = document.get("failures", 0)
        # Absent in files written before observations were bridged: every window is the server's.
        observed: dict[str, tuple[str, float]] = {}
        records = document.get("observed") or {}
        if not isinstance(records, dict):
            raise ValueError("observed is not an object")
        for key, record in records.items():
            observed[key] = (str(record["source"]), float(record["observed_at"]))
        return cls(
            source=source,
            fetched_at=fetched_at,
            data=data,
            usage=usage,
            subscription_type=_optional_text(document.get("subscription_type")),
            rate_limit_tier=_optional_text(document.get("rate_limit_tier")),
            blocked_until=_optional_float(document.get("blocked_until")),
            failures=failures if isinstance(failures, int) and not isinstance(failures, bool) else 0,
            last_error=last_error,
            problems=tuple(problems),
            observed=observed,
        )


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("not a number")
    return float(value)


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def epoch_seconds(text: str) -> float | None:
    """``YYYY-MM-DDTHH:MM:SS[.f]`` with ``Z`` or ``+HH:MM``/``-HH:MM`` as epoch seconds, else
    ``None``; without datetime, which the ``--json`` cache hit does not load."""
    try:
        if text.endswith("Z"):
            body, offset = text[:-1], 0
        else:
            body, sign, hours, minutes = text[:-6], text[-6], int(text[-5:-3]), int(text[-2:])
            if sign not in "+-" or text[-3] != ":":
                return None
            offset = (hours * 3600 + minutes * 60) * (1 if sign == "+" else -1)
        if body[4:17:3] != "--T::":
            return None
        year, month, day = int(body[0:4]), int(body[5:7]), int(body[8:10])
        seconds = int(body[11:13]) * 3600 + int(body[14:16]) * 60 + float(body[17:])
    except (ValueError, IndexError):
        return None
    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return (era * 146097 + day_of_era - 719468) * 86400 + seconds - offset


class CacheResult:
    """The outcome of :meth:`UsageCache.get`.

    ``usage`` is ``None`` only together with an ``error``. With both, the data is stale: the
    request failed (or was not sent because of a recorded block) and older data is shown.
    ``data`` is the same usage in its ``to_dict()`` form (JSON-ready), available without
    parsing; ``usage`` is parsed from it on first access when ``get`` was called with
    ``decode=False``. ``problems`` is ``usage.problems``, also available without parsing.
    """

    __slots__ = (
        "data", "fetched_at", "now", "error", "requested", "subscription_type", "rate_limit_tier", "problems", "_usage",
        "observed", "current",
    )

    def __init__(
        self,
        data: dict[str, Any] | None,
        fetched_at: float | None,
        now: float,
        error: ClaudeUsageError | None = None,
        requested: bool = False,
        subscription_type: str | None = None,
        rate_limit_tier: str | None = None,
        *,
        usage: UsageData | None = None,
        problems: tuple[str, ...] = (),
        observed: dict[str, tuple[str, float]] | None = None,
        current: frozenset[str] = frozenset(),
    ) -> None:
        self.data = data
        self.fetched_at = fetched_at
        self.now = now
        #: Window key -> (source, observed_at) of windows whose numbers are newer than
        #: ``fetched_at`` (an :class:`Observation`'s); the other windows are the server's.
        self.observed = observed or {}
        #: The keys of the windows the observation passed to ``get`` is in ``data`` for (taken,
        #: or the same numbers already cached).
        self.current = current
        self.error = error
        self.requested = requested
        self.subscription_type = subscription_type
        self.rate_limit_tier = rate_limit_tier
        self.problems = problems
        self._usage = usage

    @property
    def usage(self) -> UsageData | None:
        """The data as ``UsageData`` (``None`` only together with an ``error``)."""
        if self._usage is None and self.data is not None:
            from claude_usage.models import UsageData

            self._usage = UsageData.from_dict(self.data)
        return self._usage

    @property
    def stale(self) -> bool:
        """True when ``usage`` is older data served because the latest attempt failed."""
        return self.error is not None and self.data is not None

    @property
    def age_seconds(self) -> float | None:
        """Seconds since ``usage`` was fetched."""
        return None if self.fetched_at is None else max(0.0, self.now - self.fetched_at)

    def source_of(self, key: str) -> tuple[str, float | None]:
        """Where the window ``key``'s numbers came from and when they were observed:
        ``("claude_code", t)`` for an observation's, else ``("server", fetched_at)``."""
        return self.observed.get(key, (SERVER, self.fetched_at))

    def usage_or_raise(self) -> UsageData:
        """The data, stale or not; the error when there is none."""
        usage = self.usage
        if usage is None:
            assert self.error is not None
            raise self.error
        return usage

    def __repr__(self) -> str:
        return (
            f"CacheResult(fetched_at={self.fetched_at!r}, now={self.now!r}, error={self.error!r}, "
            f"requested={self.requested!r}, stale={self.stale!r})"
        )


class CacheState:
    """What the cache holds for one source, without the usage itself: for diagnostics.

    ``usable`` is false when the directory cannot be used (caching is then off); the other fields
    are ``None`` (``failures`` 0) when there is no valid entry. ``problems`` are the cached data's
    (``UsageData.problems``), read without parsing it.
    """

    __slots__ = (
        "path", "usable", "fetched_at", "blocked_until", "failures", "last_error_kind", "last_error_message", "last_error_at",
        "problems",
    )

    def __init__(self, path: str | None, usable: bool, entry: _Entry | None) -> None:
        self.path = path
        self.usable = usable
        self.fetched_at = None if entry is None else entry.fetched_at
        self.blocked_until = None if entry is None else entry.blocked_until
        self.failures = 0 if entry is None else entry.failures
        failure = None if entry is None else entry.last_error
        self.last_error_kind = None if failure is None else failure.kind
        self.last_error_message = None if failure is None else failure.message
        self.last_error_at = None if failure is None else failure.at
        self.problems: tuple[str, ...] = () if entry is None else entry.problems


class UsageCache:
    """The shared cache directory; see the module docstring for the protocol.

    ``directory=None`` (or one that cannot be used) disables caching: :meth:`get` always fetches.
    ``clock`` (epoch seconds) decides ages and blocks; ``jitter`` (seconds) is added to each block.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None,
        *,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = _urandom_jitter,
    ) -> None:
        self.directory = None if directory is None else os.fspath(directory)
        self._clock = clock
        self._jitter = jitter
        self._usable: bool | None = None

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, clock: Callable[[], float] = time.time
    ) -> UsageCache:
        """The cache at :func:`default_cache_dir`."""
        return cls(default_cache_dir(os.environ if environ is None else environ), clock=clock)

    def path(self, key: str) -> str | None:
        """The cache file for ``key`` (``None`` when caching is off)."""
        return None if self.directory is None else os.path.join(self.directory, f"{key}.json")

    def state(self, key: str, source: str) -> CacheState:
        """The entry for ``key`` as diagnostics see it (creating the directory, as any use would)."""
        usable = self._ready_directory() is not None
        return CacheState(self.path(key), usable, self._read(key, source, False) if usable else None)

    def get(
        self,
        key: str,
        source: str,
        fetch: Callable[[], Fetched],
        *,
        max_age: float = DEFAULT_MAX_AGE,
        force: bool = False,
        ignore_block: bool = False,
        wait: float = 15.0,
        decode: bool = True,
        observation: Observation | None = None,
        observed_max_age: float | None = None,
    ) -> CacheResult:
        """Usage for ``key``: from the cache when fresh, else from ``fetch`` by one process at a time.

        ``observation`` is first bridged into the cache (see :meth:`observe`) and shown in the
        result. When it keeps the windows with an alias (5-hour and 7-day) current, the rest of
        the data is served while younger than ``observed_max_age`` (if longer than ``max_age``).

        ``force`` sends a request even when the cache is fresh (a block still holds it back unless
        ``ignore_block``); ``wait`` bounds the time spent waiting for another process's fetch.
        Errors of ``fetch`` come back in the result, never raised (``usage_or_raise`` raises them).
        ``decode=False`` trusts cached data as this library wrote it and leaves it in its
        ``to_dict()`` form (``CacheResult.data``), so a caller that only needs that form (the
        command's ``--json``) does not load the models; with the default, cached data that does
        not parse counts as no cache.
        """
        started = self._clock()
        entry = self._read(key, source, decode)
        current: set[str] = set()
        if observation is not None and entry is not None:
            entry, current = self._bridge(key, source, entry, observation, started, decode)
            if observed_max_age is not None and _KEPT_CURRENT <= current:
                max_age = max(max_age, observed_max_age)
        answer = self._answer_without_request(entry, started, started, max_age, force, ignore_block, current)
        if answer is not None:
            return answer
        lock = self._lock(key, wait)
        try:
            if lock is _TIMED_OUT:
                return self._gave_up_waiting(key, source, started, max_age, wait, decode)
            if lock is not None:
                entry = self._read(key, source, decode)  # another process may have fetched meanwhile
                if observation is not None and entry is not None:
                    entry, current = entry.with_observation(observation, started)[:2]
                answer = self._answer_without_request(entry, self._clock(), started, max_age, force, ignore_block, current)
                if answer is not None:
                    return answer
            return self._fetch_and_record(key, source, entry, fetch)
        finally:
            if isinstance(lock, int):
                os.close(lock)  # closing releases the flock

    def _answer_without_request(
        self,
        entry: _Entry | None,
        now: float,
        started: float,
        max_age: float,
        force: bool,
        ignore_block: bool,
        current: set[str] | None = None,
    ) -> CacheResult | None:
        if entry is None:
            return None
        if entry.data is not None and entry.fetched_at is not None:
            age = now - entry.fetched_at
            # Fetched since this call began satisfies even a forced request: it is as new as ours.
            if entry.fetched_at >= started or (not force and abs(age) < max_age):
                return self._result(entry, now, current=current)
        if not ignore_block and entry.blocked_until is not None and entry.blocked_until > now:
            return self._result(entry, now, error=_blocked_error(entry, now), current=current)
        return None

    def observe(self, key: str, source: str, observation: Observation) -> set[str]:
        """Bridge ``observation`` into the cached entry for ``key``, so that every reader sees its
        numbers without a request; returns the keys of the windows the cache now holds them for.

        A window is taken only where the cached numbers are not newer (see the README, "The
        cache"), with the observation's own time; nothing else of the entry changes (``fetched_at``
        stays the server's). Nothing is taken when there is no cached data yet. The file is
        rewritten atomically under the fetch lock; when another process holds that lock (it is
        fetching newer data) the write is skipped.
        """
        entry = self._read(key, source, False)
        if entry is None:
            return set()
        return self._bridge(key, source, entry, observation, self._clock(), False)[1]

    def _bridge(
        self, key: str, source: str, entry: _Entry, observation: Observation, now: float, decode: bool
    ) -> tuple[_Entry, set[str]]:
        merged, current, changed = entry.with_observation(observation, now)
        if not changed or self._ready_directory() is None:
            return merged, current
        lock = self._lock(key, 0.0)
        if isinstance(lock, int):
            try:
                # Under the lock, from the file as it is now: a concurrent observation or fetch
                # may have landed since the read above.
                latest = self._read(key, source, decode)
                if latest is not None:
                    merged, current, changed = latest.with_observation(observation, now)
                    if changed:
                        self._write(key, merged)
            finally:
                os.close(lock)
        return merged, current

    def _fetch_and_record(self, key: str, source: str, entry: _Entry | None, fetch: Callable[[], Fetched]) -> CacheResult:
        previous = entry or _Entry(source=source)
        try:
            fetched = fetch()
        except ClaudeUsageError as error:
            now = self._clock()
            block = block_seconds(error)
            failure = _Failure(error.kind, error.message, now, getattr(error, "status", None))
            entry = previous.failed(failure, None if block is None else now + block + self._jitter())
            self._write(key, entry)
            return self._result(entry, now, error=error, requested=True)
        now = self._clock()
        entry = _Entry(
            source=source,
            fetched_at=now,
            data=fetched.usage.to_dict(),
            usage=fetched.usage,
            subscription_type=fetched.subscription_type or previous.subscription_type,
            rate_limit_tier=fetched.rate_limit_tier or previous.rate_limit_tier,
            problems=fetched.usage.problems,
        )
        self._write(key, entry)
        return self._result(entry, now, requested=True)

    def _gave_up_waiting(
        self, key: str, source: str, started: float, max_age: float, wait: float, decode: bool
    ) -> CacheResult:
        now = self._clock()
        entry = self._read(key, source, decode)
        answer = self._answer_without_request(entry, now, started, max_age, False, False)
        if answer is not None:
            return answer
        error = NetworkError(
            f"another claude-usage process held the cache lock for over {wait:g} s",
            hint="try again; if it persists, delete the cache directory's .lock files",
        )
        return self._result(entry or _Entry(source=source), now, error=error)

    @staticmethod
    def _result(
        entry: _Entry,
        now: float,
        *,
        error: ClaudeUsageError | None = None,
        requested: bool = False,
        current: set[str] | None = None,
    ) -> CacheResult:
        return CacheResult(
            data=entry.data,
            usage=entry.usage,
            fetched_at=entry.fetched_at,
            now=now,
            error=error,
            requested=requested,
            subscription_type=entry.subscription_type,
            rate_limit_tier=entry.rate_limit_tier,
            problems=entry.problems,
            observed=entry.observed,
            current=frozenset(current or ()),
        )

    # -- the directory and its files -------------------------------------------------------

    def _ready_directory(self) -> str | None:
        """The directory, created 0700 and checked to be ours, or ``None`` if it cannot be used."""
        if self._usable is None:
            self._usable = self.directory is not None and _prepare_directory(self.directory)
        return self.directory if self._usable else None

    def _read(self, key: str, source: str, decode: bool) -> _Entry | None:
        directory = self._ready_directory()
        if directory is None:
            return None
        raw = _read_regular(os.path.join(directory, f"{key}.json"), MAX_CACHE_BYTES)
        if raw is None:
            return None
        try:
            return _Entry.from_document(json.loads(raw), source, decode)
        except (ValueError, TypeError, KeyError, RecursionError, ClaudeUsageError):
            return None  # corrupt or foreign: ignored, and replaced by the next write

    def _write(self, key: str, entry: _Entry) -> bool:
        """Replace the cache file atomically; ``False`` (and no exception) when it cannot be done."""
        directory = self._ready_directory()
        if directory is None:
            return False
        payload = json.dumps(entry.to_document(), separators=(",", ":"), allow_nan=False).encode()
        target = os.path.join(directory, f"{key}.json")
        temporary = _private_temporary(directory, key, payload)
        if temporary is None:
            return False
        try:
            _replace(temporary, target)
        except OSError:
            _unlink_quietly(temporary)
            return False
        _fsync_directory(directory)
        return True

    def _lock(self, key: str, wait: float) -> int | object | None:
        """An fd holding the exclusive lock, ``_TIMED_OUT``, or ``None`` when locking is impossible."""
        directory = self._ready_directory()
        try:
            import fcntl  # imported here: a cache hit takes no lock
        except ImportError:  # pragma: no cover - Windows: no cross-process lock, the cache still works
            return None
        if directory is None:
            return None
        try:
            fd = os.open(os.path.join(directory, f"{key}.lock"), os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o600)
        except OSError:
            return None  # e.g. a directory in its place: fetch unguarded rather than fail
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return _TIMED_OUT
                time.sleep(LOCK_POLL_SECONDS)
            except OSError:
                os.close(fd)
                return None


_TIMED_OUT = object()
#: The windows an observation must keep current for ``observed_max_age`` to apply: those with an
#: alias in the windows table (5h, 7d), which are what Claude Code's stdin carries.
_KEPT_CURRENT = frozenset(key for key, _label, alias, _hours in WINDOWS if alias)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _prepare_directory(directory: str) -> bool:
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.stat(directory)
        if not stat.S_ISDIR(info.st_mode):
            return False
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            return False  # another user's directory: neither trust its files nor write there
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            os.chmod(directory, mode & 0o700)  # only ever tightened: a read-only directory stays so
        return os.access(directory, os.W_OK | os.X_OK)
    except OSError:
        return False


def _read_regular(path: str, limit: int, acceptable: Callable[[os.stat_result], bool] | None = None) -> bytes | None:
    """The bytes of the regular file at ``path`` (opened without following a link or blocking on
    a FIFO), when it holds at most ``limit`` and ``acceptable`` takes its stat; else ``None``."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit or (acceptable is not None and not acceptable(info)):
            return None
        return os.read(fd, limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)


def _private_temporary(directory: str, stem: str, payload: bytes) -> str | None:
    """A new file in ``directory``, mode 0600, holding ``payload`` and synced: its path, to be
    renamed or linked into place; ``None`` (and nothing left behind) when it cannot be made."""
    temporary = os.path.join(directory, f".{stem}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        _unlink_quietly(temporary)
        return None
    return temporary


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _replace(temporary: str, target: str) -> None:
    try:
        os.replace(temporary, target)
    except IsADirectoryError:
        # A directory where the cache file belongs (ours: the name is a hash only we use).
        import shutil

        shutil.rmtree(target)
        os.replace(temporary, target)


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | _CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _clock_time(seconds: float) -> str:
    """``09:46:05 UTC``: blocks last at most a day, so the time of day names the moment.

    A clock time rather than a duration: durations for people are the rendering layer's to word.
    """
    return time.strftime("%H:%M:%S UTC", time.gmtime(seconds))


def _blocked_error(entry: _Entry, now: float) -> ClaudeUsageError:
    """The error to report while a recorded block holds every process back."""
    assert entry.blocked_until is not None
    remaining = entry.blocked_until - now
    failure = entry.last_error
    if failure is None or failure.kind == RateLimitedError.kind:
        return RateLimitedError(
            f"rate limited by the server; no request is sent until {_clock_time(entry.blocked_until)}",
            retry_after=remaining,
        )
    return _recreate(failure, f"{failure.message} (recorded at {_clock_time(failure.at)}; next attempt after {_clock_time(entry.blocked_until)})")


def _error_classes() -> dict[str, type[ClaudeUsageError]]:
    classes: dict[str, type[ClaudeUsageError]] = {}
    for name in errors.__all__:
        cls = getattr(errors, name)
        classes.setdefault(cls.kind, cls)
    return classes


def _recreate(failure: _Failure, message: str) -> ClaudeUsageError:
    cls = _error_classes().get(failure.kind, ClaudeUsageError)
    if issubclass(cls, (ServerError, UnexpectedStatusError)):
        return cls(message, status=failure.status or 0)
    return cls(message)
