"""The ``claude-usage`` command: entry point, and what every subcommand shares.

Each subcommand is a module here (``show`` is the default view, then ``check``, ``wait``), imported
only when it runs; the argument table is :mod:`.arguments`, the presentation :mod:`.render`. All
of them get their data through the public :class:`~claude_usage.client.UsageClient` API.

A cache hit, ``--help`` and ``--version`` import neither the HTTP stack nor the native module,
and the ``--json`` cache hit not even the models: a status line that runs every few seconds
costs little more than starting Python. For the same reason nothing here imports argparse,
dataclasses or typing at run time (each costs a cache hit more than all the rest of its work).
"""

from __future__ import annotations

import os
import sys
import time

from claude_usage import __version__
from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli.arguments import PROG, Exit, UsageError, parse
from claude_usage.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, ClaudeUsageError, ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import TextIO

    from claude_usage.profiles import Account
    from claude_usage.cache import CacheResult
    from claude_usage.cli.arguments import Arguments
    from claude_usage.cli.stdin import Session
    from claude_usage.client import UsageClient
    from claude_usage.history import HistoryStore

__all__ = ["Context", "__version__", "exit_code", "main", "run"]

#: Test-only: a fixed "now" (epoch seconds) for the cache and the view, so tests can move time;
#: a wait's sleeps move it on instead of sleeping.
TEST_NOW_VARIABLE = "CLAUDE_USAGE_TEST_NOW"


def run() -> None:
    """The ``claude-usage`` entry point: :func:`main`, then exit without interpreter teardown.

    Freeing every module and object at exit costs a cold run tens of milliseconds (a sixth of
    it on the benchmark machine), and nothing is left to clean up once ``main`` returns: the
    output is flushed, cache files are renamed into place or removed, the credential is wiped
    and freed. An exception escaping ``main`` still exits the ordinary way, with its traceback.
    """
    status = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said
            pass
    os._exit(status)


