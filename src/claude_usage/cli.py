"""The ``claude-usage`` command: usage at a glance, as JSON, or as a one-line status.

A cache hit, ``--help`` and ``--version`` import neither the HTTP stack nor the native module:
:mod:`claude_usage.client` is imported only when a request is actually needed, so a status line
that runs every few seconds costs little more than starting Python. ``--json`` served from the
cache does not even load the models: it prints the cached ``to_dict()`` form as it is. For the
same reason this module avoids argparse, dataclasses and typing at run time (each costs a cache
hit more than all the rest of its work).
"""

from __future__ import annotations

import os
import sys

from claude_usage import __version__
from claude_usage.errors import ClaudeUsageError, ConfigurationError

# Not typing.TYPE_CHECKING: importing typing would cost a cache hit ~10 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime
    from typing import Any, TextIO

    from claude_usage.cache import CacheResult, Fetched
    from claude_usage.models import ExtraUsage, UsageData, UsagePeriod

__all__ = ["EXIT_CODES", "FORMAT_FIELDS", "main", "run"]

PROG = "claude-usage"
#: Test-only: a fixed "now" (epoch seconds) for the cache and the view, so tests can move time.
TEST_NOW_VARIABLE = "CLAUDE_USAGE_TEST_NOW"

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_USAGE = 2
#: Exit status per error kind; a kind not listed takes its parent class's code, else 1.
EXIT_CODES: Mapping[str, int] = {
    "NotFound": 3,
    "NoHomeDir": 3,
    "Expired": 4,
    "InsufficientScope": 5,
    "Unauthorized": 6,
    "Forbidden": 7,
    "RateLimited": 8,
    "Network": 9,
    "Server": 10,
    "UnexpectedStatus": 10,
    "Parse": 11,
    "Permission": 12,
    "Unreadable": 12,
    "Keychain": 13,
    "Configuration": 14,
}

_WINDOWS = ("five_hour", "seven_day", "seven_day_sonnet", "seven_day_opus")
_LABELS = {
    "five_hour": "5-hour",
    "seven_day": "7-day",
    "seven_day_sonnet": "7-day Sonnet",
    "seven_day_opus": "7-day Opus",
    "seven_day_oauth_apps": "7-day OAuth apps",
}
_WINDOW_FIELDS = {
    "": "percent used, rounded (48)",
    "_reset": "time until reset (2h 14m)",
    "_elapsed": "percent of the window's time elapsed (55)",
    "_pace": "on pace / over pace",
    "_bar": "a 10-character bar",
}
#: Every field --format knows; a missing value prints as "-".
FORMAT_FIELDS: Mapping[str, str] = {
    **{f"{window}{suffix}": text for window in _WINDOWS for suffix, text in _WINDOW_FIELDS.items()},
    "extra_used": "extra usage spent this month ($7.63)",
    "extra_limit": "extra usage monthly limit ($20.00, or 'no limit')",
    "extra_percent": "extra usage percent of the limit (38)",
    "plan": "plan name from the login (Max 5x)",
    "stale": "'stale' when the data is older than a failed request, else empty",
    "age": "time since the data was fetched (3m)",
    "fetched_at": "when the data was fetched (ISO 8601, UTC)",
}
_MISSING = "-"

EPILOG = f"""\
examples:
  {PROG}                      bars, percentages, reset times and pace
  {PROG} --json | jq .five_hour.utilization
  {PROG} --statusline         a short line for Claude Code's status line or tmux
  {PROG} --format '5h {{five_hour}}% ({{five_hour_reset}}) 7d {{seven_day}}%'
  {PROG} --no-cache           ask the server now (still honours a rate-limit block)

Results are cached for --max-age seconds in $CLAUDE_USAGE_CACHE_DIR, else
$XDG_CACHE_HOME/claude-usage, else ~/.cache/claude-usage, shared by all processes.

--format fields, W being five_hour, seven_day, seven_day_sonnet or seven_day_opus:
  {{W}} {{W_reset}} {{W_elapsed}} {{W_pace}} {{W_bar}}
  {{extra_used}} {{extra_limit}} {{extra_percent}} {{plan}} {{stale}} {{age}} {{fetched_at}}

exit codes: 0 ok, 1 other error, 2 usage, 3 not logged in, 4 expired, 5 insufficient
scope, 6 unauthorized, 7 forbidden, 8 rate limited, 9 network, 10 server, 11 parse,
12 credential file unreadable, 13 keychain, 14 configuration
"""


