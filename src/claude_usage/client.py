"""``get_usage()`` and ``UsageClient``: one authenticated GET, mapped to typed data or errors."""

from __future__ import annotations

import json
import os
import time

from claude_usage import __version__
from claude_usage._endpoint import DEFAULT_API_URL, resolve_api_url
from claude_usage._typing import TYPE_CHECKING
from claude_usage.credentials import TOKEN_VARIABLE, CredentialSource, locate_credentials, open_credentials
from claude_usage.errors import (
    ConfigurationError,
    ForbiddenError,
    InsufficientScopeError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    UnexpectedStatusError,
    WaitTimeoutError,
    redact_secrets,
)
from claude_usage.windows import RESET_MARGIN_SECONDS

# Import-light (models, typing and the HTTP stack load on use): the command's cache hit goes
# through UsageClient, and each of those costs more than the rest of its work.
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from types import TracebackType
    from typing import Any

    from claude_usage._http import Reply, Transport
    from claude_usage._native import CredentialInfo, NativeCredential
    from claude_usage.cache import CacheResult, CacheState, Fetched, Observation, UsageCache
    from claude_usage.history import HistoryStore
    from claude_usage.models import UsageData
    from claude_usage.windows import Verdict

__all__ = ["DEFAULT_API_URL", "UsageClient", "get_usage"]  # DEFAULT_API_URL: re-exported

DEFAULT_USER_AGENT = f"claude-usage-python/{__version__}"
DEFAULT_TIMEOUT = 10.0
#: Past the request timeout: how long a call may wait for another process's fetch of the same entry.
LOCK_GRACE_SECONDS = 5.0


