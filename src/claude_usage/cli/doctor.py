"""``claude-usage doctor``: every step between the user and their numbers, each with its fix.

Nothing secret is shown: no token, and proxy URLs lose their user and password. With several
accounts each has its own section (its login, its cache entry, its block), and what they share
(the environment, memory, trust store) has one of its own.
"""

from __future__ import annotations

import os
import stat

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli import render, write
from claude_usage.errors import EXIT_OK, EXIT_OTHER, ClaudeUsageError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from claude_usage.profiles import Account
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments
    from claude_usage.client import UsageClient
    from claude_usage.credentials import CredentialSource

OK, WARNING, FAILED = "ok", "warning", "failed"
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


class Finding:
    __slots__ = ("step", "status", "detail", "fix")

    def __init__(self, step: str, status: str, detail: str, fix: str = "") -> None:
        self.step = step
        self.status = status
        self.detail = detail
        self.fix = fix


def doctor(args: Arguments, context: Context) -> int:
    accounts = context.accounts(args)
    if accounts is not None and len(accounts) > 1:
        return _doctor_accounts(args, context, accounts)
    account = None if accounts is None else accounts[0]
    findings: list[Finding] = []
    with context.client(args.timeout, None if account is None else account.config_dir) as client:
        _login_steps(client, _environ_of(account, context), context.now(), findings)
        _machine_steps(client, context.environ, findings)
        _cache_steps(client, args.online, context.now(), findings)
    failed = _failed(findings)
    if args.json:
        import json

        write(context.out, json.dumps(_document(findings)) + "\n")
    else:
        write(context.out, "".join(_line(finding) for finding in findings))
    return EXIT_OTHER if failed else EXIT_OK


def _doctor_accounts(args: Arguments, context: Context, accounts: list[Account]) -> int:
    """A section per account (its login, its cache entry, its block; concurrently, within one
    deadline), then one for what every account shares: the environment, memory, trust store."""
    from claude_usage.cli.fanout import accounts_document, each_account, heading

    def examine(account: Account) -> list[Finding]:
        findings: list[Finding] = []
        with context.client(args.timeout, account.config_dir) as client:
            _login_steps(client, _environ_of(account, context), context.now(), findings)
            _cache_steps(client, args.online, context.now(), findings)
        return findings

    answers = each_account(accounts, examine, args.timeout)
    shared: list[Finding] = []
    with context.client(args.timeout) as client:
        _machine_steps(client, context.environ, shared)
    # An account whose checks could not finish (its thread outran the deadline) has failed.
    sections = [(account, [_failure("doctor", answer)] if isinstance(answer, ClaudeUsageError) else answer) for account, answer in answers]
    failed = _failed(shared) or any(_failed(findings) for _, findings in sections)
    if args.json:
        import json

        document = json.loads(accounts_document(answers, _document))
        write(context.out, json.dumps({"ok": not failed, **document, "checks": _document(shared)["checks"]}) + "\n")
    else:
        text = "".join(f"{heading(account, context)}\n{''.join(map(_line, findings))}\n" for account, findings in sections)
        shared_heading = render.paint(_SHARED, "1", render.style("auto", context.environ, context.out))
        write(context.out, f"{text}{shared_heading}\n{''.join(map(_line, shared))}")
    return EXIT_OTHER if failed else EXIT_OK


#: The heading of the section every account shares.
_SHARED = "every account"


def _environ_of(account: Account | None, context: Context) -> Mapping[str, str]:
    """The environment the account's login is read in (this one's, without an account named)."""
    if account is None:
        return context.environ
    from claude_usage.profiles import account_environ

    return account_environ(context.environ, account.config_dir)


def _login_steps(client: UsageClient, environ: Mapping[str, str], now: float, findings: list[Finding]) -> None:
    """Where the account's login is, the file holding it, what it says, and its config directory."""
    source = _source(client, findings)
    if source is not None:
        _file(source, environ, findings)
        _login(client, now, findings)
    _config_dir(environ, findings)


def _machine_steps(client: UsageClient, environ: Mapping[str, str], findings: list[Finding]) -> None:
    """What every account shares: the overrides and proxies, the memory, the trust store."""
    _environment(environ, findings)
    _memory(environ, findings)
    _trust_store(client, findings)


def _cache_steps(client: UsageClient, online: bool, now: float, findings: list[Finding]) -> None:
    """The account's cache entry and block, and with ``online`` the server's answer."""
    blocked = _cache(client, now, findings)
    if online:
        _online(client, blocked, findings)


