"""``claude-usage wait --max WINDOW=PERCENT``: block until every window is at or under its limit."""

from __future__ import annotations

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli import render
from claude_usage.cli.arguments import PROG
from claude_usage.cli.check import over_line
from claude_usage.errors import EXIT_OK

if TYPE_CHECKING:
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments
    from claude_usage.windows import Verdict


def wait(args: Arguments, context: Context) -> int:
    def progress(over: list[Verdict], seconds: float) -> None:
        now = context.now()
        for verdict in over:
            context.err.write(f"{PROG}: {over_line(verdict, now)}\n")
        context.err.write(f"{PROG}: waiting {render.human_duration(seconds)} before checking again\n")
        context.err.flush()

    # Progress is for a person watching; a script or a log gets only the outcome.
    on_wait = progress if render.isatty(context.err) else None
    with context.client() as client:
        client.wait_until_under(args.max, timeout=args.timeout, max_age=args.max_age, on_wait=on_wait)
    return EXIT_OK
