"""How the command shows things: durations, bars, the default view, the status line, errors.

Every import beyond the standard library's cheapest is made where it is used: the cache hit
renders through this module, and a model or datetime import costs it more than its own work.
"""

from __future__ import annotations

import os

from claude_usage import windows
from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli import iso_utc, write
from claude_usage.cli.arguments import PROG

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime
    from typing import Any, TextIO

    from claude_usage.cache import CacheResult
    from claude_usage.cli.stdin import Session
    from claude_usage.errors import ClaudeUsageError
    from claude_usage.models import ExtraUsage, UsageData, UsagePeriod

#: The --format fields of each window W, by their suffix ({W}, {W_reset}, ...).
WINDOW_FIELDS: Mapping[str, str] = {
    "": "percent used, rounded (48; '?' when sent but not understood)",
    "_reset": "time until reset (2h 14m)",
    "_elapsed": "percent of the window's time elapsed (55)",
    "_pace": "on pace / over pace",
    "_bar": "a 10-character bar",
}
#: The --format fields that belong to no window.
OTHER_FIELDS: Mapping[str, str] = {
    "extra_used": "extra usage spent this month ($7.63)",
    "extra_limit": "extra usage monthly limit ($20.00, or 'no limit'; '?' when not understood)",
    "extra_percent": "extra usage percent of the limit (38)",
    "plan": "plan name from the login (Max 5x)",
    "stale": "'stale' when the data is older than a failed request, else empty",
    "age": "time since the data was fetched (3m)",
    "fetched_at": "when the data was fetched (ISO 8601, UTC)",
    "model": "model display name, from Claude Code's stdin (Opus)",
    "context": "context window used, percent, from Claude Code's stdin (42)",
    "session_cost": "the session's cost in dollars, from Claude Code's stdin ($0.42)",
    "account": "the account's label: its email address, name or config directory (Accounts, in the README)",
}
#: Every field --format knows; a missing value prints as "-", one the server sent but that was not
#: understood (a line of ``problems``) as "?".
FORMAT_FIELDS: Mapping[str, str] = {
    **{f"{key}{suffix}": text for key, _label, _alias, _hours in windows.WINDOWS for suffix, text in WINDOW_FIELDS.items()},
    **OTHER_FIELDS,
}
MISSING = "-"
UNKNOWN = "?"
_UNKNOWN_WORD = "unknown"  # UNKNOWN in the default view