class _Usage(Exception):
    """A command-line mistake: exit status 2."""


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


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command; return its exit status."""
    env = os.environ if environ is None else environ
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    try:
        args = _parse(sys.argv[1:] if argv is None else argv, out)
    except _Exit as finished:
        return finished.status
    except _ArgumentError as problem:
        err.write(f"{_USAGE_LINE}{PROG}: error: {problem}\n")
        return EXIT_USAGE
    try:
        if args.format is not None:
            _check_template(args.format)
        clock = _clock(env)
        result = _obtain(args, env, clock)
        if result.error is not None and (result.data is None or args.strict):
            raise result.error
    except _Usage as problem:
        err.write(f"{PROG}: {problem}\n")
        return EXIT_USAGE
    except ClaudeUsageError as error:
        return _report_error(error, args.json, out, err)
    except KeyboardInterrupt:
        return 130
    style = _style(args.color, env, out)
    try:
        _write(out, _render(args, result, style))
    except BrokenPipeError:  # e.g. `claude-usage | head -1`
        return EXIT_OK
    if result.error is not None:
        age = _human_age(result.age_seconds)
        err.write(f"{PROG}: showing data from {age} ago: {_error_line(result.error)}\n")
    return EXIT_OK


# -- arguments -------------------------------------------------------------------------------


class _Exit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _ArgumentError(_Usage):
    """A mistake on the command line itself: reported under the usage line, as argparse would."""


#: One table drives both parsing and --help: (flag, metavar or None for a switch, help).
_OPTIONS: tuple[tuple[str, str | None, str], ...] = (
    ("--json", None, "print one JSON document (schema in the README)"),
    ("--format", "TEMPLATE", "print a one-line template with {field}s (listed below)"),
    ("--statusline", None, "print a short line for a status bar"),
    ("--max-age", "SECONDS", "serve cached data younger than this (default 180)"),
    ("--no-cache", None, "send a request now (unless rate-limited)"),
    ("--force", None, "send a request now, even during a rate-limit block"),
    ("--strict", None, "fail instead of showing stale data"),
    ("--timeout", "SECONDS", "request deadline (default 10)"),
    ("--color", "{auto,always,never}", "colour output (auto: terminal and no NO_COLOR)"),
    ("--version", None, "show program's version number and exit"),
)
_HELP_OPTION = ("-h, --help", None, "show this help message and exit")
#: At most one of these may be given.
_VIEW_FLAGS = ("--json", "--format", "--statusline")
_COLORS = ("auto", "always", "never")
_USAGE_LINE = f"""\
usage: {PROG} [-h] [--json | --format TEMPLATE | --statusline]
                    [--max-age SECONDS] [--no-cache] [--force] [--strict]
                    [--timeout SECONDS] [--color {{auto,always,never}}]
                    [--version]
"""
DESCRIPTION = """\
Show how much of your Claude plan you have used (5-hour and 7-day windows,
per-model limits, extra usage, pace), from Claude Code's stored login."""


class _Arguments:
    """The parsed command line; the defaults are set here."""

    __slots__ = ("json", "format", "statusline", "max_age", "no_cache", "force", "strict", "timeout", "color")

    def __init__(self) -> None:
        self.json = False
        self.format: str | None = None
        self.statusline = False
        self.max_age: float | None = None
        self.no_cache = False
        self.force = False
        self.strict = False
        self.timeout = 10.0
        self.color = "auto"


