"""``claude-usage watch``: a live view whose countdowns tick every second at no cost to the rate budget.

On a terminal the default view is redrawn in place on the alternate screen; elsewhere (a log, a
pipe) one status line is printed per interval. Data comes from the shared cache, read every
``--interval`` seconds, so any number of watchers cost what one status line does. Several
accounts are watched together: a view per account under its heading, or a status line per
account after its label.
"""

from __future__ import annotations

import signal

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cache import reread_interval
from claude_usage.cli import render, write
from claude_usage.cli.arguments import PROG
from claude_usage.errors import EXIT_OK

if TYPE_CHECKING:
    from types import FrameType

    from claude_usage.profiles import Account
    from claude_usage.cache import CacheResult
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments
    from claude_usage.cli.render import Style
    from claude_usage.client import UsageClient

# Alternate screen and hidden cursor on entry; the reverse on exit, whatever the exit.
_ENTER = "\033[?1049h\033[?25l"
_LEAVE = "\033[?25h\033[?1049l"
# Home, then each line cleared to its end and the rest of the screen below: redrawn without flicker.
_HOME = "\033[H"
_CLEAR_LINE = "\033[K"
_CLEAR_BELOW = "\033[J"


def watch(args: Arguments, context: Context) -> int:
    from contextlib import ExitStack

    terminal = render.isatty(context.out)
    named = context.accounts(args)
    accounts: list[Account | None] = [None] if named is None else list(named)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # unwinds like Ctrl-C, so the screen is restored the same way

    signal.signal(signal.SIGTERM, stop)
    if terminal:
        context.out.write(_ENTER)
    try:
        with ExitStack() as stack:
            feeds = [
                _Feed(stack.enter_context(context.client(args.timeout, None if account is None else account.config_dir)),
                      account if len(accounts) > 1 else None, args.notify)
                for account in accounts
            ]
            while True:
                now = context.now()
                for feed in feeds:
                    feed.refresh(now, args.interval)
                if terminal:
                    write(context.out, _frame(feeds, now, context))
                else:
                    write(context.out, "".join(_line(feed, now, context) for feed in feeds))
                context.sleep(1.0 if terminal else args.interval)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        if terminal:
            context.out.write(_LEAVE)
            context.out.flush()


class _Feed:
    """One account's data as the watch shows it: read through its cache every interval.
    ``account`` is ``None`` when it is the only one shown (no heading, no label)."""

    __slots__ = ("client", "account", "notifier", "result", "next_read")

    def __init__(self, client: UsageClient, account: Account | None, notify: float | None) -> None:
        self.client = client
        self.account = account
        self.notifier = None if notify is None else _Notifier(notify, "" if account is None else account.label)
        self.result: CacheResult | None = None
        self.next_read = 0.0

    def refresh(self, now: float, interval: float) -> None:
        if self.result is None or now >= self.next_read:
            self.result = result = self.client.get_result()
            self.next_read = now + reread_interval(result, interval)
            if self.notifier is not None and result.data is not None:
                self.notifier.observe(result)


def _frame(feeds: list[_Feed], now: float, context: Context) -> str:
    from claude_usage.cli.fanout import heading

    # Read every frame: the terminal may have been resized since the last one.
    style = render.style("auto", context.environ, context.out)
    if len(feeds) == 1:
        body = _view(feeds[0], now, style) + f"\ndata from {_age(feeds[0], now)} ago · Ctrl-C to quit\n"
    else:
        body = "".join(
            f"{heading(feed.account, context)}\n{_view(feed, now, style)}data from {_age(feed, now)} ago\n\n"
            for feed in feeds
            if feed.account is not None
        )
        body += "Ctrl-C to quit\n"
    return _HOME + body.replace("\n", _CLEAR_LINE + "\n") + _CLEAR_BELOW


def _view(feed: _Feed, now: float, style: Style) -> str:
    """The default view of the feed's data, and the error of its last read."""
    from datetime import datetime, timezone

    result = feed.result
    assert result is not None
    usage = result.usage
    if usage is None:
        assert result.error is not None
        return f"{PROG}: {render.error_line(result.error)}\n"
    body = render.default_view(usage, result, datetime.fromtimestamp(now, timezone.utc), style)
    if result.error is not None:
        body += f"{PROG}: {render.error_line(result.error)}\n"
    return body


def _age(feed: _Feed, now: float) -> str:
    assert feed.result is not None
    return render.human_age(None if feed.result.fetched_at is None else now - feed.result.fetched_at)


def _line(feed: _Feed, now: float, context: Context) -> str:
    """The feed's status line, after its label when there are several; alone, a failed read goes
    to stderr (stdout keeps only status lines), with several it takes the account's line."""
    from datetime import datetime, timezone

    result = feed.result
    assert result is not None
    of = "" if feed.account is None else f"{render.printable(feed.account.label)}: "
    usage = result.usage
    if usage is None:
        assert result.error is not None
        if feed.account is None:
            context.err.write(f"{PROG}: {render.error_line(result.error)}\n")
            return ""
        return render.failed_statusline(feed.account.label, result.error) + "\n"
    style = render.style("never", context.environ, context.out)
    moment = datetime.fromtimestamp(now, timezone.utc)
    return of + render.statusline(usage, render.fields(usage, result, moment, style), style) + "\n"


class _Notifier:
    """A desktop notification when a window goes over ``threshold``: once per crossing (the
    account's ``label`` first, when there are several)."""

    __slots__ = ("threshold", "label", "over", "command")

    def __init__(self, threshold: float, label: str = "") -> None:
        import shutil

        self.threshold = threshold
        self.label = label
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
                of = f"{render.printable(self.label)}: " if self.label else ""
                self._send(f"{of}{render.printable(label(key))} is at {period.utilization:g}% (over {self.threshold:g}%)")

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
