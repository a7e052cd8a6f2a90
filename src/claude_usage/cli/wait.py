"""``claude-usage wait --max WINDOW=PERCENT``: block until every window is at or under its limit.

One account waits on the library's :meth:`~claude_usage.client.UsageClient.wait_until_under`;
several wait together, until every one is under with fresh data, on the same schedule.
"""

from __future__ import annotations

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli import render
from claude_usage.cli.arguments import PROG
from claude_usage.cli.check import over_line
from claude_usage.errors import EXIT_OK, ClaudeUsageError

if TYPE_CHECKING:
    from claude_usage.profiles import Account
    from claude_usage.cache import CacheResult
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments
    from claude_usage.windows import Verdict


def wait(args: Arguments, context: Context) -> int:
    accounts = context.accounts(args)
    if accounts is not None and len(accounts) > 1:
        return _wait_accounts(args, context, accounts)

    def progress(over: list[Verdict], seconds: float) -> None:
        _progress(context, [("", over)], seconds)

    # Progress is for a person watching; a script or a log gets only the outcome.
    on_wait = progress if render.isatty(context.err) else None
    with context.client(config_dir=None if accounts is None else accounts[0].config_dir) as client:
        client.wait_until_under(args.max, timeout=args.timeout, max_age=args.max_age, on_wait=on_wait)
    return EXIT_OK


class _Pending:
    """One account still waited for: its windows over, or its data stale (never judged "under")."""

    __slots__ = ("account", "over", "result")

    def __init__(self, account: Account, over: list[Verdict], result: CacheResult) -> None:
        self.account = account
        self.over = over
        self.result = result

    def why(self) -> str:
        if self.over:
            from claude_usage.windows import over_text

            return f"{self.account.label} still over: {over_text(self.over)}"
        return f"{self.account.label} has no fresh data: {self.result.error.message if self.result.error else ''}"


def _wait_accounts(args: Arguments, context: Context, accounts: list[Account]) -> int:
    """:meth:`UsageClient.wait_until_under` for a set of accounts: each round reads every account
    through its cache, and sleeps until the earliest reset among those over (never less than the
    max age). An account without data to judge ends the wait with its error."""
    from contextlib import ExitStack

    from claude_usage.cache import DEFAULT_MAX_AGE
    from claude_usage.cli.fanout import each_account
    from claude_usage.errors import WaitTimeoutError
    from claude_usage.windows import evaluate, next_check

    interval = DEFAULT_MAX_AGE if args.max_age is None else args.max_age
    deadline = None if args.timeout is None else context.now() + args.timeout
    with ExitStack() as stack:
        clients = {account.config_dir: stack.enter_context(context.client(config_dir=account.config_dir)) for account in accounts}

        def judge(account: Account) -> _Pending | None:
            result = clients[account.config_dir].get_result(max_age=interval)
            over = [verdict for verdict in evaluate(result.usage_or_raise(), args.max) if verdict.over]
            # As for one account: stale data may say "under" about a window that has filled since.
            return _Pending(account, over, result) if over or result.stale else None

        while True:
            answers = each_account(accounts, judge)
            for account, answer in answers:
                if isinstance(answer, ClaudeUsageError):
                    context.warn_of_failure(answer, account.label)
                    return answer.exit_code
            pending = [answer for _, answer in answers if answer is not None and not isinstance(answer, ClaudeUsageError)]
            if not pending:
                return EXIT_OK
            now = context.now()
            pause = next_check([verdict for waiting in pending for verdict in waiting.over], now, interval)
            if deadline is not None and now + pause > deadline:
                if deadline > now:
                    context.sleep(deadline - now)
                raise WaitTimeoutError(f"timed out after {args.timeout:g} s; " + "; ".join(waiting.why() for waiting in pending))
            if render.isatty(context.err):
                _progress(context, [(waiting.account.label, waiting.over) for waiting in pending], pause)
            context.sleep(pause)


def _progress(context: Context, over: list[tuple[str, list[Verdict]]], seconds: float) -> None:
    """What is over (per account, when labelled) and how long the wait sleeps, for a person watching."""
    now = context.now()
    for account, verdicts in over:
        of = f"{account}: " if account else ""
        for verdict in verdicts:
            context.err.write(f"{PROG}: {of}{over_line(verdict, now)}\n")
    context.err.write(f"{PROG}: waiting {render.human_duration(seconds)} before checking again\n")
    context.err.flush()
