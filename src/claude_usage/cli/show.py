"""The default command: usage as bars (the default view), ``--json``, ``--format`` or ``--statusline``."""

from __future__ import annotations

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli import iso_utc, write
from claude_usage.cli.arguments import UsageError
from claude_usage.errors import EXIT_OK

if TYPE_CHECKING:
    from claude_usage.cache import CacheResult
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments
    from claude_usage.cli.stdin import Session


def show(args: Arguments, context: Context) -> int:
    if args.format is not None:
        _check_template(args.format)
    # Claude Code's numbers are bridged into the shared cache and shown; the rest of the data
    # then lasts --rest-max-age (see the README, "Status lines").
    session = context.session()
    with context.client(args.timeout) as client:
        result = client.get_result(
            max_age=args.max_age,
            force=args.no_cache or args.force,
            ignore_block=args.force,
            decode=not (args.json or args.statusline),  # both can do without the models
            observation=None if session is None else session.observation,
            observed_max_age=args.rest_max_age,
        )
    context.usable(result, args.strict)
    write(context.out, json_document(result) if args.json else _view(args, result, context, session))
    context.warn_of_problems(result)
    context.warn_if_stale(result)
    return EXIT_OK


def json_document(result: CacheResult) -> str:
    """The ``to_dict()`` form (as cached: no ``UsageData`` is built) plus the cache's fields."""
    import json

    assert result.data is not None and result.fetched_at is not None
    document = dict(result.data)
    document["fetched_at"] = iso_utc(result.fetched_at)
    document["age_seconds"] = round(result.age_seconds or 0.0)
    document["stale"] = result.stale
    document["problems"] = list(result.problems)  # from the cache file: the models stay unloaded
    document["sources"] = {
        key: {"source": source, "observed_at": None if at is None else iso_utc(at)}
        for key, value in result.data.items()
        if key != "extra_usage" and isinstance(value, dict) and "utilization" in value
        for source, at in (result.source_of(key),)
    }
    return json.dumps(document) + "\n"


def _view(args: Arguments, result: CacheResult, context: Context, session: Session | None) -> str:
    # Imported here: the --json cache hit needs neither the models nor the presentation.
    from claude_usage.cli import render

    style = render.style(args.color, context.environ, context.out)
    if args.statusline:
        line = render.light_statusline(result, style)
        if line is not None:
            return line + "\n"
    from datetime import datetime, timezone

    usage = result.usage
    assert usage is not None
    now = datetime.fromtimestamp(result.now, timezone.utc)
    fields = render.fields(usage, result, now, style, session)
    if args.format is not None:
        return args.format.format_map(fields) + "\n"
    if args.statusline:
        return render.statusline(usage, fields, style) + "\n"
    return render.default_view(usage, result, now, style)


def _check_template(template: str) -> None:
    """Refuse unknown fields, attribute/index lookups and bad format specs before any request."""
    import string

    from claude_usage.cli import render

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