class UsageClient:
    """Holds a configured HTTP session for repeated calls; use it as a context manager.

    ``strict=True`` makes :meth:`get_usage` raise ``ParseError`` for data with a problem (see
    :attr:`UsageData.problems`) instead of returning what could be read. ``harden=True`` calls
    :func:`claude_usage.harden_process` (with this client's environment) right before the first
    credential read; the command sets it, and the library never hardens its host on its own.
    ``history=True`` records every answer this client gets from the server in the local history
    (:mod:`claude_usage.history`; off when ``CLAUDE_USAGE_HISTORY=0``), closed with the client; or
    pass a ``HistoryStore``, or a function making one (called at the first answer; ``None``: do
    not record), which stays yours to close. The command records, the library only when asked.
    Recording never fails a call.

    ``config_dir`` names the account: the login Claude Code keeps for that config directory
    (as with ``CLAUDE_CONFIG_DIR``; ``~/.claude`` is the default profile), whatever the
    environment's ``CLAUDE_CODE_OAUTH_TOKEN`` or ``CLAUDE_CONFIG_DIR`` say. Each account has its
    own cache entry, backoff and history (see :mod:`claude_usage.profiles`).
    """

    def __init__(
        self,
        api_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        user_agent: str | None = None,
        verify: bool | str | os.PathLike[str] = True,
        *,
        keychain: str | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        cache: UsageCache | bool | None = None,
        strict: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        harden: bool = False,
        history: HistoryStore | bool | Callable[[], HistoryStore | None] = False,
        config_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self.config_dir: str | None = None
        if config_dir is not None:
            from claude_usage.profiles import account_environ, configured_dirs

            named = configured_dirs([os.fspath(config_dir)], self._environ)
            if not named:
                raise ConfigurationError("config_dir is empty")
            self.config_dir = named[0]
            self._environ = account_environ(self._environ, self.config_dir)
        self.api_url = resolve_api_url(api_url, self._environ)
        # Comparisons, not math.isfinite: NaN fails them too, and math is one import less on a cache hit.
        if not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
            raise ConfigurationError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.timeout = float(timeout)
        if verify is False:
            raise ConfigurationError("TLS verification cannot be turned off; pass a CA bundle as verify=")
        self.user_agent = user_agent or DEFAULT_USER_AGENT
        self._verify = verify
        self._keychain = keychain
        self._clock = clock
        self.strict = strict
        self._sleep = sleep
        self._harden = harden
        self._transport: Transport | None = None
        self.credential_info: CredentialInfo | None = None
        """What the last credentials read said about the plan (no secrets)."""
        self._cache = _resolve_cache(cache, self._environ, clock)
        self.cache_result: CacheResult | None = None
        """How the last cached call was answered (age, stale, the error behind stale data)."""
        self._history: HistoryStore | bool | Callable[[], HistoryStore | None] = history
        self._owned_history: HistoryStore | None = None  # made here from history=True: closed here
        self.on_history_warning: Callable[[str], None] | None = None
        """Called with the one warning of a corrupt history file moved aside (default: ``warnings.warn``)."""

    def credential_source(self) -> CredentialSource:
        """Where the next call will read the login from (reads nothing)."""
        return locate_credentials(environ=self._environ, keychain=self._keychain)

    def read_login(self) -> CredentialInfo:
        """Read the login as a request would (checking expiry and scope), and say what it holds
        about itself: expiry, scopes, plan; never the token. Sends nothing."""
        with self._open_credentials(self.credential_source()) as credential:
            self.credential_info = info = credential.info
        return info

    def cache_state(self) -> CacheState | None:
        """What the shared cache holds for this client's login and URL (``None`` without a cache)."""
        if self._cache is None:
            return None
        from claude_usage.cache import CacheState, cache_key

        account = self.account_key()
        if account is None:
            return CacheState(None, False, None)
        return self._cache.state(cache_key(account, self.api_url), account)

    def trust_store(self) -> str:
        """The CA file or directory requests are verified with, after loading it (a
        ``ConfigurationError`` says why it cannot be)."""
        from claude_usage._http import build_ssl_context, trust_store

        build_ssl_context(self._verify, self._environ)
        return trust_store(self._verify, self._environ)

    def get_usage(self, *, max_age: float | None = None) -> UsageData:
        """Read the login, send one request, and return the parsed usage.

        With a cache, data younger than ``max_age`` seconds (default 180) is returned without a
        request, and while the cache records a rate-limit block older data is returned instead
        (``cache_result.stale``); see :mod:`claude_usage.cache`.
        """
        if self._cache is None:
            if max_age is not None:
                raise ConfigurationError("max_age needs a cache: pass cache=True to UsageClient")
            return self._checked(self._fetch().usage)
        return self._checked(self.get_result(max_age=max_age).usage_or_raise())

    def get_result(
        self,
        *,
        max_age: float | None = None,
        force: bool = False,
        ignore_block: bool = False,
        decode: bool = True,
        observation: Observation | None = None,
        observed_max_age: float | None = None,
    ) -> CacheResult:
        """Usage through the cache, as a :class:`~claude_usage.cache.CacheResult` (never raises a
        request's error: it is ``result.error``, beside older data when there is some).

        ``force`` sends a request even when the cache is fresh, but not during a recorded
        rate-limit block unless ``ignore_block`` (use sparingly: it spends the shared budget).
        ``decode=False`` leaves cached data in its ``to_dict()`` form (``result.data``) until
        ``result.usage`` is read, so a caller that only prints JSON never loads the models.
        Without a cache (``cache=None``), every call sends a request.
        ``observation`` (e.g. Claude Code's status-line numbers) is bridged into the cache first
        and shown; while it keeps the 5-hour and 7-day windows current, the rest is served while
        younger than ``observed_max_age`` (see :meth:`UsageCache.get`).
        """
        from claude_usage.cache import DEFAULT_MAX_AGE, UsageCache, cache_key

        account = self.account_key()
        cache = self._cache if self._cache is not None and account is not None else UsageCache(None, clock=self._clock)
        account = account or ""
        self.cache_result = cache.get(
            cache_key(account, self.api_url),
            account,
            self._fetch,
            max_age=DEFAULT_MAX_AGE if max_age is None else max_age,
            force=force,
            ignore_block=ignore_block,
            wait=self.timeout + LOCK_GRACE_SECONDS,
            decode=decode,
            observation=observation,
            observed_max_age=observed_max_age,
        )
        return self.cache_result

    def observe(self, observation: Observation) -> set[str]:
        """Feed usage numbers seen elsewhere (e.g. ``Observation.from_rate_limits`` of Claude
        Code's status-line stdin) to the shared cache, so that every reader of this login sees
        them without a request. Reads no credential and sends nothing; returns the keys of the
        windows the cache now holds the observation's numbers for (none without a cache, or
        before the first request has filled it). See :meth:`UsageCache.observe`.
        """
        account = None if self._cache is None else self.account_key()
        if self._cache is None or account is None:
            return set()
        from claude_usage.cache import cache_key

        return self._cache.observe(cache_key(account, self.api_url), account, observation)

    def account_key(self) -> str | None:
        """The key this client's account is cached and recorded under: the login's location, or
        for a token in ``CLAUDE_CODE_OAUTH_TOKEN`` an HMAC of it under a per-user random key
        (:func:`claude_usage.cache.token_account_key`), so different tokens never share data.
        Never the token, nor anything it can be recovered from. ``None``: a token, and no
        usable cache directory to keep the key in (nothing is cached or recorded then)."""
        source = self.credential_source()
        if source.kind != "environment":
            return source.key
        from claude_usage.cache import default_cache_dir, token_account_key

        directory = default_cache_dir(self._environ) if self._cache is None else self._cache.directory
        return token_account_key(self._environ.get(TOKEN_VARIABLE, ""), directory)

    def _checked(self, usage: UsageData) -> UsageData:
        # Checked after a tolerant parse rather than by parsing strictly: the cache, shared with
        # tolerant processes, then keeps what the server sent either way.
        if self.strict and usage.problems:
            from claude_usage.models import parse_error

            raise parse_error(usage.problems[0])
        return usage

    def wait_until_under(
        self,
        maxima: Iterable[tuple[str, float]],
        *,
        timeout: float | None = None,
        max_age: float | None = None,
        margin: float = RESET_MARGIN_SECONDS,
        on_wait: Callable[[list[Verdict], float], None] | None = None,
    ) -> CacheResult:
        """Block until every ``(window, percent)`` holds (see :func:`claude_usage.windows.evaluate`).

        While a window is over, it sleeps until the earliest such window resets plus ``margin``
        seconds (usage only drops at a reset), and never re-checks sooner than ``max_age``
        (default 180): every check goes through the cache, so waiting costs the rate budget no
        more than one status line does. ``on_wait(over, seconds)`` is called before each sleep.
        Stale data never ends a wait. Raises :class:`WaitTimeoutError` once ``timeout`` seconds
        have passed, and the error of a failed request when there is no data to judge.
        """
        from claude_usage.cache import DEFAULT_MAX_AGE
        from claude_usage.windows import evaluate, next_check, over_text

        conditions = list(maxima)
        interval = DEFAULT_MAX_AGE if max_age is None else max_age
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            result = self.get_result(max_age=interval)
            over = [verdict for verdict in evaluate(result.usage_or_raise(), conditions) if verdict.over]
            # Stale data (a request failed, or a block holds them back) may say "under" about a
            # window that has filled since: only fresh data ends a wait.
            if not over and not result.stale:
                return result
            now = self._clock()
            pause = next_check(over, now, interval, margin)
            if deadline is not None and now + pause > deadline:
                if deadline > now:
                    self._sleep(deadline - now)
                why = f"still over: {over_text(over)}" if over else f"no fresh data: {result.error.message if result.error else ''}"
                raise WaitTimeoutError(f"timed out after {timeout:g} s; {why}")
            if on_wait is not None:
                on_wait(over, pause)
            self._sleep(pause)

    def _fetch(self) -> Fetched:
        from claude_usage.cache import Fetched

        source = self.credential_source()
        transport = self._get_transport()
        with self._open_credentials(source) as credential:
            self.credential_info = info = credential.info
            reply = transport.fetch(self.api_url, credential, self.timeout)
        usage = interpret_reply(reply, source, now=self._clock())
        if self._history is not False:
            self._record(usage, source)
        return Fetched(usage, info.subscription_type, info.rate_limit_tier)

    def _record(self, usage: UsageData, source: CredentialSource) -> None:
        """The answer into the history, in this process (the one that got it); never raises."""
        from claude_usage.history import HistoryStore, recording_enabled

        if self._history is True:
            if not recording_enabled(self._environ):
                self._history = False
                return
            self._history = self._owned_history = HistoryStore.from_environment(self._environ, warn=self._history_warning)
        elif not isinstance(self._history, (bool, HistoryStore)):
            self._history = self._history() or False
        if isinstance(self._history, HistoryStore):
            account = self.account_key()
            if account is not None:
                self._history.record_usage(usage, account=account, observed_at=self._clock())

    def _history_warning(self, message: str) -> None:
        if self.on_history_warning is not None:
            self.on_history_warning(message)
        else:
            import warnings

            warnings.warn(message, RuntimeWarning, stacklevel=2)

    def _open_credentials(self, source: CredentialSource) -> NativeCredential:
        if self._harden:
            from claude_usage.hardening import harden_process

            harden_process(self._environ)
            self._harden = False  # it lasts for the process
        return open_credentials(source, environ=self._environ, clock=self._clock)

    def _get_transport(self) -> Transport:
        if self._transport is None:
            from claude_usage._http import Transport

            self._transport = Transport(verify=self._verify, user_agent=self.user_agent, environ=self._environ)
        return self._transport

    def close(self) -> None:
        """Close the HTTP session's connections."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._owned_history is not None:
            self._owned_history.close()

    def __enter__(self) -> UsageClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        account = "" if self.config_dir is None else f", config_dir={self.config_dir!r}"
        return f"UsageClient(api_url={self.api_url!r}, timeout={self.timeout!r}{account})"


def get_usage(*, max_age: float | None = None, **options: Any) -> UsageData:
    """Fetch usage once with a short-lived :class:`UsageClient` (same keyword arguments).

    ``max_age`` turns on the shared cache (``cache=True``) unless ``cache=`` says otherwise.
    """
    if max_age is not None:
        options.setdefault("cache", True)
    with UsageClient(**options) as client:
        return client.get_usage(max_age=max_age)


def _resolve_cache(cache: UsageCache | bool | None, environ: Mapping[str, str], clock: Callable[[], float]) -> UsageCache | None:
    if cache is None or cache is False:
        return None
    if cache is True:
        from claude_usage.cache import UsageCache

        return UsageCache.from_environment(environ, clock=clock)
    return cache


def interpret_reply(reply: Reply, source: CredentialSource, *, now: float) -> UsageData:
    """Map a reply to ``UsageData`` or the error its status means."""
    status = reply.status
    if status == 200:
        from claude_usage.models import UsageData

        return UsageData.from_json(reply.body)
    detail = _server_message(reply.body)
    said = f": {detail}" if detail else ""
    if status == 401:
        raise UnauthorizedError(f"the token was refused (401){said}")
    if status == 403:
        if _is_scope_error(reply.body):
            hint = None
            if source.kind == "environment":
                hint = (
                    "CLAUDE_CODE_OAUTH_TOKEN holds an inference-only token (from `claude setup-token`); "
                    "unset it and run `claude` to log in"
                )
            raise InsufficientScopeError(f"the token lacks the user:profile scope (403){said}", hint=hint)
        raise ForbiddenError(f"access to usage was refused (403){said}")
    if status == 429:
        retry_after = parse_retry_after(reply.retry_after, now=now)
        wait = "" if retry_after is None else f"; retry after {retry_after:g} s"
        raise RateLimitedError(f"rate limited (429){wait}", retry_after=retry_after)
    if 500 <= status <= 599:
        raise ServerError(f"the server failed ({status}){said}", status=status)
    if 300 <= status <= 399:
        raise UnexpectedStatusError(f"the server redirected ({status}); redirects are not followed", status=status)
    raise UnexpectedStatusError(f"unexpected status {status}{said}", status=status)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """``Retry-After`` as seconds from delta-seconds or an HTTP-date; garbage gives ``None``."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils
    from datetime import timezone

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def _error_object(body: bytes) -> Mapping[str, Any] | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    error = document.get("error") if isinstance(document, dict) else None
    return error if isinstance(error, dict) else None


def _server_message(body: bytes) -> str:
    """The server's own error message, shortened; never the raw body."""
    error = _error_object(body)
    message = error.get("message") if error else None
    if not isinstance(message, str):
        return ""
    # A server (or a proxy in between) that echoed the request would otherwise put a token
    # into our error text, and from there into stderr and the cache.
    message = redact_secrets(" ".join(message.split()))
    return message if len(message) <= 200 else message[:197] + "..."


def _is_scope_error(body: bytes) -> bool:
    error = _error_object(body)
    if error is None or error.get("type") != "permission_error":
        return False
    message = error.get("message")
    return isinstance(message, str) and "scope" in message.lower()