def _failed(findings: list[Finding]) -> bool:
    return any(finding.status == FAILED for finding in findings)


def _document(findings: list[Finding]) -> dict[str, Any]:
    checks = [{"step": f.step, "status": f.status, "detail": f.detail, "fix": f.fix or None} for f in findings]
    return {"ok": not _failed(findings), "checks": checks}


def _line(finding: Finding) -> str:
    text = f"{finding.status:<8} {finding.step}: {render.printable(finding.detail, 300)}\n"
    return text + (f"{'':9}fix: {finding.fix}\n" if finding.fix else "")


def _failure(step: str, error: ClaudeUsageError) -> Finding:
    return Finding(step, FAILED, f"{error.message} [{error.kind}]", error.hint)


def _source(client: UsageClient, findings: list[Finding]) -> CredentialSource | None:
    try:
        source = client.credential_source()
    except ClaudeUsageError as error:
        findings.append(_failure("credential source", error))
        return None
    why = {
        "environment": "CLAUDE_CODE_OAUTH_TOKEN is set, and it wins over the stored login",
        "keychain": "macOS: the login Keychain item Claude Code uses",
        "file": "the credential file Claude Code writes",
    }[source.kind]
    findings.append(Finding("credential source", OK, f"{source.kind}: {source.location} ({why})"))
    return source


def _file(source: CredentialSource, environ: Mapping[str, str], findings: list[Finding]) -> None:
    """Owner and mode of the credential file (read by C later; this only looks at it)."""
    if source.kind == "environment" or (source.kind == "keychain" and ", else " not in source.location):
        return  # no file is read (the Keychain-only mode)
    path = source.location.rpartition(", else ")[2]
    try:
        info = os.stat(path)
    except FileNotFoundError:
        status = WARNING if source.kind == "keychain" else FAILED  # the Keychain item may still be there
        findings.append(Finding("credential file", status, f"{path} does not exist", "run `claude` and log in"))
        return
    except OSError as error:
        findings.append(Finding("credential file", FAILED, f"{path}: {error.strerror}", "check the path's permissions"))
        return
    mode = stat.S_IMODE(info.st_mode)
    detail = f"{path}, mode {mode:04o}, owner uid {info.st_uid}"
    if not stat.S_ISREG(info.st_mode):
        findings.append(Finding("credential file", FAILED, f"{path} is not a regular file", "remove it and run `claude` to log in"))
    elif hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        findings.append(Finding("credential file", WARNING, f"{detail}: not yours", f"chown {os.geteuid()} {path}"))
    elif mode & 0o077:
        findings.append(Finding("credential file", WARNING, f"{detail}: others may read the login", f"chmod 600 {path}"))
    else:
        findings.append(Finding("credential file", OK, detail))


def _login(client: UsageClient, now: float, findings: list[Finding]) -> None:
    try:
        info = client.read_login()
    except ClaudeUsageError as error:
        findings.append(_failure("login", error))
        return
    if info.expires_at_ms is None:
        expiry = "no expiry recorded"
    else:
        expiry = f"the token expires in {render.human_duration(info.expires_at_ms / 1000 - now)}"
    findings.append(Finding("login", OK, f"parses; {expiry}"))
    if info.scopes is None:
        findings.append(Finding("scopes", WARNING, "the login lists no scopes (a bare token): the server will tell"))
    else:
        findings.append(Finding("scopes", OK, f"include user:profile ({', '.join(info.scopes)})"))
    plan = " / ".join(part for part in (info.subscription_type, info.rate_limit_tier) if part) or "not recorded"
    findings.append(Finding("plan", OK, plan))


def _config_dir(environ: Mapping[str, str], findings: list[Finding]) -> None:
    from claude_usage.keychain import service_name

    config_dir = environ.get("CLAUDE_CONFIG_DIR")
    where = f"CLAUDE_CONFIG_DIR={config_dir}" if config_dir else "CLAUDE_CONFIG_DIR not set (~/.claude)"
    findings.append(Finding("configuration directory", OK, f"{where}; Keychain item name {service_name(environ)}"))


def _environment(environ: Mapping[str, str], findings: list[Finding]) -> None:
    overrides = sorted(name for name in environ if name.startswith("CLAUDE_USAGE_"))
    if overrides:
        shown = ", ".join(f"{name}={environ[name]}" for name in overrides)
        test_only = "CLAUDE_USAGE_TEST_NOW" in overrides
        findings.append(
            Finding("overrides", WARNING if test_only else OK, shown, "unset CLAUDE_USAGE_TEST_NOW (tests only)" if test_only else "")
        )
    else:
        findings.append(Finding("overrides", OK, "no CLAUDE_USAGE_* variables"))
    proxies = [f"{name}={_without_userinfo(environ[name])}" for name in _PROXY_VARIABLES if environ.get(name)]
    findings.append(Finding("proxy", OK, ", ".join(proxies) if proxies else "no proxy variables"))


