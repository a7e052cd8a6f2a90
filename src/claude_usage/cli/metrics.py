"""``claude-usage metrics``: the usage as OpenMetrics (or Prometheus text) on stdout or in a file.

The data comes from the shared cache like every other mode; ``--write`` replaces the file
atomically, so node_exporter's textfile collector never reads half of one.
"""

from __future__ import annotations

import os

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli import write
from claude_usage.cli.arguments import UsageError
from claude_usage.errors import EXIT_OK, ClaudeUsageError

if TYPE_CHECKING:
    from claude_usage.profiles import Account
    from claude_usage.cache import CacheResult, CacheState
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments
    from claude_usage.metrics import Collector, UsageCollector


def require_prometheus_client() -> None:
    """A usage error (exit 2) saying how to install the extra, when ``prometheus_client`` is missing."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        from claude_usage.metrics import INSTALL_HINT

        raise UsageError(f"this needs prometheus_client, an optional extra: {INSTALL_HINT}") from None


def metrics(args: Arguments, context: Context) -> int:
    require_prometheus_client()
    accounts = context.accounts(args)
    if accounts is not None and len(accounts) > 1:
        return _metrics_of_accounts(args, context, accounts)
    from claude_usage.metrics import UsageCollector

    account = None if accounts is None else accounts[0]
    with context.client(args.timeout, None if account is None else account.config_dir) as client:
        result = client.get_result(max_age=args.max_age)
        state = client.cache_state()
    _publish(args, context, UsageCollector(result, state, now=result.now, account=single_account_label(args, accounts)))
    if result.data is None:
        # The exposition says so too (up 0 and the error's kind), but a cron job's status should.
        assert result.error is not None
        raise result.error
    context.warn_of_problems(result)
    context.warn_if_stale(result)
    return EXIT_OK


def _metrics_of_accounts(args: Arguments, context: Context, accounts: list[Account]) -> int:
    """Every account's series in one exposition, each with ``account`` = its label; an account
    without data is up 0 there. The exposition is written whole either way; the exit status is
    then that of the first account without data (0 when every one had some)."""
    refuse_account_label(args, accounts)
    from claude_usage.cli.fanout import each_account
    from claude_usage.metrics import AccountsCollector

    def read(account: Account) -> tuple[CacheResult, CacheState | None]:
        with context.client(args.timeout, account.config_dir) as client:
            return client.get_result(max_age=args.max_age), client.cache_state()

    answers = each_account(accounts, read, args.timeout)
    now = context.now()
    _publish(args, context, AccountsCollector([account_collector(account, answer, now) for account, answer in answers]))
    status = EXIT_OK
    for account, answer in answers:
        failure = answer if isinstance(answer, ClaudeUsageError) else answer[0].error if answer[0].data is None else None
        if failure is not None:
            context.warn_of_failure(failure, account.label)
            status = status or failure.exit_code
        elif not isinstance(answer, ClaudeUsageError):
            context.warn_of_problems(answer[0], account.label)
            context.warn_if_stale(answer[0], account.label)
    return status


def refuse_account_label(args: Arguments, accounts: list[Account] | None) -> None:
    """A usage error for ``--account-label`` with several accounts: one name for all of them
    would make their series collide."""
    if args.account_label is not None and accounts is not None and len(accounts) > 1:
        raise UsageError("--account-label names a single account; with several, each series has account=<its label> (see --label-email)")


def single_account_label(args: Arguments, accounts: list[Account] | None) -> str | None:
    """The ``account`` label of the one account shown: ``--account-label``, else the label of
    the account ``--config-dir`` names, else none (this environment's login, as always)."""
    if args.account_label is not None or not accounts:
        return args.account_label
    return accounts[0].label


def account_collector(
    account: Account, answer: tuple[CacheResult, CacheState | None] | ClaudeUsageError | None, now: float
) -> UsageCollector:
    """The collector of one of several accounts at ``now``, labelled with its label: its result
    and cache state, or the error that left it without any (up 0 and the kind), or ``None``
    for nothing read yet (up 0 alone)."""
    from claude_usage.cache import CacheResult
    from claude_usage.metrics import UsageCollector

    if isinstance(answer, ClaudeUsageError):
        answer = CacheResult(None, None, now, error=answer), None
    result, state = (None, None) if answer is None else answer
    return UsageCollector(result, state, now=now, account=account.label)


def _publish(args: Arguments, context: Context, collector: Collector) -> None:
    """The exposition on stdout, or into the ``--write`` file."""
    from claude_usage.metrics import exposition

    body = exposition(collector, openmetrics=not args.prometheus)
    if args.write is None:
        write(context.out, body.decode())
    else:
        replace_file(args.write, body)


def replace_file(path: str, body: bytes) -> None:
    """Write ``path`` through a temporary file in its directory and an atomic rename.

    The temporary name ends in ``.tmp``: the textfile collector reads only ``*.prom``. Mode 0644,
    since node_exporter usually runs as another user; the file holds no secret.
    """
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise UsageError(f"cannot write {path}: {error.strerror}") from None

