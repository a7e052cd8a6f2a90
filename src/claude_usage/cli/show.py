"""The default command: usage as bars (the default view), ``--json``, ``--format`` or ``--statusline``."""

from __future__ import annotations

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli import iso_utc, write
from claude_usage.cli.arguments import UsageError
from claude_usage.errors import EXIT_OK, ClaudeUsageError

if TYPE_CHECKING:
    from claude_usage.profiles import Account
    from claude_usage.cache import CacheResult, Observation
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments
    from claude_usage.cli.stdin import Session


def show(args: Arguments, context: Context) -> int:
    if args.format is not None:
        _check_template(args.format)
    # Claude Code's numbers are bridged into the shared cache and shown; the rest of the data
    # then lasts --rest-max-age (see the README, "Status lines").
    session = context.session()
    accounts = context.accounts(args)
    if session is not None and accounts is not None:
        # The session is the login Claude Code runs as: only that account's, if one is named.
        own = context.own_account(accounts)
        sessions = {account.config_dir: session if account is own else None for account in accounts}
    else:
        sessions = {account.config_dir: session for account in accounts or ()}
    if accounts is not None and len(accounts) > 1:
        return _show_accounts(args, context, sessions, accounts)
    account = None if accounts is None else accounts[0]
    session = session if account is None else sessions[account.config_dir]
    result = _result(args, context, None if session is None else session.observation, account)
    context.usable(result, args.strict)
    write(context.out, json_document(result) if args.json else _view(args, result, context, session, account))
    context.warn_of_problems(result)
    context.warn_if_stale(result)
    return EXIT_OK


def _result(args: Arguments, context: Context, observation: Observation | None, account: Account | None) -> CacheResult:
    with context.client(args.timeout, None if account is None else account.config_dir) as client:
        return client.get_result(
            max_age=args.max_age,
            force=args.no_cache or args.force,
            ignore_block=args.force,
            decode=not (args.json or args.statusline),  # both can do without the models
            observation=observation,
            observed_max_age=args.rest_max_age,
        )


def _show_accounts(args: Arguments, context: Context, sessions: dict[str, Session | None], accounts: list[Account]) -> int:
    """One block (or line, or JSON object) per account under its label; an account that fails
    is shown failing in its place. Exit 0 when every account had data to show, else the exit
    status of the first that had none."""
    import json

    from claude_usage.cli.fanout import accounts_document, each_account

    def fetch(account: Account) -> CacheResult:
        session = sessions[account.config_dir]
        result = _result(args, context, None if session is None else session.observation, account)
        return context.usable(result, args.strict)

    answers = each_account(accounts, fetch, args.timeout)
    if args.json:
        write(context.out, accounts_document(answers, lambda result: json.loads(json_document(result))))
    else:
        views = [_account_view(args, context, sessions[account.config_dir], account, answer) for account, answer in answers]
        # The default view's blocks are set apart by a blank line; lines are lines.
        write(context.out, ("" if args.statusline or args.format is not None else "\n").join(views))
    status = EXIT_OK
    for account, answer in answers:
        if isinstance(answer, ClaudeUsageError):
            context.warn_of_failure(answer, account.label)
            status = status or answer.exit_code
        else:
            context.warn_of_problems(answer, account.label)
            context.warn_if_stale(answer, account.label)
    return status


def _account_view(
    args: Arguments, context: Context, session: Session | None, account: Account, answer: CacheResult | ClaudeUsageError
) -> str:
    from claude_usage.cli import render
    from claude_usage.cli.fanout import heading

    if not isinstance(answer, ClaudeUsageError):
        text = _view(args, answer, context, session, account)
        if args.statusline:
            return f"{render.printable(account.label)}: {text}"
        return text if args.format is not None else f"{heading(account, context, args.color)}\n{text}"
    if args.format is not None:
        shown = dict.fromkeys(render.FORMAT_FIELDS, render.MISSING)
        shown["account"] = account.label
        return args.format.format_map(shown) + "\n"
    if args.statusline:
        return render.failed_statusline(account.label, answer) + "\n"
    return f"{heading(account, context, args.color)}\nUnavailable: {render.error_line(answer)}\n"


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


def _view(args: Arguments, result: CacheResult, context: Context, session: Session | None, account: Account | None) -> str:
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
        if "{account" in args.format:  # the label may read .claude.json: only when asked for
            fields["account"] = render.printable(_label(account, context), 200)
        return args.format.format_map(fields) + "\n"
    if args.statusline:
        return render.statusline(usage, fields, style) + "\n"
    return render.default_view(usage, result, now, style)


def _label(account: Account | None, context: Context) -> str:
    """The account's label; without one named, this environment's login's."""
    if account is not None:
        return account.label
    from claude_usage.profiles import default_dir, label
    from claude_usage.cli.render import MISSING
    from claude_usage.credentials import TOKEN_VARIABLE

    if context.environ.get(TOKEN_VARIABLE):
        return TOKEN_VARIABLE
    directory = context.environ.get("CLAUDE_CONFIG_DIR") or default_dir(context.environ)
    return MISSING if directory is None else label(directory, context.environ)


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
