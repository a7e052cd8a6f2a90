"""The default command: usage as bars (the default view), ``--json``, ``--format`` or ``--statusline``."""

from __future__ import annotations

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli import render
from claude_usage.cli.arguments import UsageError
from claude_usage.errors import EXIT_OK

if TYPE_CHECKING:
    from claude_usage.cache import CacheResult
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments


def show(args: Arguments, context: Context) -> int:
    if args.format is not None:
        _check_template(args.format)
    with context.client(args.timeout) as client:
        result = client.get_result(
            max_age=args.max_age, force=args.no_cache or args.force, ignore_block=args.force, decode=not args.json
        )
    context.usable(result, args.strict)
    style = render.style(args.color, context.environ, context.out)
    render.write(context.out, _render(args, result, style))
    context.warn_if_stale(result)
    return EXIT_OK


def _render(args: Arguments, result: CacheResult, style: render.Style) -> str:
    if args.json:
        return render.json_document(result) + "\n"
    from datetime import datetime, timezone

    usage = result.usage
    assert usage is not None
    now = datetime.fromtimestamp(result.now, timezone.utc)
    fields = render.fields(usage, result, now, style)
    if args.format is not None:
        return args.format.format_map(fields) + "\n"
    if args.statusline:
        return render.statusline(usage, fields, style) + "\n"
    return render.default_view(usage, result, now, style)


def _check_template(template: str) -> None:
    """Refuse unknown fields, attribute/index lookups and bad format specs before any request."""
    import string

    known = render.FORMAT_FIELDS
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise UsageError(f"--format template is malformed: {exc}") from None
    for _literal, name, spec, _conversion in parsed:
        if name is None:
            continue
        if name not in known:
            raise UsageError(f"unknown field {{{name}}} in --format; known fields: {', '.join(known)}")
        if spec and "{" in spec:
            raise UsageError(f"nested fields are not supported in --format: {{{name}:{spec}}}")
    try:
        template.format_map(dict.fromkeys(known, render.MISSING))
    except (ValueError, IndexError, KeyError) as exc:
        raise UsageError(f"--format template is malformed: {exc}") from None
