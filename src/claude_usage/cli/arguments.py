"""The command line: one table of commands and options drives parsing, ``--help`` and the usage line
(the texts are made from it in :mod:`.help`, imported only when shown).

Hand-written rather than argparse, whose import and parser construction cost a cache hit more
than all the rest of its work; it follows argparse's conventions (``--opt=value``, unambiguous
prefixes, ``-h``, its error wording) so the command reads like any other.
"""

from __future__ import annotations

from claude_usage import __version__
from claude_usage._typing import TYPE_CHECKING
from claude_usage.errors import EXIT_OK

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TextIO

PROG = "claude-usage"
_COLORS = ("auto", "always", "never")


class Exit(Exception):
    """``--help`` or ``--version`` was answered: exit with ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class UsageError(Exception):
    """A command-line mistake (exit status 2); ``usage`` is the usage line to print above it."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


def _seconds(minimum: float) -> Callable[[str], float]:
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"not a number of seconds: {text!r}") from None
        # NaN fails every comparison, so it is refused with the infinities.
        if not (minimum <= value < float("inf")):
            raise ValueError(f"must be a finite number of seconds >= {minimum:g}: {text!r}")
        return value

    return convert


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a percentage: {text!r}") from None
    if not (0.0 <= value < float("inf")):
        raise ValueError(f"must be a finite percentage >= 0: {text!r}")
    return value


def _limit(text: str) -> tuple[str, float]:
    name, equals, percent = text.rpartition("=")
    if not equals or not name:
        raise ValueError(f"expected WINDOW=PERCENT (e.g. 5h=80), not {text!r}")
    return name, _percent(percent.rstrip("%"))


