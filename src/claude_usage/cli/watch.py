"""``claude-usage watch``: a live view whose countdowns tick every second at no cost to the rate budget.

On a terminal the default view is redrawn in place on the alternate screen; elsewhere (a log, a
pipe) one status line is printed per interval. Data comes from the shared cache, read every
``--interval`` seconds, so any number of watchers cost what one status line does.
"""

from __future__ import annotations

import signal

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cache import DEFAULT_MAX_AGE
from claude_usage.cli import render, write
from claude_usage.cli.arguments import PROG
from claude_usage.errors import EXIT_OK

if TYPE_CHECKING:
    from types import FrameType

    from claude_usage.cache import CacheResult
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments

# Alternate screen and hidden cursor on entry; the reverse on exit, whatever the exit.
_ENTER = "\033[?1049h\033[?25l"
_LEAVE = "\033[?25h\033[?1049l"
# Home, then each line cleared to its end and the rest of the screen below: redrawn without flicker.
_HOME = "\033[H"
_CLEAR_LINE = "\033[K"
_CLEAR_BELOW = "\033[J"


def watch(args: Arguments, context: Context) -> int:
    terminal = render.isatty(context.out)
    notifier = _Notifier(args.notify) if args.notify is not None else None

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # unwinds like Ctrl-C, so the screen is restored the same way

    signal.signal(signal.SIGTERM, stop)
    if terminal:
        context.out.write(_ENTER)
    try:
        with context.client(args.timeout) as client:
            result: CacheResult | None = None
            next_read = 0.0
            while True:
                now = context.now()
                if result is None or now >= next_read:
                    result = client.get_result()
                    # The cache backs off after most failures but not after a refused token (fixed
                    # by logging in); a watcher must not spend the budget retrying one each interval.
                    refused = result.error is not None and result.requested
                    next_read = now + (max(args.interval, DEFAULT_MAX_AGE) if refused else args.interval)
                    if notifier is not None and result.data is not None:
                        notifier.observe(result)
                if terminal:
                    write(context.out, _frame(result, now, context))
                else:
                    write(context.out, _line(result, now, context))
                context.sleep(1.0 if terminal else args.interval)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        if terminal:
            context.out.write(_LEAVE)
            context.out.flush()


def _frame(result: CacheResult, now: float, context: Context) -> str:
    from datetime import datetime, timezone

    # Read every frame: the terminal may have been resized since the last one.
    style = render.style("auto", context.environ, context.out)
    usage = result.usage
    if usage is None:
        assert result.error is not None
        body = f"{PROG}: {render.error_line(result.error)}\n"
    else:
        body = render.default_view(usage, result, datetime.fromtimestamp(now, timezone.utc), style)
        if result.error is not None:
            body += f"{PROG}: {render.error_line(result.error)}\n"
    age = render.human_age(None if result.fetched_at is None else now - result.fetched_at)
    body += f"\ndata from {age} ago · Ctrl-C to quit\n"
    return _HOME + body.replace("\n", _CLEAR_LINE + "\n") + _CLEAR_BELOW


def _line(result: CacheResult, now: float, context: Context) -> str:
    from datetime import datetime, timezone

    usage = result.usage
    if usage is None:
        assert result.error is not None
        context.err.write(f"{PROG}: {render.error_line(result.error)}\n")
        return ""
    style = render.style("never", context.environ, context.out)
    moment = datetime.fromtimestamp(now, timezone.utc)
    return render.statusline(usage, render.fields(usage, result, moment, style), style) + "\n"


class _Notifier:
    """A desktop notification when a window goes over ``threshold``: once per crossing."""

    __slots__ = ("threshold", "over", "command")

    def __init__(self, threshold: float) -> None:
        import shutil

        self.threshold = threshold
        self.over: set[str] = set()
        self.command = shutil.which("notify-send") or shutil.which("osascript")

    def observe(self, result: CacheResult) -> None:
        from claude_usage.windows import label

        usage = result.usage
        assert usage is not None
        for key, period in usage.windows.items():
            if period.utilization <= self.threshold:
                self.over.discard(key)
            elif key not in self.over:
                self.over.add(key)
                self._send(f"{render.printable(label(key))} is at {period.utilization:g}% (over {self.threshold:g}%)")

    def _send(self, message: str) -> None:
        import subprocess

        if self.command is None:
            return
        if self.command.endswith("osascript"):
            quoted = message.replace("\\", "\\\\").replace('"', '\\"')
            argv = [self.command, "-e", f'display notification "{quoted}" with title "{PROG}"']
        else:
            argv = [self.command, PROG, message]
        try:
            subprocess.run(argv, timeout=5, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            pass  # a notification is a courtesy: the view goes on without it
