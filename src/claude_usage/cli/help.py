"""``--help`` and the usage line, made from the table in :mod:`.arguments`.

A module of its own so that a run that shows neither does not load them.
"""

from __future__ import annotations

import os

from claude_usage.cli.arguments import COMMANDS, PROG, Option


def _invocation(option: Option) -> str:
    return option.flag if option.metavar is None else f"{option.flag} {option.metavar}"


def usage_line(command: str) -> str:
    """``usage: claude-usage [-h] ...``, wrapped as argparse wraps it."""
    prog = f"{PROG} {command}".rstrip()
    parts = ["[-h]"]
    options = COMMANDS[command][2]
    grouped: set[str] = set()
    for option in options:
        if option.group:
            if option.group not in grouped:
                grouped.add(option.group)
                members = [_invocation(other) for other in options if other.group == option.group]
                parts.append(f"[{' | '.join(members)}]")
        else:
            parts.append(_invocation(option) if option.required else f"[{_invocation(option)}]")
    head = f"usage: {prog} "
    lines, line = [], head
    for part in parts:
        if len(line) + len(part) > 80 and line.strip() != head.strip():
            lines.append(line.rstrip())
            line = " " * len(head)
        line += part + " "
    lines.append(line.rstrip())
    if not command:
        lines.append(f"       {PROG} {{{','.join(name for name in COMMANDS if name)}}} ...")
    return "\n".join(lines) + "\n"


def help_text(command: str) -> str:
    _summary, description, options = COMMANDS[command]
    lines = [usage_line(command), description, ""]
    if not command:
        lines.append("commands (`COMMAND --help` for each):")
        lines.extend(f"  {name:<22}{summary}" for name, (summary, _, _) in COMMANDS.items() if name)
        lines.append("")
    lines.append("options:")
    for invocation, text in (("-h, --help", "show this help message and exit"), *((_invocation(o), o.help) for o in options)):
        if len(invocation) <= 20:
            lines.append(f"  {invocation:<22}{text}")
        else:  # too long to share a line with its help, as argparse lays it out
            lines.extend((f"  {invocation}", f"{'':24}{text}"))
    return "\n".join(lines) + "\n\n" + _epilog(command)


def _epilog(command: str) -> str:
    """The text after the options in ``command``'s help (built on demand: only --help needs it)."""
    import textwrap

    from claude_usage.cli.render import OTHER_FIELDS, WINDOW_FIELDS
    from claude_usage.windows import WINDOWS

    # The strings are flush left: their layout is the help's.
    window_keys = ", ".join(key for key, _label, _alias, _hours in WINDOWS)
    # From render's tables, so the list cannot fall behind the fields --format accepts.
    window_fields = " ".join(f"{{W{suffix}}}" for suffix in WINDOW_FIELDS)
    other_fields = textwrap.fill(" ".join(f"{{{name}}}" for name in OTHER_FIELDS), 86, initial_indent="  ", subsequent_indent="  ")
    window_names = f"""\
windows: the aliases {", ".join(alias for _key, _label, alias, _hours in WINDOWS if alias)}, the JSON keys
  {window_keys},
  or a per-model limit by its name as the default view shows it (opus=50)"""
    epilogs = {
        "": f"""\
examples:
  {PROG}                      bars, percentages, reset times and pace
  {PROG} --json | jq .five_hour.utilization
  {PROG} --statusline         a short line for Claude Code's status line or tmux
  {PROG} --format '5h {{five_hour}}% ({{five_hour_reset}}) 7d {{seven_day}}%'
  {PROG} --no-cache           ask the server now (still honours a rate-limit block)
  {PROG} check --max 5h=80    exit 20 when the 5-hour window is over 80%
  {PROG} wait --max 5h=80     block until it is at or under 80%

Results are cached for --max-age seconds in $CLAUDE_USAGE_CACHE_DIR, else
$XDG_CACHE_HOME/claude-usage, else ~/.cache/claude-usage, shared by all processes.

Accounts: --config-dir DIR (repeatable), else $CLAUDE_USAGE_ACCOUNTS (directories
separated by {os.pathsep}), names Claude Code config directories to show side by side,
each under its label; without either, the login of this environment.
`{PROG} accounts` lists them, or those it finds on this machine.

--format fields, W being one of
  {window_keys}:
  {window_fields}
{other_fields}
  (- when not reported; ? when sent by the server but not understood)

exit codes: 0 ok, 1 other error, 2 usage, 3 not logged in, 4 expired, 5 insufficient
scope, 6 unauthorized, 7 forbidden, 8 rate limited, 9 network, 10 server, 11 parse,
12 credential file unreadable, 13 keychain, 14 configuration, 20 over a limit (check),
24 timed out (wait)
""",
        "check": f"""\
{window_names}

examples:
  {PROG} check --max 5h=80 --max 7d=90 && run-the-batch
  {PROG} check --max 5h=80 --json
""",
        "watch": f"""\
examples:
  {PROG} watch
  {PROG} watch --interval 300 >> usage.log
  {PROG} watch --notify 80
""",
        "doctor": f"""\
examples:
  {PROG} doctor
  {PROG} doctor --online --json
""",
        "metrics": f"""\
examples:
  {PROG} metrics
  {PROG} metrics --prometheus --write TEXTFILE_DIR/claude_usage.prom
""",
        "serve": f"""\
examples:
  {PROG} serve                          http://127.0.0.1:9464/metrics
  {PROG} serve --listen 0.0.0.0:9464 --allow-remote
""",
        "history": f"""\
examples:
  {PROG} history                   charts of the 5-hour and 7-day windows
  {PROG} history --window 5h --since 6h
  {PROG} history --since 30d --csv > usage.csv

The history is $CLAUDE_USAGE_STATE_DIR/history.sqlite3, else under $XDG_STATE_HOME
or ~/.local/state (claude-usage/); CLAUDE_USAGE_HISTORY=0 stops recording.
""",
        "accounts": f"""\
examples:
  {PROG} accounts
  {PROG} --config-dir ~/.claude --config-dir ~/.claude-work
  export CLAUDE_USAGE_ACCOUNTS=~/.claude{os.pathsep}~/.claude-work
""",
        "wait": f"""\
{window_names}

examples:
  {PROG} wait --max 5h=80 && run-the-next-task
  {PROG} wait --max 5h=50 --max 7d=90 --timeout 7200
""",
    }
    return epilogs[command]