def _duration(text: str) -> float:
    """``90m``, ``6h``, ``7d``, ``2w`` or a sum of them (``1d12h``), as seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
    total, number = 0.0, ""
    for character in text.strip().lower():
        if character.isdigit() or character == ".":
            number += character
        elif character in units and number:
            try:
                total += float(number) * units[character]
            except ValueError:
                break
            number = ""
        else:
            number = "?"
            break
    if number or not 0 < total < float("inf"):
        raise ValueError(f"expected a duration such as 90m, 6h, 7d or 1d12h, not {text!r}")
    return total


def _choice(*choices: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        if text not in choices:
            raise ValueError(f"invalid choice: {text!r} (choose from {', '.join(map(repr, choices))})")
        return text

    return convert


_color = _choice(*_COLORS)


class Option:
    """One row of the table. ``metavar`` ``None``: a switch. ``repeat``: each use adds to a list."""

    __slots__ = ("flag", "metavar", "help", "convert", "default", "repeat", "required", "group")

    def __init__(
        self,
        flag: str,
        metavar: str | None,
        help: str,
        convert: Callable[[str], Any] = str,
        default: Any = None,
        *,
        repeat: bool = False,
        required: bool = False,
        group: str = "",
    ) -> None:
        self.flag = flag
        self.metavar = metavar
        self.help = help
        self.convert = convert
        self.default = False if metavar is None else default
        self.repeat = repeat
        self.required = required
        self.group = group  # options sharing a group are mutually exclusive

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_")


_JSON = Option("--json", None, "print one JSON document (schema in the README)", group="view")
_MAX_AGE = Option("--max-age", "SECONDS", "serve cached data younger than this (default 180)", _seconds(0.0))
_NO_CACHE = Option("--no-cache", None, "send a request now (unless rate-limited)")
_FORCE = Option("--force", None, "send a request now, even during a rate-limit block")
_REQUEST_TIMEOUT = Option("--timeout", "SECONDS", "request deadline (default 10)", _seconds(0.001), 10.0)
_MAX = Option(
    "--max", "WINDOW=PERCENT", "a limit, e.g. 5h=80 (repeatable; windows below)", _limit, repeat=True, required=True
)
_ACCOUNT_LABEL = Option("--account-label", "NAME", "add account=NAME to every metric (none by default)")
_CONFIG_DIR = Option(
    "--config-dir", "DIR", "an account, by its Claude Code config directory (repeatable; default: $CLAUDE_USAGE_ACCOUNTS)", repeat=True
)
_LABEL_EMAIL = Option(
    "--label-email", "{auto,never}", "name accounts by email address (auto) or never, for shared screens",
    _choice("auto", "never"), "auto",
)
#: Prometheus's port registry lists 9464 for OpenTelemetry-style exporters of one process.
DEFAULT_LISTEN = "127.0.0.1:9464"
_VERSION = Option("--version", None, "show program's version number and exit")

#: Command name ("" for the default view) -> (one-line summary, description, options).
COMMANDS: dict[str, tuple[str, str, tuple[Option, ...]]] = {
    "": (
        "show usage (the default)",
        "Show how much of your Claude plan you have used (5-hour and 7-day windows,\n"
        "per-model limits, extra usage, pace), from Claude Code's stored login.",
        (
            _JSON,
            Option("--format", "TEMPLATE", "print a one-line template with {field}s (listed below)", group="view"),
            Option("--statusline", None, "print a short line for a status bar", group="view"),
            _MAX_AGE,
            Option(
                "--rest-max-age", "SECONDS", "with Claude Code's 5h/7d numbers on stdin, serve the rest younger than this (default 900)",
                _seconds(0.0), 900.0,
            ),
            _NO_CACHE,
            _FORCE,
            Option("--strict", None, "fail instead of showing stale data or data with problems"),
            _REQUEST_TIMEOUT,
            Option("--color", "{auto,always,never}", "colour output (auto: terminal and no NO_COLOR)", _color, "auto"),
            _CONFIG_DIR,
            _LABEL_EMAIL,
            _VERSION,
        ),
    ),
    "check": (
        "exit 20 when a window is over its limit",
        "Exit 0 when every named window is at or under its limit, 20 when one is over\n"
        "(stderr says which, by how much, and when it resets). For scripts and agents.",
        (
            _MAX,
            _JSON,
            Option("--strict", None, "fail on stale data, data with problems, and a window the server did not report"),
            _MAX_AGE,
            _NO_CACHE,
            _REQUEST_TIMEOUT,
            _CONFIG_DIR,
            _LABEL_EMAIL,
        ),
    ),
    "wait": (
        "block until every window is at or under its limit",
        "Block until every named window is at or under its limit, then exit 0; exit 24 when\n"
        "--timeout passes first. Sleeps until the window resets, checking through the cache.",
        (
            _MAX,
            Option("--timeout", "SECONDS", "give up after this long (default: never)", _seconds(0.0)),
            _MAX_AGE,
            _CONFIG_DIR,
            _LABEL_EMAIL,
        ),
    ),
    "watch": (
        "a live view: countdowns tick, data from the shared cache",
        "A live view. On a terminal, the default view redrawn in place with countdowns\n"
        "ticking every second; otherwise one status line per interval, for logs. Data\n"
        "comes from the shared cache, so any number of watchers cost what one does.",
        (
            Option("--interval", "SECONDS", "read the cache (and, off a terminal, print) this often (default 60)", _seconds(1.0), 60.0),
            Option("--notify", "PERCENT", "desktop notification when a window goes over PERCENT", _percent),
            _REQUEST_TIMEOUT,
            _CONFIG_DIR,
            _LABEL_EMAIL,
        ),
    ),
    "doctor": (
        "check every step between you and your numbers",
        "Check every step between you and your numbers (login, file, token, scopes,\n"
        "configuration, trust store, proxy, cache, rate-limit block), each with its fix.\n"
        "Exit 0 when nothing failed, 1 otherwise. Shows no secret.",
        (
            _JSON,
            Option("--online", None, "also send one request (unless a rate-limit block is active)"),
            _REQUEST_TIMEOUT,
            _CONFIG_DIR,
            _LABEL_EMAIL,
        ),
    ),
    "metrics": (
        "OpenMetrics for Prometheus: stdout or a textfile",
        "Print the usage as metrics in the OpenMetrics text format (the Prometheus one\n"
        "with --prometheus), from the shared cache. --write replaces FILE atomically,\n"
        "for node_exporter's textfile collector. Needs the 'metrics' extra.",
        (
            Option("--write", "FILE", "replace FILE atomically instead of printing"),
            Option("--prometheus", None, "the Prometheus text format (default: OpenMetrics)"),
            _MAX_AGE,
            _REQUEST_TIMEOUT,
            _ACCOUNT_LABEL,
            _CONFIG_DIR,
            _LABEL_EMAIL,
        ),
    ),
    "serve": (
        "an HTTP endpoint for Prometheus (/metrics, /usage.json)",
        "Serve /metrics (OpenMetrics or Prometheus text, as Accept asks) and\n"
        "/usage.json (the --json document) over HTTP. Answers come from the shared\n"
        "cache, refreshed in the background: any number of scrapers cost at most one\n"
        "request per --max-age.",
        (
            Option("--listen", "HOST:PORT", f"address to listen on (default {DEFAULT_LISTEN})", default=DEFAULT_LISTEN),
            Option("--allow-remote", None, "allow a --listen address that is not loopback"),
            _MAX_AGE,
            _REQUEST_TIMEOUT,
            _ACCOUNT_LABEL,
            _CONFIG_DIR,
            _LABEL_EMAIL,
        ),
    ),
    "history": (
        "usage over time: a chart, burn rates and projections",
        "Usage over time from the local history (every answer the command got): a chart\n"
        "per window with its resets and the even-pace line, then the burn rate over the\n"
        "last hour and day, the projection at reset, and how often the window filled.",
        (
            Option("--window", "WINDOW", "one window (5h, 7d or a key; default: 5h and 7d)"),
            Option("--since", "DURATION", "how far back, e.g. 6h, 7d (default: 1d for 5h, 7d otherwise)", _duration),
            Option("--json", None, "print the samples and the summary as JSON", group="view"),
            Option("--csv", None, "print the samples and the summary as CSV", group="view"),
            Option("--color", "{auto,always,never}", "colour output (auto: terminal and no NO_COLOR)", _color, "auto"),
            _CONFIG_DIR,
            _LABEL_EMAIL,
        ),
    ),
    "accounts": (
        "list the accounts it would show, and where each login lives",
        "List the accounts the other commands show: those named by --config-dir or\n"
        "CLAUDE_USAGE_ACCOUNTS, else the Claude Code logins found on this machine, each\n"
        "with its label and where its login lives. Reads no secret and sends nothing.",
        (
            Option("--json", None, "print the accounts as JSON"),
            _CONFIG_DIR,
            _LABEL_EMAIL,
        ),
    ),
}


class Arguments:
    """The parsed command line: ``command`` and one attribute per option of that command."""

    command: str
    json: bool
    format: str | None
    statusline: bool
    max_age: float | None
    rest_max_age: float
    no_cache: bool
    force: bool
    strict: bool
    timeout: float | None
    color: str
    max: list[tuple[str, float]]
    online: bool
    interval: float
    notify: float | None
    write: str | None
    prometheus: bool
    account_label: str | None
    listen: str
    allow_remote: bool
    window: str | None
    since: float | None
    csv: bool
    config_dir: list[str]
    label_email: str

    def __init__(self, command: str) -> None:
        self.command = command
        for option in COMMANDS[command][2]:
            setattr(self, option.dest, [] if option.repeat else option.default)


def _option_named(flag: str, options: Sequence[Option]) -> Option | None:
    """The option ``flag`` names, exactly or as an unambiguous prefix (as argparse allows); ``None``: --help."""
    if flag in ("-h", "--help"):
        return None
    flags = [option.flag for option in options] + ["--help"]
    matches = [flag] if flag in flags else [known for known in flags if flag.startswith("--") and len(flag) > 2 and known.startswith(flag)]
    if len(matches) > 1:
        raise ValueError(f"ambiguous option: {flag} could match {', '.join(matches)}")
    if not matches:
        raise ValueError(f"unrecognized arguments: {flag}")
    return next((option for option in options if option.flag == matches[0]), None)


def _is_negative_number(text: str) -> bool:
    try:
        return text.startswith("-") and float(text) < 0
    except ValueError:
        return False


def parse(argv: Sequence[str], out: TextIO) -> Arguments:
    """The command line as ``Arguments``; --help and --version print and raise ``Exit(0)``."""
    command = argv[0] if argv and argv[0] in COMMANDS and argv[0] else ""
    try:
        return _parse(command, argv[1:] if command else argv, out)
    except ValueError as problem:
        from claude_usage.cli.help import usage_line

        raise UsageError(str(problem), usage_line(command)) from None


def _parse(command: str, argv: Sequence[str], out: TextIO) -> Arguments:
    options = COMMANDS[command][2]
    args = Arguments(command)
    chosen: dict[str, str] = {}
    seen: set[str] = set()
    position = 0
    while position < len(argv):
        item = argv[position]
        position += 1
        written, has_value, value = item.partition("=") if item.startswith("--") else (item, "", "")
        option = _option_named(written, options)
        if option is None:
            from claude_usage.cli.help import help_text

            out.write(help_text(command))
            raise Exit(EXIT_OK)
        flag = option.flag
        if option.metavar is None and has_value:
            raise ValueError(f"argument {flag}: ignored explicit argument {value!r}")
        if option is _VERSION:
            out.write(f"{PROG} {__version__}\n")
            raise Exit(EXIT_OK)
        if option.metavar is not None and not has_value:
            if position == len(argv) or (argv[position].startswith("-") and not _is_negative_number(argv[position])):
                raise ValueError(f"argument {flag}: expected one argument")
            value = argv[position]
            position += 1
        if option.group:
            other = chosen.setdefault(option.group, flag)
            if other != flag:
                raise ValueError(f"argument {flag}: not allowed with argument {other}")
        try:
            converted = True if option.metavar is None else option.convert(value)
        except ValueError as problem:
            raise ValueError(f"argument {flag}: {problem}") from None
        if option.repeat:
            getattr(args, option.dest).append(converted)
        else:
            setattr(args, option.dest, converted)
        seen.add(flag)
    missing = [option.flag for option in options if option.required and option.flag not in seen]
    if missing:
        raise ValueError(f"the following arguments are required: {', '.join(missing)}")
    return args