class Context:
    """What a subcommand runs with: environment, streams, and the clock (real, or the tests')."""

    __slots__ = ("environ", "out", "err", "stdin", "_fixed", "_slept")

    def __init__(self, environ: Mapping[str, str], out: TextIO, err: TextIO, stdin: int | None = None) -> None:
        self.environ = environ
        self.out = out
        self.err = err
        self.stdin = stdin  # a descriptor, or None: there is no stdin to read
        self._fixed: float | None = None
        self._slept = 0.0
        fixed = environ.get(TEST_NOW_VARIABLE)
        if fixed:
            try:
                self._fixed = float(fixed)
            except ValueError:
                raise ConfigurationError(f"{TEST_NOW_VARIABLE} must be epoch seconds (it is for tests only)") from None

    def now(self) -> float:
        return time.time() if self._fixed is None else self._fixed + self._slept

    def sleep(self, seconds: float) -> None:
        if self._fixed is None:
            time.sleep(seconds)
        else:
            self._slept += seconds

    def session(self) -> Session | None:
        """What Claude Code wrote to stdin, when it is not a terminal (bounded; see :mod:`.stdin`)."""
        if self.stdin is None:
            return None
        import stat

        try:
            mode = os.fstat(self.stdin).st_mode
        except OSError:  # no stdin at all
            return None
        # Claude Code's is a pipe or a socket (a file, for `< session.json`). A device, which is
        # what a terminal, /dev/null (cron, tmux) or /dev/zero is, is never read: the reader is
        # not even imported.
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISDIR(mode):
            return None
        from claude_usage.cli.stdin import read_session

        return read_session(self.stdin, self.now())

    def accounts(self, args: Arguments) -> list[Account] | None:
        """The accounts ``--config-dir`` or ``CLAUDE_USAGE_ACCOUNTS`` name, labelled; ``None``
        when neither names one: the command then shows this environment's login, as always."""
        if not (args.config_dir or self.environ.get("CLAUDE_USAGE_ACCOUNTS")):
            return None  # the usual case, decided without loading claude_usage.profiles
        from claude_usage.profiles import accounts, configured_dirs

        named = configured_dirs(args.config_dir, self.environ)
        return accounts(named, environ=self.environ, emails=args.label_email != "never") if named else None

    def own_account(self, accounts: list[Account]) -> Account | None:
        """The one of ``accounts`` whose login this environment uses: the one Claude Code's
        stdin describes, when it runs the command (``None``: none of them)."""
        from claude_usage.credentials import locate_credentials

        try:
            own = locate_credentials(environ=self.environ)
        except ClaudeUsageError:
            return None
        return next((account for account in accounts if account.source == own), None)

    def client(self, timeout: float | None = None, config_dir: str | None = None) -> UsageClient:
        """A client on the shared cache, with this context's environment and clock (for the
        account of ``config_dir``, when given)."""
        from claude_usage.cache import UsageCache
        from claude_usage.client import DEFAULT_TIMEOUT, UsageClient

        cache = UsageCache.from_environment(self.environ, clock=self.now)
        return UsageClient(
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            environ=self.environ,
            clock=self.now,
            sleep=self.sleep,
            cache=cache,
            harden=True,  # before any credential is read; a cache hit reads none and loads nothing
            history=self.history_store,  # made at the first answer: a cache hit loads none of it
            config_dir=config_dir,
        )

    def history_store(self) -> HistoryStore | None:
        """The store a request's answer is recorded in (``None`` with ``CLAUDE_USAGE_HISTORY=0``).

        Never closed: closing the last connection checkpoints the WAL, which costs a run
        milliseconds, and the process ends right after (committed rows are in the WAL, and
        SQLite's autocheckpoint folds them in)."""
        from claude_usage.history import HistoryStore, recording_enabled

        return HistoryStore.from_environment(self.environ, warn=self.warn) if recording_enabled(self.environ) else None

    def warn(self, message: str) -> None:
        self.err.write(f"{PROG}: {message}\n")

    def usable(self, result: CacheResult, strict: bool) -> CacheResult:
        """``result`` when it has data to show (stale data, or data with problems, unless
        ``strict``), else its error raised: the request's, or the ParseError of the first problem."""
        failure = self.failure(result, strict)
        if failure is not None:
            raise failure
        return result

    @staticmethod
    def failure(result: CacheResult, strict: bool) -> ClaudeUsageError | None:
        """Why ``result`` cannot be shown (see :meth:`usable`), or ``None``."""
        if result.error is not None and (result.data is None or strict):
            return result.error
        if strict and result.problems:
            from claude_usage.models import parse_error  # only here: the cache hit never loads the models

            return parse_error(result.problems[0])
        return None

    def warn_of_problems(self, result: CacheResult, account: str = "") -> None:
        """One stderr line per part of the body left out; on stderr so a status line stays one line."""
        of = f"{account}: " if account else ""
        for line in result.problems:
            self.err.write(f"{PROG}: {of}not understood, left out: {line}\n")

    def warn_if_stale(self, result: CacheResult, account: str = "") -> None:
        if result.error is not None:
            from claude_usage.cli.render import error_line, human_age

            of = f"{account}: " if account else ""
            self.err.write(f"{PROG}: {of}showing data from {human_age(result.age_seconds)} ago: {error_line(result.error)}\n")

    def warn_of_failure(self, error: ClaudeUsageError, account: str) -> None:
        """The error of one of several accounts, after its label: the others are still shown."""
        from claude_usage.cli.render import error_line

        self.err.write(f"{PROG}: {account}: {error_line(error)}\n")


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: int | None = None,
) -> int:
    """Run the command; return its exit status. ``stdin``: the descriptor Claude Code's session
    JSON may come on (default: ``sys.stdin``'s, when it has one)."""
    env = os.environ if environ is None else environ
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    try:
        args = parse(sys.argv[1:] if argv is None else argv, out)
    except Exit as finished:
        return finished.status
    except UsageError as problem:
        err.write(f"{problem.usage}{PROG}: error: {problem}\n")
        return EXIT_USAGE
    try:
        context = Context(env, out, err, _stdin_descriptor() if stdin is None else stdin)
        return _command(args.command)(args, context)
    except UsageError as problem:
        err.write(f"{PROG}: {problem}\n")
        return EXIT_USAGE
    except ClaudeUsageError as error:
        from claude_usage.cli.render import report_error

        return report_error(error, getattr(args, "json", False), out, err)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `claude-usage | head -1`
        return EXIT_OK


def _stdin_descriptor() -> int | None:
    try:
        return sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):  # None, closed, or a replacement without a descriptor
        return None


def _command(name: str) -> Callable[[Arguments, Context], int]:
    if name == "check":
        from claude_usage.cli.check import check as command
    elif name == "wait":
        from claude_usage.cli.wait import wait as command
    elif name == "watch":
        from claude_usage.cli.watch import watch as command
    elif name == "doctor":
        from claude_usage.cli.doctor import doctor as command
    elif name == "metrics":
        from claude_usage.cli.metrics import metrics as command
    elif name == "serve":
        from claude_usage.cli.serve import serve as command
    elif name == "history":
        from claude_usage.cli.history import history as command
    elif name == "accounts":
        from claude_usage.cli.accounts import list_accounts as command
    else:
        from claude_usage.cli.show import show as command
    return command


def write(out: TextIO, text: str) -> None:
    """``text`` to ``out``, flushed; characters its encoding cannot show are replaced."""
    try:
        out.write(text)
    except UnicodeEncodeError:
        # A server-supplied name the output encoding cannot show must not fail the command.
        encoding = getattr(out, "encoding", None) or "ascii"
        out.write(text.encode(encoding, "replace").decode(encoding))
    out.flush()


def iso_utc(seconds: float) -> str:
    """``datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")``, without
    importing datetime (the ``--json`` cache hit needs nothing else from it)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(seconds))


def exit_code(error: ClaudeUsageError) -> int:
    """The documented exit status for ``error`` (its class's, or its nearest parent's)."""
    return error.exit_code