def _without_userinfo(url: str) -> str:
    """A proxy URL with any ``user:password@`` replaced: it can hold a password."""
    scheme, separator, rest = url.rpartition("://")
    host = rest.rpartition("@")[2]
    return f"{scheme}{separator}{'***@' if '@' in rest else ''}{host}"


def _memory(environ: Mapping[str, str], findings: list[Finding]) -> None:
    """How the token is kept in memory (SECURITY.md, "Memory"): what the guarded allocator got."""
    from claude_usage.hardening import NO_HARDENING_VARIABLE, security_status

    status = security_status()
    kept = [
        name
        for name, held in (("guard pages", status.guard_pages), ("locked out of swap", status.locked),
                           ("no core dumps", status.excluded_from_dumps), ("zeroed in forked children", status.wiped_on_fork))
        if held
    ]
    if not status.locked:
        fix = "raise the locked-memory limit (`ulimit -l`, or LimitMEMLOCK= in a systemd unit)"
        findings.append(Finding("memory", WARNING, f"{', '.join(kept)}; not locked: {status.lock_error}", fix))
    else:
        findings.append(Finding("memory", OK, ", ".join(kept)))
    if environ.get(NO_HARDENING_VARIABLE, "") not in ("", "0"):
        findings.append(
            Finding("process hardening", WARNING, f"{NO_HARDENING_VARIABLE} is set: core dumps and same-user debuggers "
                    "can reach the token", f"unset {NO_HARDENING_VARIABLE} once debugging is done")
        )


def _trust_store(client: UsageClient, findings: list[Finding]) -> None:
    try:
        findings.append(Finding("trust store", OK, client.trust_store()))
    except ClaudeUsageError as error:
        findings.append(_failure("trust store", error))


def _cache(client: UsageClient, now: float, findings: list[Finding]) -> bool:
    """The cache's findings; whether a rate-limit block is active."""
    state = client.cache_state()
    if state is None or not state.usable:
        directory = "no cache directory (HOME unset)" if state is None or state.path is None else os.path.dirname(state.path)
        findings.append(
            Finding("cache", FAILED, f"{directory} cannot be used: every call sends a request",
                    "make it a directory you own and can write (mode 0700), or set CLAUDE_USAGE_CACHE_DIR")
        )
        return False
    assert state.path is not None
    directory = os.path.dirname(state.path)
    findings.append(Finding("cache", OK, f"{directory}, mode {stat.S_IMODE(os.stat(directory).st_mode):04o}"))
    blocked = state.blocked_until is not None and state.blocked_until > now
    if blocked:
        assert state.blocked_until is not None
        left = render.human_duration(state.blocked_until - now)
        findings.append(
            Finding("rate-limit block", WARNING, f"no request is sent for another {left}", "wait; `--force` breaks it but spends the budget")
        )
    else:
        findings.append(Finding("rate-limit block", OK, "none"))
    if state.last_error_kind is not None:
        assert state.last_error_at is not None
        ago = render.human_age(now - state.last_error_at)
        findings.append(Finding("last error", WARNING, f"{state.last_error_message} [{state.last_error_kind}], {ago} ago"))
    if state.fetched_at is None:
        findings.append(Finding("data", OK, "nothing cached yet"))
    else:
        findings.append(Finding("data", OK, f"fetched {render.human_age(now - state.fetched_at)} ago"))
    if state.problems:
        # The views show the rest; this names what they leave out, and that a newer version may read it.
        findings.append(
            Finding("data problems", WARNING, f"not understood, left out: {'; '.join(state.problems)}",
                    "upgrade claude-usage, or report the problem lines (they hold no value from the server)")
        )
    return blocked


def _online(client: UsageClient, blocked: bool, findings: list[Finding]) -> None:
    if blocked:
        findings.append(Finding("request", WARNING, "not sent: a rate-limit block is active"))
        return
    result = client.get_result(force=True)
    if result.error is not None and result.requested:
        findings.append(_failure("request", result.error))
    elif result.error is not None:
        findings.append(Finding("request", WARNING, f"not sent: {result.error.message}"))
    else:
        findings.append(Finding("request", OK, "the server answered with usage data"))
