"""``claude-usage history``: the local history as a chart per window, with burn rates and projections,
or its samples and summary as ``--json`` / ``--csv``. Sends no request.

With several accounts (``--config-dir``, ``CLAUDE_USAGE_ACCOUNTS``): one set of charts per account
under its label; ``--json`` is their ``{"accounts": [...]}``, ``--csv`` gains a first column,
``account``. One account's output is the same as without any named."""

from __future__ import annotations

from claude_usage import windows
from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli import iso_utc, write
from claude_usage.cli.arguments import UsageError
from claude_usage.errors import EXIT_OK, ClaudeUsageError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from claude_usage.profiles import Account
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments
    from claude_usage.cli.render import Style
    from claude_usage.history import HistoryStore, Sample

DAY = 86400.0
DEFAULT_WINDOWS = ("five_hour", "seven_day")
CHART_HEIGHT = 10  # rows of 10 percentage points
_CSV_COLUMNS = (
    "record", "window", "observed_at", "utilization", "resets_at", "source",
    "burn_rate_hour", "burn_rate_day", "projected_at_reset", "hours_to_full", "periods", "periods_full",
)


class Summary:
    """One window's numbers under the chart (rates in percentage points per hour)."""

    __slots__ = ("key", "since", "samples", "utilization", "resets_at", "rate_hour", "rate_day", "at_reset", "hours_to_full", "full", "periods")

    def __init__(self, key: str, since: float, samples: list[Sample], everything: list[Sample], now: float) -> None:
        from claude_usage.history import burn_rate, hours_to_full, projected_at_reset, times_full

        self.key = key
        self.since = since
        self.samples = samples
        last = everything[-1] if everything else None
        self.utilization = None if last is None else last.utilization
        self.resets_at = None if last is None or last.resets_at is None or last.resets_at <= now else last.resets_at
        self.rate_hour = burn_rate(everything, now=now, hours=1.0)
        self.rate_day = burn_rate(everything, now=now, hours=24.0)
        rate = self.rate_hour if self.rate_hour is not None else self.rate_day
        self.at_reset: float | None = None
        self.hours_to_full: float | None = None
        if rate is not None and self.utilization is not None:
            if self.resets_at is not None:
                self.at_reset = projected_at_reset(self.utilization, rate, now=now, resets_at=self.resets_at)
            self.hours_to_full = hours_to_full(self.utilization, rate, now=now, resets_at=self.resets_at)
        self.full, self.periods = times_full(samples)

    def document(self) -> dict[str, Any]:
        return {
            "utilization": self.utilization,
            "resets_at": None if self.resets_at is None else iso_utc(self.resets_at),
            "burn_rate_hour": _rounded(self.rate_hour),
            "burn_rate_day": _rounded(self.rate_day),
            "projected_at_reset": _rounded(self.at_reset),
            "hours_to_full": _rounded(self.hours_to_full),
            "periods": self.periods,
            "periods_full": self.full,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def history(args: Arguments, context: Context) -> int:
    from claude_usage.history import HistoryStore

    keys = [windows.resolve(args.window)] if args.window else list(DEFAULT_WINDOWS)
    for key in keys:
        if windows.period_hours(key) is None:
            known = ", ".join(alias or key for key, _label, alias, _hours in windows.WINDOWS)
            raise UsageError(f"unknown window {args.window!r}; known: {known}")
    accounts = context.accounts(args)
    style = None
    if not (args.json or args.csv):
        from claude_usage.cli import render

        style = render.style(args.color, context.environ, context.out)
    with HistoryStore.from_environment(context.environ, warn=context.warn) as store:
        if accounts is not None and len(accounts) > 1:
            return _history_of_accounts(args, context, store, keys, style, accounts)
        account = _account(context, None if accounts is None else accounts[0].config_dir)
        summaries = _summaries(args, context, store, keys, style, account)
    now = context.now()
    if args.json:
        write(context.out, _json(summaries, now))
    elif args.csv:
        write(context.out, _csv([(None, summaries)], now))
    else:
        assert style is not None
        write(context.out, _charts(summaries, now, style))
    return EXIT_OK


def _history_of_accounts(
    args: Arguments, context: Context, store: HistoryStore, keys: list[str], style: Style | None, accounts: list[Account]
) -> int:
    """Each account's history under its label. An account whose key cannot be made is shown
    failing in its place (never as every account's samples); the exit status is then the first
    such account's."""
    import json

    from claude_usage.cli.fanout import accounts_document, heading
    from claude_usage.cli.render import error_line

    answers: list[tuple[Account, list[Summary] | ClaudeUsageError]] = []
    for account in accounts:
        try:
            key = _account_key(context, account.config_dir)
        except ClaudeUsageError as error:
            answers.append((account, error))
            continue
        answers.append((account, _summaries(args, context, store, keys, style, key)))
    now = context.now()
    if args.json:
        write(context.out, accounts_document(answers, lambda summaries: json.loads(_json(summaries, now))))
    elif args.csv:
        write(context.out, _csv([(account.label, answer) for account, answer in answers if not isinstance(answer, ClaudeUsageError)], now))
    else:
        assert style is not None
        blocks = []
        for account, answer in answers:
            shown = f"Unavailable: {error_line(answer)}\n" if isinstance(answer, ClaudeUsageError) else _charts(answer, now, style)
            blocks.append(f"{heading(account, context, args.color)}\n{shown}")
        write(context.out, "\n".join(blocks))
    status = EXIT_OK
    for account, answer in answers:
        if isinstance(answer, ClaudeUsageError):
            context.warn_of_failure(answer, account.label)
            status = status or answer.exit_code
    return status


def _summaries(
    args: Arguments, context: Context, store: HistoryStore, keys: list[str], style: Style | None, account: str | None
) -> list[Summary]:
    """Each window's samples and summary for ``account`` (a key; ``None``: every account's)."""
    now = context.now()
    summaries = []
    for key in keys:
        since = now - (args.since if args.since is not None else DAY if key == "five_hour" else 7 * DAY)
        # The last day and the sample before it, for the burn rates.
        recent = store.samples(key, since=now - DAY, until=now, account=account, with_previous=True)
        if style is not None:  # a chart needs each column's peak, not every sample
            shown = store.peaks(key, since=since, until=now, buckets=_chart_width(style), account=account)
        else:
            shown = store.samples(key, since=since, until=now, account=account)
        summaries.append(Summary(key, since, shown, recent, now))
    return summaries


def _account(context: Context, config_dir: str | None) -> str | None:
    """The key of this login (or of ``config_dir``'s); ``None`` when it cannot be made: then
    every account's samples are shown, as before accounts could be named."""
    try:
        return _account_key(context, config_dir)
    except ClaudeUsageError:
        return None


def _account_key(context: Context, config_dir: str | None) -> str | None:
    """The key the history holds the login's samples under, made as the client that records
    them makes it: for ``CLAUDE_CODE_OAUTH_TOKEN``, the HMAC of that token, so that two tokens'
    samples stay apart. No secret."""
    with context.client(None, config_dir) as client:
        return client.account_key()


def _sample_document(sample: Sample) -> dict[str, Any]:
    return {
        "observed_at": iso_utc(sample.observed_at),
        "utilization": sample.utilization,
        "resets_at": None if sample.resets_at is None else iso_utc(sample.resets_at),
        "source": sample.source,
    }


def _json(summaries: Sequence[Summary], now: float) -> str:
    import json

    document = {
        "now": iso_utc(now),
        "windows": [
            {
                "window": summary.key,
                "since": iso_utc(summary.since),
                "samples": [_sample_document(sample) for sample in summary.samples],
                "summary": summary.document(),
            }
            for summary in summaries
        ],
    }
    return json.dumps(document) + "\n"


def _csv(groups: Sequence[tuple[str | None, Sequence[Summary]]], now: float) -> str:
    """The samples, then the summaries; with accounts' labels (not ``None``), under a first
    column ``account``."""
    import csv
    import io

    labelled = any(label is not None for label, _summaries in groups)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((["account"] if labelled else []) + list(_CSV_COLUMNS))
    for label, summaries in groups:
        first = [label or ""] if labelled else []
        for summary in summaries:
            for sample in summary.samples:
                document = _sample_document(sample)
                writer.writerow(first + ["sample", summary.key, document["observed_at"], sample.utilization, document["resets_at"] or "", sample.source])
        for summary in summaries:
            numbers = summary.document()
            writer.writerow(
                first
                + ["summary", summary.key, iso_utc(now), "" if summary.utilization is None else summary.utilization, numbers["resets_at"] or "", ""]
                + ["" if numbers[name] is None else numbers[name] for name in _CSV_COLUMNS[6:]]
            )
    return buffer.getvalue()


# -- the chart ------------------------------------------------------------------------------------


def _time_label(seconds: float, span: float) -> str:
    import time

    return time.strftime("%H:%M" if span <= 2 * DAY else "%b %d", time.gmtime(seconds))


def _charts(summaries: Sequence[Summary], now: float, style: Style) -> str:
    return "\n".join(_chart(summary, now, style) for summary in summaries)


def _chart_width(style: Style) -> int:
    return max(20, min(style.columns, 120) - 6)


def _chart(summary: Summary, now: float, style: Style) -> str:
    from claude_usage.cli.render import human_duration, level_color, paint

    label = windows.label(summary.key)
    period = (windows.period_hours(summary.key) or 0.0) * 3600.0
    span = now - summary.since
    width = _chart_width(style)
    head = f"{label}, last {human_duration(span)} (UTC)"
    if not summary.samples:
        return f"{head}\n  no samples yet: the history fills as the command fetches\n"
    columns = _columns(summary.samples, summary.since, span, width)
    blocks = " ▁▂▃▄▅▆▇█" if style.unicode else " __--==##"
    dot, bar_char, corner, rule = ("·", "│", "└", "─") if style.unicode else (".", "|", "+", "-")
    resets = {
        min(width - 1, int((sample.resets_at - summary.since) / span * width))
        for sample in summary.samples
        if sample.resets_at is not None and summary.since <= sample.resets_at <= now
    }
    grid: list[list[str]] = [[" "] * width for _ in range(CHART_HEIGHT)]
    for column, (value, resets_at) in enumerate(columns):
        moment = summary.since + (column + 0.5) / width * span
        pace = None
        if resets_at is not None and period and moment < resets_at:
            pace = min(100.0, max(0.0, (moment - (resets_at - period)) / period * 100.0))
        for row in range(CHART_HEIGHT):
            bottom = (CHART_HEIGHT - 1 - row) * 100.0 / CHART_HEIGHT
            cell = " "
            if value is not None and value > bottom:
                eighths = min(8, max(1, round((value - bottom) / (100.0 / CHART_HEIGHT) * 8)))
                cell = paint(blocks[eighths], level_color(value), style)
            elif pace is not None and bottom <= pace < bottom + 100.0 / CHART_HEIGHT:
                cell = paint(dot, "2", style)
            elif column in resets:
                cell = paint(bar_char, "36", style)
            grid[row][column] = cell
    lines = [head]
    for row in range(CHART_HEIGHT):
        top = 100 - row * 100 // CHART_HEIGHT
        axis = f"{top:>3}" if row in (0, CHART_HEIGHT // 2) else "   "
        lines.append(f"{axis} {bar_char if style.unicode else '|'}{''.join(grid[row])}".rstrip())
    lines.append(f"  0 {corner}{rule * width}")
    start, middle, end = _time_label(summary.since, span), _time_label(summary.since + span / 2, span), "now"
    gap = width - len(start) - len(middle) - len(end)
    left = max(1, gap // 2 - len(middle) // 2 + len(middle) // 2)
    lines.append(f"    {start}{' ' * left}{middle}{' ' * max(1, gap - left)}{end}")
    key = f"{paint(blocks[8], '32', style)} used  {paint(dot, '2', style)} even pace  {paint(bar_char, '36', style)} reset"
    lines.append(f"    {key}")
    lines.extend(_summary_lines(summary, now))
    return "\n".join(lines) + "\n"


def _columns(samples: Sequence[Sample], since: float, span: float, width: int) -> list[tuple[float | None, float | None]]:
    """Per column: the highest utilization observed in its time (or the last one before it, while
    its window has not reset and the history had not ended), and that sample's ``resets_at``."""
    found: list[tuple[float | None, float | None]] = []
    index = 0
    carried: Sample | None = None
    last_seen = samples[-1].observed_at
    for column in range(width):
        end = since + (column + 1) / width * span
        best: Sample | None = None
        while index < len(samples) and samples[index].observed_at < end:
            sample = samples[index]
            if best is None or sample.utilization >= best.utilization or sample.resets_at != best.resets_at:
                best = sample
            carried = sample
            index += 1
        if best is not None:
            found.append((best.utilization, best.resets_at))
        elif carried is not None and end - span / width <= last_seen and (carried.resets_at is None or end <= carried.resets_at):
            found.append((carried.utilization, carried.resets_at))
        else:
            found.append((None, None))
    return found


def _summary_lines(summary: Summary, now: float) -> list[str]:
    from claude_usage.cli.render import human_duration

    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} pp/h"

    lines = [f"    burn rate: {rate(summary.rate_hour)} over the last hour, {rate(summary.rate_day)} over the last day"]
    basis = "the last hour's" if summary.rate_hour is not None else "the last day's"
    if summary.utilization is not None and summary.utilization >= 100.0:
        lines.append("    at 100% now" + (f", resets in {human_duration(summary.resets_at - now)}" if summary.resets_at else ""))
    elif summary.utilization is not None and summary.resets_at is not None and summary.at_reset is not None:
        lines.append(
            f"    at {basis} rate: {summary.at_reset:.0f}% at the reset (in {human_duration(summary.resets_at - now)})"
            + (
                f", 100% in {human_duration(summary.hours_to_full * 3600.0)}"
                if summary.hours_to_full is not None
                else ", not 100% before it"
            )
        )
    elif summary.hours_to_full is not None:
        lines.append(f"    at {basis} rate: 100% in {human_duration(summary.hours_to_full * 3600.0)}")
    lines.append(f"    reached 100%: {summary.full} of {summary.periods} window{'s' if summary.periods != 1 else ''} in the period")
    return lines
