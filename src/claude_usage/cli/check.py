"""``claude-usage check --max WINDOW=PERCENT``: a gate for scripts and agents (exit 0, or 20 when over).

With several accounts every one is judged (concurrently, within one deadline): the gate is shut
when any account is over, and an account without data never hides the others' verdicts.
"""

from __future__ import annotations

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli import render, write, iso_utc
from claude_usage.cli.arguments import PROG
from claude_usage.errors import EXIT_OK, EXIT_OVER_LIMIT, ClaudeUsageError
from claude_usage.windows import not_understood

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from claude_usage.profiles import Account
    from claude_usage.cache import CacheResult
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments
    from claude_usage.windows import Verdict


class Judged:
    """One account's data and its verdicts; ``failed`` when over (or, with ``--strict``, unreported)."""

    __slots__ = ("result", "verdicts", "failed")

    def __init__(self, result: CacheResult, verdicts: list[Verdict], strict: bool) -> None:
        self.result = result
        self.verdicts = verdicts
        unreported = any(verdict.utilization is None for verdict in verdicts)
        self.failed = any(verdict.over for verdict in verdicts) or (strict and unreported)


def check(args: Arguments, context: Context) -> int:
    accounts = context.accounts(args)
    if accounts is not None and len(accounts) > 1:
        return _check_accounts(args, context, accounts)
    judged = _judge(args, context, None if accounts is None else accounts[0])
    if args.json:
        import json

        write(context.out, json.dumps(_document(judged)) + "\n")
    _report(context, judged)
    return EXIT_OVER_LIMIT if judged.failed else EXIT_OK


def _check_accounts(args: Arguments, context: Context, accounts: list[Account]) -> int:
    """Every account judged; exit 20 when any is over, else the first failed account's status."""
    from claude_usage.cli.fanout import accounts_document, each_account

    answers = each_account(accounts, lambda account: _judge(args, context, account), args.timeout)
    over = any(not isinstance(answer, ClaudeUsageError) and answer.failed for _, answer in answers)
    errors = [answer for _, answer in answers if isinstance(answer, ClaudeUsageError)]
    if args.json:
        import json

        # The per-account "ok"s are each account's; the top-level one is the gate's.
        document = json.loads(accounts_document(answers, _document))
        write(context.out, json.dumps({"ok": not (over or errors), **document}) + "\n")
    for account, answer in answers:
        if isinstance(answer, ClaudeUsageError):
            context.warn_of_failure(answer, account.label)
        else:
            _report(context, answer, account.label)
    if over:
        return EXIT_OVER_LIMIT
    return errors[0].exit_code if errors else EXIT_OK


def _judge(args: Arguments, context: Context, account: Account | None) -> Judged:
    """The account's data (this environment's login without one), judged; raises when there is
    none to judge (or, with ``--strict``, when it is stale or has problems)."""
    from claude_usage.windows import evaluate

    with context.client(args.timeout, None if account is None else account.config_dir) as client:
        result = client.get_result(max_age=args.max_age, force=args.no_cache)
    usage = context.usable(result, args.strict).usage_or_raise()
    return Judged(result, evaluate(usage, args.max), args.strict)


def _document(judged: Judged) -> dict[str, Any]:
    result = judged.result
    return {
        "ok": not judged.failed,
        "windows": [_describe(verdict) for verdict in judged.verdicts],
        "fetched_at": None if result.fetched_at is None else iso_utc(result.fetched_at),
        "age_seconds": round(result.age_seconds or 0.0),
        "stale": result.stale,
        "problems": list(result.problems),  # why a window is "reported": false though it was sent
    }


def _report(context: Context, judged: Judged, account: str = "") -> None:
    """What is over or unreported, then what was left out and how old the data is, on stderr."""
    of = f"{account}: " if account else ""
    result = judged.result
    for verdict in judged.verdicts:
        line = over_line(verdict, result.now, result.problems)
        if line:
            context.err.write(f"{PROG}: {of}{line}\n")
    context.warn_of_problems(result, account)
    context.warn_if_stale(result, account)


def over_line(verdict: Verdict, now: float, problems: Sequence[str] = ()) -> str:
    """What to say of ``verdict``: over by how much and when it resets, or not reported (or sent
    but not understood, a line of ``problems``); "" when under."""
    name = f"{render.printable(verdict.label)} ({render.printable(verdict.name)})"
    if verdict.utilization is None:
        if not_understood(problems, verdict.key):
            return f"{name}: sent by the server but not understood, so neither over nor under"
        return f"{name}: not reported by the server, so neither over nor under"
    if not verdict.over:
        return ""
    by = verdict.utilization - verdict.maximum
    line = f"{name} is at {verdict.utilization:g}%, over its limit of {verdict.maximum:g}% by {by:.3g} points"
    if verdict.resets_at is not None:
        left = verdict.resets_at.timestamp() - now
        line += "; resets now" if left <= 0 else f"; resets in {render.human_duration(left)}"
    return line


def _describe(verdict: Verdict) -> dict[str, Any]:
    return {
        "window": verdict.key,
        "name": verdict.name,
        "label": verdict.label,
        "max": verdict.maximum,
        "utilization": verdict.utilization,
        "reported": verdict.utilization is not None,
        "over": verdict.over,
        "resets_at": None if verdict.resets_at is None else verdict.resets_at.isoformat(),
    }
