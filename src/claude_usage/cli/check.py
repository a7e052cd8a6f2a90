"""``claude-usage check --max WINDOW=PERCENT``: a gate for scripts and agents (exit 0, or 20 when over)."""

from __future__ import annotations

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli import render, write, iso_utc
from claude_usage.cli.arguments import PROG
from claude_usage.errors import EXIT_OK, EXIT_OVER_LIMIT
from claude_usage.windows import not_understood

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments
    from claude_usage.windows import Verdict


def check(args: Arguments, context: Context) -> int:
    from claude_usage.windows import evaluate

    with context.client(args.timeout) as client:
        result = client.get_result(max_age=args.max_age, force=args.no_cache)
    usage = context.usable(result, args.strict).usage_or_raise()
    verdicts = evaluate(usage, args.max)
    unreported = [verdict for verdict in verdicts if verdict.utilization is None]
    failed = any(verdict.over for verdict in verdicts) or (args.strict and bool(unreported))
    if args.json:
        document: dict[str, Any] = {
            "ok": not failed,
            "windows": [_describe(verdict) for verdict in verdicts],
            "fetched_at": None if result.fetched_at is None else iso_utc(result.fetched_at),
            "age_seconds": round(result.age_seconds or 0.0),
            "stale": result.stale,
            "problems": list(result.problems),  # why a window is "reported": false though it was sent
        }
        import json

        write(context.out, json.dumps(document) + "\n")
    for verdict in verdicts:
        line = over_line(verdict, result.now, result.problems)
        if line:
            context.err.write(f"{PROG}: {line}\n")
    context.warn_of_problems(result)
    context.warn_if_stale(result)
    return EXIT_OVER_LIMIT if failed else EXIT_OK


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