def human_duration(seconds: float) -> str:
    """``"3d 4h"``, ``"2h 14m"``, ``"14m"`` or ``"<1m"`` (rounded down)."""
    total = int(max(0.0, seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else "<1m"


def error_line(error: ClaudeUsageError) -> str:
    return f"{error.message} (hint: {error.hint})" if error.hint else error.message


def report_error(error: ClaudeUsageError, as_json: bool, out: TextIO, err: TextIO) -> int:
    """The error on stderr (and as JSON on stdout with ``as_json``); returns its exit status."""
    err.write(f"{PROG}: {error_line(error)}\n")
    if as_json:
        import json

        write(out, json.dumps({"error": error_object(error)}) + "\n")
    return error.exit_code


def error_object(error: ClaudeUsageError) -> dict[str, Any]:
    """The ``"error"`` object of the ``--json`` documents."""
    described: dict[str, Any] = {"kind": error.kind, "message": error.message, "hint": error.hint, "exit_code": error.exit_code}
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        described["retry_after"] = round(retry_after)
    return described


class Style:
    __slots__ = ("color", "unicode", "columns")

    def __init__(self, color: bool, unicode: bool, columns: int) -> None:
        self.color = color
        self.unicode = unicode
        self.columns = columns


def style(color: str, environ: Mapping[str, str], out: TextIO) -> Style:
    is_tty = isatty(out)
    if color == "auto":
        use_color = is_tty and "NO_COLOR" not in environ
    else:
        use_color = color == "always"
    encoding = getattr(out, "encoding", None)  # None: a text buffer, which holds any character
    try:
        unicode = encoding is None or bool("█▏▎▍▌▋▊▉░".encode(encoding))
    except (UnicodeEncodeError, LookupError):
        unicode = False
    return Style(use_color, unicode, _columns(environ, out, is_tty))


def isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _columns(environ: Mapping[str, str], out: TextIO, is_tty: bool) -> int:
    """``shutil.get_terminal_size``'s rule (``COLUMNS``, then the terminal, then 80) on our environ."""
    text = environ.get("COLUMNS", "")
    if text.isdigit() and int(text) > 0:
        return int(text)
    if is_tty:
        try:
            return os.get_terminal_size(out.fileno()).columns or 80
        except (AttributeError, ValueError, OSError):
            pass
    return 80


_RESET = "\033[0m"


def paint(text: str, code: str, style: Style) -> str:
    return f"\033[{code}m{text}{_RESET}" if style.color and code else text


def level_color(percent: float) -> str:
    return "32" if percent < 50 else "33" if percent < 80 else "31"


def _bar(percent: float, width: int, style: Style) -> str:
    fraction = min(max(percent, 0.0), 100.0) / 100.0
    if not style.unicode:
        filled = round(fraction * width)
        return "#" * filled + "-" * (width - filled)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[part] if part else ""
    return paint("█" * full + partial, level_color(percent), style) + "░" * (width - full - len(partial))


def printable(text: str, limit: int = 40) -> str:
    """Server-supplied names, without control characters (no terminal escapes from the network)."""
    return "".join(ch for ch in text if ch.isprintable())[:limit]


def _window_label(key: str) -> str:
    return printable(windows.label(key))


class _Row:
    """A line of the default view; ``period`` ``None``: a window that was sent but not understood."""

    __slots__ = ("label", "period", "hours")

    def __init__(self, label: str, period: UsagePeriod | None, hours: float | None) -> None:
        self.label = label
        self.period = period
        self.hours = hours


def _not_understood(problems: Sequence[str]) -> list[str]:
    """The keys of the table's windows that the server sent but that were not understood."""
    if not problems:  # the usual case, decided without a loop
        return []
    return [key for key, _label, _alias, _hours in windows.WINDOWS if windows.not_understood(problems, key)]


def _rows(usage: UsageData, problems: Sequence[str]) -> list[_Row]:
    """One row per window with data or not understood, then per ``limits`` entry not already shown
    under its label (an entry with the label of a window not understood takes that window's row)."""
    from claude_usage.models import UsagePeriod

    order = {key: index for index, (key, _label, _alias, _hours) in enumerate(windows.WINDOWS)}
    keys = sorted([*usage.windows, *_not_understood(problems)], key=lambda key: order.get(key, len(order)))
    rows = [_Row(_window_label(key), usage.windows.get(key), windows.period_hours(key)) for key in keys]
    shown = {row.label for row in rows if row.period is not None}
    unknown = {row.label: index for index, row in enumerate(rows) if row.period is None}
    for limit in usage.limits:
        label = printable(windows.limit_label(limit))
        if label in shown:
            continue
        shown.add(label)
        row = _Row(label, UsagePeriod(limit.percent, limit.resets_at), windows.limit_period_hours(limit))
        if label in unknown:
            rows[unknown.pop(label)] = row
        else:
            rows.append(row)
    return rows


class _Pace:
    __slots__ = ("elapsed", "on_pace")

    def __init__(self, elapsed: float, on_pace: bool) -> None:
        self.elapsed = elapsed
        self.on_pace = on_pace


def _pace(row: _Row, now: datetime) -> _Pace | None:
    if row.hours is None or row.period is None:
        return None
    elapsed = row.period.time_elapsed_percent(row.hours, now=now)
    on_pace = row.period.is_on_pace(row.hours, now=now)
    return None if elapsed is None or on_pace is None else _Pace(elapsed, on_pace)


def _reset_text(period: UsagePeriod, now: datetime) -> str | None:
    left = period.time_until_reset(now=now)
    return None if left is None else _reset_words(left.total_seconds())


def _reset_words(seconds: float) -> str:
    return "now" if seconds <= 0 else human_duration(seconds)


def _percent(value: float) -> str:
    return f"{value:.0f}"


def _plan_name(result: CacheResult) -> str | None:
    if not result.subscription_type:
        return None
    name = printable(result.subscription_type.replace("_", " ")).title()
    tier = result.rate_limit_tier or ""
    for multiple in ("20x", "5x"):
        if tier.endswith(f"_{multiple}") and multiple not in name.lower():
            return f"{name} {multiple}"
    return name


_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def _money(amount: Any, extra: ExtraUsage, style: Style) -> str:
    text = f"{amount:,.{extra.minor_unit_exponent}f}"
    symbol = _CURRENCY_SYMBOLS.get(extra.currency.upper())
    if symbol is not None and (style.unicode or symbol.isascii()):
        return f"{symbol}{text}"
    return f"{text} {printable(extra.currency, 8)}"


def _extra_parts(extra: ExtraUsage | None, problems: Sequence[str], style: Style) -> tuple[str, str, str] | None:
    """(spent, limit, percent) of enabled extra usage, each formatted (``UNKNOWN`` when not
    understood); ``None`` when not enabled."""
    from decimal import Decimal

    def unknown(field: str) -> bool:
        return windows.not_understood(problems, f"extra_usage{field}")

    if extra is None or not extra.is_enabled:
        # Left out whole, or is_enabled not understood: whether it is on is unknown, not "off".
        if unknown("") if extra is None else unknown(".is_enabled"):
            return UNKNOWN, UNKNOWN, UNKNOWN
        return None
    # A field not understood reads as null in the model: "no limit" or 0 spent would be wrong.
    used_unknown, limit_unknown = unknown(".used_credits"), unknown(".monthly_limit")
    used = extra.used_credits_major or Decimal(0)
    limit = extra.monthly_limit_major
    percent = extra.utilization
    if percent is None and limit and not used_unknown:
        percent = float(used / limit * 100)
    return (
        UNKNOWN if used_unknown else _money(used, extra, style),
        UNKNOWN if limit_unknown else "no limit" if limit is None else _money(limit, extra, style),
        _percent(percent) if percent is not None else UNKNOWN if used_unknown or limit_unknown else MISSING,
    )


def fields(usage: UsageData, result: CacheResult, now: datetime, style: Style, session: Session | None = None) -> dict[str, str]:
    fields = dict.fromkeys(FORMAT_FIELDS, MISSING)
    for key in _not_understood(result.problems):
        fields[key] = UNKNOWN  # its other fields stay "-": nothing about the window is known
    for key, _label, _alias, hours in windows.WINDOWS:
        period = usage.windows.get(key)
        if period is None:
            continue
        row = _Row(key, period, hours)
        pace = _pace(row, now)
        fields[key] = _percent(period.utilization)
        fields[f"{key}_reset"] = _reset_text(period, now) or MISSING
        fields[f"{key}_bar"] = _bar(period.utilization, 10, style)
        if pace is not None:
            fields[f"{key}_elapsed"] = _percent(pace.elapsed)
            fields[f"{key}_pace"] = "on pace" if pace.on_pace else "over pace"
    extra = _extra_parts(usage.extra_usage, result.problems, style)
    if extra is not None:
        fields["extra_used"], fields["extra_limit"], fields["extra_percent"] = extra
    fields["plan"] = _plan_name(result) or MISSING
    fields["stale"] = "stale" if result.stale else ""
    fields["age"] = human_age(result.age_seconds)
    if result.fetched_at is not None:
        fields["fetched_at"] = iso_utc(result.fetched_at)
    if session is not None:
        if session.model is not None:
            fields["model"] = printable(session.model) or MISSING  # stdin's text: no terminal escapes
        if session.context_percent is not None:
            fields["context"] = _percent(session.context_percent)
        if session.cost_usd is not None:
            fields["session_cost"] = f"${session.cost_usd:,.2f}"
    return fields


def failed_statusline(label: str, error: ClaudeUsageError) -> str:
    """One of several accounts' status line when it has no data: ``label: ? (reason)``, the
    reason cut at its first clause so the line stays short."""
    return f"{printable(label)}: {UNKNOWN} ({printable(error.message.split(';')[0], 60)})"


def human_age(seconds: float | None) -> str:
    """``42s`` under a minute, else as :func:`human_duration`; ``-`` for no age."""
    if seconds is None:
        return MISSING
    return f"{int(seconds)}s" if seconds < 60 else human_duration(seconds)


def light_statusline(result: CacheResult, style: Style) -> str | None:
    """:func:`statusline` from the data as cached (``result.data``), without the models, whose
    import costs a status line more than the rest of its work; ``None`` when the data needs them:
    extra usage that may be on (money in its currency's minor units), a problem, a reset time or
    percentage of an unusual shape, or neither the 5-hour nor the 7-day window.
    """
    from claude_usage.cache import epoch_seconds

    data = result.data
    if data is None or result.problems:
        return None
    extra = data.get("extra_usage")
    if not (extra is None or (isinstance(extra, dict) and extra.get("is_enabled") is not True)):
        return None
    fields = {"extra_used": MISSING, "stale": "stale" if result.stale else "", "age": human_age(result.age_seconds)}
    for key, _label, _alias, _hours in windows.WINDOWS[:2]:
        fields[key] = fields[f"{key}_reset"] = MISSING
        window = data.get(key)
        if window is None:
            continue
        utilization = window.get("utilization") if isinstance(window, dict) else None
        if isinstance(utilization, bool) or not isinstance(utilization, (int, float)):
            return None  # the models word what is wrong with it
        resets_at = window.get("resets_at")
        reset = epoch_seconds(resets_at) if isinstance(resets_at, str) else None
        if resets_at is not None and reset is None:
            return None
        fields[key] = _percent(utilization)
        if reset is not None:
            fields[f"{key}_reset"] = _reset_words(reset - result.now)
    if fields["five_hour"] == fields["seven_day"] == MISSING:
        return None
    return statusline(None, fields, style)


def statusline(usage: UsageData | None, fields: Mapping[str, str], style: Style) -> str:
    """The --statusline line from the --format ``fields`` (``usage`` only to tell an account
    without windows; ``None`` when the fields show one)."""
    parts = []
    for key, _label, short, _hours in windows.WINDOWS[:2]:
        if fields[key] == UNKNOWN:
            parts.append(f"{short} {UNKNOWN}")
        elif fields[key] != MISSING:
            percent = paint(f"{fields[key]}%", level_color(float(fields[key])), style)
            reset = fields[f"{key}_reset"]
            parts.append(f"{short} {percent}" + ("" if reset == MISSING else f" ({reset})"))
    if not parts and usage is not None and not usage.windows:
        parts.append("no usage windows")
    if fields["extra_used"] != MISSING:
        parts.append(f"extra {fields['extra_used']}/{fields['extra_limit']}")
    if fields["stale"]:
        parts.append(paint(f"stale {fields['age']}", "33", style))
    return " | ".join(parts)


def default_view(usage: UsageData, result: CacheResult, now: datetime, style: Style) -> str:
    rows = _rows(usage, result.problems)
    extra = _extra_parts(usage.extra_usage, result.problems, style)
    plan = _plan_name(result)
    labels = [row.label for row in rows] + (["Extra usage"] if extra else []) + (["Plan"] if plan else [])
    width = max(len(label) for label in labels) if labels else 0
    lines = _window_lines(rows, width, now, style)
    if not rows:
        lines.append("No usage windows reported for this account")
    if extra is not None:
        spent, limit, percent = extra
        if extra == (UNKNOWN, UNKNOWN, UNKNOWN):
            amount = _UNKNOWN_WORD
        elif limit == "no limit":
            amount = f"{_UNKNOWN_WORD if spent == UNKNOWN else spent} (no monthly limit)"
        else:
            amount = f"{_UNKNOWN_WORD if spent == UNKNOWN else spent} of {'an unknown limit' if limit == UNKNOWN else limit}"
            amount += "" if percent == UNKNOWN else f", {percent}%"
        lines.append(f"{'Extra usage':<{width}}  {amount}")
    if plan:
        lines.append(f"{'Plan':<{width}}  {plan}")
    if result.stale:
        lines.append(paint(f"Stale: data from {human_age(result.age_seconds)} ago", "33", style))
    return "".join(line + "\n" for line in lines)


def _window_lines(rows: Sequence[_Row], label_width: int, now: datetime, style: Style) -> list[str]:
    """Aligned lines: label, bar, percent, reset and pace; compact wording when the terminal is narrow.
    A window not understood is its label and "unknown", and has no part in the widths."""
    cells: list[tuple[UsagePeriod, str | None, _Pace | None, str | None] | None] = []
    for row in rows:
        if row.period is None:
            cells.append(None)
            continue
        pace = _pace(row, now)
        word = None if pace is None else ("on pace" if pace.on_pace else "over pace")
        cells.append((row.period, _reset_text(row.period, now), pace, word))
    known = [cell for cell in cells if cell is not None]

    def reset_phrase(reset: str | None) -> str:
        return "no reset time" if reset is None else "resets now" if reset == "now" else f"resets in {reset}"

    reset_width = max((len(reset or MISSING) for _, reset, _, _ in known), default=0)
    phrase_width = max((len(reset_phrase(reset)) for _, reset, _, _ in known), default=0)

    def suffix(reset: str | None, pace: _Pace | None, word: str | None, compact: bool) -> str:
        if compact:
            return f" {reset or MISSING:<{reset_width}}" + (f" {word}" if word else "")
        text = f"  {reset_phrase(reset):<{phrase_width}}"
        return text + (f"  {_percent(pace.elapsed):>3}% of time, {word}" if pace else "")

    fixed = label_width + 2 + 1 + 4  # label, gap, bar, space, "100%"
    longest = max((len(suffix(r, p, w, False)) for _, r, p, w in known), default=0)
    compact = style.columns - fixed - longest < 10
    if compact:
        longest = max((len(suffix(r, p, w, True)) for _, r, p, w in known), default=0)
    bar_width = max(4, min(20, style.columns - fixed - longest))
    lines = []
    for row, cell in zip(rows, cells, strict=True):
        if cell is None:
            lines.append(f"{row.label:<{label_width}}  {_UNKNOWN_WORD}")
            continue
        period, reset, pace, word = cell
        tail = suffix(reset, pace, word, compact)
        if pace is not None and word is not None:
            tail = tail.replace(word, paint(word, "32" if pace.on_pace else "33", style))
        percent = f"{_percent(period.utilization):>3}%"
        lines.append(f"{row.label:<{label_width}}  {_bar(period.utilization, bar_width, style)} {percent}{tail}".rstrip())
    return lines