def _help_text() -> str:
    lines = [_USAGE_LINE, DESCRIPTION, "", "options:"]
    for flag, metavar, text in (_HELP_OPTION, *_OPTIONS):
        invocation = flag if metavar is None else f"{flag} {metavar}"
        if len(invocation) <= 20:
            lines.append(f"  {invocation:<22}{text}")
        else:  # too long to share a line with its help, as argparse lays it out
            lines.extend((f"  {invocation}", f"{'':24}{text}"))
    return "\n".join(lines) + "\n\n" + EPILOG


def _seconds(text: str, minimum: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number of seconds: {text!r}") from None
    # NaN fails every comparison, so it is refused with the infinities.
    if not (minimum <= value < float("inf")):
        raise ValueError(f"must be a finite number of seconds >= {minimum:g}: {text!r}")
    return value


def _option_named(flag: str) -> str:
    """The option ``flag`` names: exactly, or as an unambiguous prefix (as argparse allows)."""
    if flag in ("-h", "--help"):
        return "--help"
    flags = [option[0] for option in _OPTIONS] + ["--help"]
    if flag in flags:
        return flag
    matches = [known for known in flags if flag.startswith("--") and len(flag) > 2 and known.startswith(flag)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise _ArgumentError(f"ambiguous option: {flag} could match {', '.join(matches)}")
    raise _ArgumentError(f"unrecognized arguments: {flag}")


def _is_negative_number(text: str) -> bool:
    try:
        return text.startswith("-") and float(text) < 0
    except ValueError:
        return False


def _parse(argv: Sequence[str], out: TextIO) -> _Arguments:
    """The command line as ``_Arguments``; --help and --version print and raise ``_Exit(0)``."""
    args = _Arguments()
    view: str | None = None
    position = 0
    while position < len(argv):
        item = argv[position]
        position += 1
        written, has_value, value = item.partition("=") if item.startswith("--") else (item, "", "")
        flag = _option_named(written)
        metavar = next((option[1] for option in _OPTIONS if option[0] == flag), None)
        if metavar is None and has_value:
            raise _ArgumentError(f"argument {flag}: ignored explicit argument {value!r}")
        if flag in ("--help", "--version"):
            out.write(_help_text() if flag == "--help" else f"{PROG} {__version__}\n")
            raise _Exit(EXIT_OK)
        if metavar is not None and not has_value:
            if position == len(argv) or (argv[position].startswith("-") and not _is_negative_number(argv[position])):
                raise _ArgumentError(f"argument {flag}: expected one argument")
            value = argv[position]
            position += 1
        if flag in _VIEW_FLAGS:
            if view is not None and view != flag:
                raise _ArgumentError(f"argument {flag}: not allowed with argument {view}")
            view = flag
        try:
            _apply(args, flag, value)
        except ValueError as problem:
            raise _ArgumentError(f"argument {flag}: {problem}") from None
    return args


def _apply(args: _Arguments, flag: str, value: str) -> None:
    if flag == "--format":
        args.format = value
    elif flag == "--max-age":
        args.max_age = _seconds(value, 0.0)
    elif flag == "--timeout":
        args.timeout = _seconds(value, 0.001)
    elif flag == "--color":
        if value not in _COLORS:
            raise ValueError(f"invalid choice: {value!r} (choose from {', '.join(map(repr, _COLORS))})")
        args.color = value
    else:  # a switch: --json sets args.json, --no-cache args.no_cache...
        setattr(args, flag[2:].replace("-", "_"), True)


def _clock(environ: Mapping[str, str]) -> Callable[[], float]:
    import time

    fixed = environ.get(TEST_NOW_VARIABLE)
    if not fixed:
        return time.time
    try:
        now = float(fixed)
    except ValueError:
        raise ConfigurationError(f"{TEST_NOW_VARIABLE} must be epoch seconds (it is for tests only)") from None
    return lambda: now


# -- getting the data --------------------------------------------------------------------------


def _obtain(args: _Arguments, environ: Mapping[str, str], clock: Callable[[], float]) -> CacheResult:
    from claude_usage._endpoint import resolve_api_url
    from claude_usage.cache import DEFAULT_MAX_AGE, UsageCache, cache_key
    from claude_usage.credentials import locate_credentials

    source = locate_credentials(environ=environ)
    api_url = resolve_api_url(None, environ)

    def fetch() -> Fetched:
        from claude_usage.client import UsageClient

        with UsageClient(timeout=args.timeout, environ=environ) as client:
            return client._fetch()

    cache = UsageCache.from_environment(environ, clock=clock)
    return cache.get(
        cache_key(source.key, api_url),
        source.key,
        fetch,
        max_age=DEFAULT_MAX_AGE if args.max_age is None else args.max_age,
        force=args.no_cache or args.force,
        ignore_block=args.force,
        wait=args.timeout + 5.0,
        decode=not args.json,
    )


# -- errors ------------------------------------------------------------------------------------


def exit_code(error: ClaudeUsageError) -> int:
    """The documented exit status for ``error``'s kind (or its nearest parent's)."""
    for cls in type(error).__mro__:
        code = EXIT_CODES.get(getattr(cls, "kind", ""))
        if code is not None:
            return code
    return EXIT_OTHER


def _error_line(error: ClaudeUsageError) -> str:
    return f"{error.message} (hint: {error.hint})" if error.hint else error.message


def _write(out: TextIO, text: str) -> None:
    try:
        out.write(text)
    except UnicodeEncodeError:
        # A server-supplied name the output encoding cannot show must not fail the command.
        encoding = getattr(out, "encoding", None) or "ascii"
        out.write(text.encode(encoding, "replace").decode(encoding))
    out.flush()


def _report_error(error: ClaudeUsageError, as_json: bool, out: TextIO, err: TextIO) -> int:
    err.write(f"{PROG}: {_error_line(error)}\n")
    code = exit_code(error)
    if as_json:
        import json

        described: dict[str, Any] = {"kind": error.kind, "message": error.message, "hint": error.hint, "exit_code": code}
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            described["retry_after"] = round(retry_after)
        _write(out, json.dumps({"error": described}) + "\n")
    return code


# -- presentation ------------------------------------------------------------------------------


class _Style:
    __slots__ = ("color", "unicode", "columns")

    def __init__(self, color: bool, unicode: bool, columns: int) -> None:
        self.color = color
        self.unicode = unicode
        self.columns = columns


def _style(color: str, environ: Mapping[str, str], out: TextIO) -> _Style:
    is_tty = _isatty(out)
    if color == "auto":
        use_color = is_tty and "NO_COLOR" not in environ
    else:
        use_color = color == "always"
    encoding = getattr(out, "encoding", None)  # None: a text buffer, which holds any character
    try:
        unicode = encoding is None or bool("█▏▎▍▌▋▊▉░".encode(encoding))
    except (UnicodeEncodeError, LookupError):
        unicode = False
    return _Style(use_color, unicode, _columns(environ, out, is_tty))


def _isatty(out: TextIO) -> bool:
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


def _paint(text: str, code: str, style: _Style) -> str:
    return f"\033[{code}m{text}{_RESET}" if style.color and code else text


def _level_color(percent: float) -> str:
    return "32" if percent < 50 else "33" if percent < 80 else "31"


def _bar(percent: float, width: int, style: _Style) -> str:
    fraction = min(max(percent, 0.0), 100.0) / 100.0
    if not style.unicode:
        filled = round(fraction * width)
        return "#" * filled + "-" * (width - filled)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[part] if part else ""
    return _paint("█" * full + partial, _level_color(percent), style) + "░" * (width - full - len(partial))


def _printable(text: str, limit: int = 40) -> str:
    """Server-supplied names, without control characters (no terminal escapes from the network)."""
    return "".join(ch for ch in text if ch.isprintable())[:limit]


def _window_label(key: str) -> str:
    known = _LABELS.get(key)
    if known is not None:
        return known
    for prefix, label in (("seven_day_", "7-day "), ("five_hour_", "5-hour ")):
        if key.startswith(prefix):
            return _printable(label + key[len(prefix) :].replace("_", " "))
    return _printable(key.replace("_", " "))


def _window_hours(key: str) -> float | None:
    from claude_usage.models import FIVE_HOUR_PERIOD_HOURS, SEVEN_DAY_PERIOD_HOURS

    if key.startswith("five_hour"):
        return FIVE_HOUR_PERIOD_HOURS
    if key.startswith("seven_day"):
        return SEVEN_DAY_PERIOD_HOURS
    return None


class _Row:
    __slots__ = ("label", "period", "hours")

    def __init__(self, label: str, period: UsagePeriod, hours: float | None) -> None:
        self.label = label
        self.period = period
        self.hours = hours


def _rows(usage: UsageData) -> list[_Row]:
    """One row per window with data, then per ``limits`` entry not already shown under its label."""
    from claude_usage.models import FIVE_HOUR_PERIOD_HOURS, SEVEN_DAY_PERIOD_HOURS, UsagePeriod

    order = {key: index for index, key in enumerate(_LABELS)}
    keys = sorted(usage.windows, key=lambda key: order.get(key, len(order)))
    rows = [_Row(_window_label(key), usage.windows[key], _window_hours(key)) for key in keys]
    shown = {row.label for row in rows}
    for limit in usage.limits:
        weekly = limit.group == "weekly" or limit.kind.startswith("weekly")
        if limit.model:
            label = f"{'7-day' if weekly else limit.kind} {_printable(limit.model)}"
        else:
            label = {"session": "5-hour", "weekly_all": "7-day"}.get(limit.kind, _printable(limit.kind.replace("_", " ")))
        if label in shown:
            continue
        shown.add(label)
        session = limit.group == "session" or limit.kind == "session"
        hours = SEVEN_DAY_PERIOD_HOURS if weekly else FIVE_HOUR_PERIOD_HOURS if session else None
        rows.append(_Row(label, UsagePeriod(limit.percent, limit.resets_at), hours))
    return rows


class _Pace:
    __slots__ = ("elapsed", "on_pace")

    def __init__(self, elapsed: float, on_pace: bool) -> None:
        self.elapsed = elapsed
        self.on_pace = on_pace


def _pace(row: _Row, now: datetime) -> _Pace | None:
    if row.hours is None:
        return None
    elapsed = row.period.time_elapsed_percent(row.hours, now=now)
    on_pace = row.period.is_on_pace(row.hours, now=now)
    return None if elapsed is None or on_pace is None else _Pace(elapsed, on_pace)


def _reset_text(period: UsagePeriod, now: datetime) -> str | None:
    from claude_usage.cache import human_duration

    left = period.time_until_reset(now=now)
    if left is None:
        return None
    seconds = left.total_seconds()
    return "now" if seconds <= 0 else human_duration(seconds)


def _percent(value: float) -> str:
    return f"{value:.0f}"


def _render(args: _Arguments, result: CacheResult, style: _Style) -> str:
    if args.json:
        return _json_document(result) + "\n"
    from datetime import datetime, timezone

    usage = result.usage
    assert usage is not None
    now = datetime.fromtimestamp(result.now, timezone.utc)
    fields = _fields(usage, result, now, style)
    template: str | None = args.format
    if template is not None:
        return template.format_map(fields) + "\n"
    if args.statusline:
        return _statusline(usage, fields, style) + "\n"
    return _default_view(usage, result, now, style)


def _json_document(result: CacheResult) -> str:
    """The ``to_dict()`` form (as cached: no ``UsageData`` is built) plus the cache's fields."""
    import json

    assert result.data is not None and result.fetched_at is not None
    document = dict(result.data)
    document["fetched_at"] = _iso_utc(result.fetched_at)
    document["age_seconds"] = round(result.age_seconds or 0.0)
    document["stale"] = result.stale
    return json.dumps(document)


def _plan_name(result: CacheResult) -> str | None:
    if not result.subscription_type:
        return None
    name = _printable(result.subscription_type.replace("_", " ")).title()
    tier = result.rate_limit_tier or ""
    for multiple in ("20x", "5x"):
        if tier.endswith(f"_{multiple}") and multiple not in name.lower():
            return f"{name} {multiple}"
    return name


_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def _money(amount: Any, extra: ExtraUsage, style: _Style) -> str:
    text = f"{amount:,.{extra.minor_unit_exponent}f}"
    symbol = _CURRENCY_SYMBOLS.get(extra.currency.upper())
    if symbol is not None and (style.unicode or symbol.isascii()):
        return f"{symbol}{text}"
    return f"{text} {_printable(extra.currency, 8)}"


def _extra_parts(extra: ExtraUsage | None, style: _Style) -> tuple[str, str, str] | None:
    """(spent, limit, percent) of enabled extra usage, each formatted; ``None`` when not enabled."""
    from decimal import Decimal

    if extra is None or not extra.is_enabled:
        return None
    used = extra.used_credits_major or Decimal(0)
    limit = extra.monthly_limit_major
    percent = extra.utilization
    if percent is None and limit:
        percent = float(used / limit * 100)
    return (
        _money(used, extra, style),
        "no limit" if limit is None else _money(limit, extra, style),
        _MISSING if percent is None else _percent(percent),
    )


def _iso_utc(seconds: float) -> str:
    """``datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")``, without
    importing datetime (the ``--json`` cache hit needs nothing else from it)."""
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(seconds))


def _fields(usage: UsageData, result: CacheResult, now: datetime, style: _Style) -> dict[str, str]:
    fields = dict.fromkeys(FORMAT_FIELDS, _MISSING)
    for key in _WINDOWS:
        period = usage.windows.get(key)
        if period is None:
            continue
        row = _Row(key, period, _window_hours(key))
        pace = _pace(row, now)
        fields[key] = _percent(period.utilization)
        fields[f"{key}_reset"] = _reset_text(period, now) or _MISSING
        fields[f"{key}_bar"] = _bar(period.utilization, 10, style)
        if pace is not None:
            fields[f"{key}_elapsed"] = _percent(pace.elapsed)
            fields[f"{key}_pace"] = "on pace" if pace.on_pace else "over pace"
    extra = _extra_parts(usage.extra_usage, style)
    if extra is not None:
        fields["extra_used"], fields["extra_limit"], fields["extra_percent"] = extra
    fields["plan"] = _plan_name(result) or _MISSING
    fields["stale"] = "stale" if result.stale else ""
    fields["age"] = _human_age(result.age_seconds)
    if result.fetched_at is not None:
        fields["fetched_at"] = _iso_utc(result.fetched_at)
    return fields


def _human_age(seconds: float | None) -> str:
    from claude_usage.cache import human_duration

    if seconds is None:
        return _MISSING
    return f"{int(seconds)}s" if seconds < 60 else human_duration(seconds)


def _check_template(template: str) -> None:
    """Refuse unknown fields, attribute/index lookups and bad format specs before any request."""
    import string

    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise _Usage(f"--format template is malformed: {exc}") from None
    for _literal, name, spec, _conversion in parsed:
        if name is None:
            continue
        if name not in FORMAT_FIELDS:
            raise _Usage(f"unknown field {{{name}}} in --format; known fields: {', '.join(FORMAT_FIELDS)}")
        if spec and "{" in spec:
            raise _Usage(f"nested fields are not supported in --format: {{{name}:{spec}}}")
    try:
        template.format_map(dict.fromkeys(FORMAT_FIELDS, _MISSING))
    except (ValueError, IndexError, KeyError) as exc:
        raise _Usage(f"--format template is malformed: {exc}") from None


def _statusline(usage: UsageData, fields: Mapping[str, str], style: _Style) -> str:
    parts = []
    for key, short in (("five_hour", "5h"), ("seven_day", "7d")):
        if fields[key] != _MISSING:
            percent = _paint(f"{fields[key]}%", _level_color(float(fields[key])), style)
            reset = fields[f"{key}_reset"]
            parts.append(f"{short} {percent}" + ("" if reset == _MISSING else f" ({reset})"))
    if not parts and not usage.windows:
        parts.append("no usage windows")
    if fields["extra_used"] != _MISSING:
        parts.append(f"extra {fields['extra_used']}/{fields['extra_limit']}")
    if fields["stale"]:
        parts.append(_paint(f"stale {fields['age']}", "33", style))
    return " | ".join(parts)


def _default_view(usage: UsageData, result: CacheResult, now: datetime, style: _Style) -> str:
    rows = _rows(usage)
    extra = _extra_parts(usage.extra_usage, style)
    plan = _plan_name(result)
    labels = [row.label for row in rows] + (["Extra usage"] if extra else []) + (["Plan"] if plan else [])
    width = max(len(label) for label in labels) if labels else 0
    lines = _window_lines(rows, width, now, style)
    if not rows:
        lines.append("No usage windows reported for this account")
    if extra is not None:
        spent, limit, percent = extra
        amount = f"{spent} of {limit}, {percent}%" if limit != "no limit" else f"{spent} (no monthly limit)"
        lines.append(f"{'Extra usage':<{width}}  {amount}")
    if plan:
        lines.append(f"{'Plan':<{width}}  {plan}")
    if result.stale:
        lines.append(_paint(f"Stale: data from {_human_age(result.age_seconds)} ago", "33", style))
    return "".join(line + "\n" for line in lines)


def _window_lines(rows: Sequence[_Row], label_width: int, now: datetime, style: _Style) -> list[str]:
    """Aligned lines: label, bar, percent, reset and pace; compact wording when the terminal is narrow."""
    cells = []
    for row in rows:
        pace = _pace(row, now)
        word = None if pace is None else ("on pace" if pace.on_pace else "over pace")
        cells.append((row, _reset_text(row.period, now), pace, word))
    def reset_phrase(reset: str | None) -> str:
        return "no reset time" if reset is None else "resets now" if reset == "now" else f"resets in {reset}"

    reset_width = max((len(reset or _MISSING) for _, reset, _, _ in cells), default=0)
    phrase_width = max((len(reset_phrase(reset)) for _, reset, _, _ in cells), default=0)

    def suffix(reset: str | None, pace: _Pace | None, word: str | None, compact: bool) -> str:
        if compact:
            return f" {reset or _MISSING:<{reset_width}}" + (f" {word}" if word else "")
        text = f"  {reset_phrase(reset):<{phrase_width}}"
        return text + (f"  {_percent(pace.elapsed):>3}% of time, {word}" if pace else "")

    fixed = label_width + 2 + 1 + 4  # label, gap, bar, space, "100%"
    longest = max((len(suffix(r, p, w, False)) for _, r, p, w in cells), default=0)
    compact = style.columns - fixed - longest < 10
    if compact:
        longest = max((len(suffix(r, p, w, True)) for _, r, p, w in cells), default=0)
    bar_width = max(4, min(20, style.columns - fixed - longest))
    lines = []
    for row, reset, pace, word in cells:
        tail = suffix(reset, pace, word, compact)
        if pace is not None and word is not None:
            tail = tail.replace(word, _paint(word, "32" if pace.on_pace else "33", style))
        percent = f"{_percent(row.period.utilization):>3}%"
        lines.append(f"{row.label:<{label_width}}  {_bar(row.period.utilization, bar_width, style)} {percent}{tail}".rstrip())
    return lines
