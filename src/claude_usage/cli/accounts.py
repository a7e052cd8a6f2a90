"""``claude-usage accounts``: the accounts the other commands show, and where each login lives."""

from __future__ import annotations

import os

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli import write
from claude_usage.errors import EXIT_OK, CredentialsNotFoundError

if TYPE_CHECKING:
    from typing import Any

    from claude_usage.profiles import Account
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments


def list_accounts(args: Arguments, context: Context) -> int:
    """Exit 0 with at least one account to show, else 3 (not logged in), as the default view would."""
    from claude_usage.profiles import ACCOUNTS_VARIABLE, accounts, configured_dirs, unmatched_keychain_items

    configured = bool(configured_dirs(args.config_dir, context.environ))
    emails = args.label_email != "never"
    found = accounts(args.config_dir, environ=context.environ, emails=emails)
    unmatched = [] if configured else unmatched_keychain_items(context.environ)
    if args.json:
        import json

        document = {
            "configured": configured,
            "accounts": [_account_object(account, emails) for account in found],
            "unmatched_keychain_items": unmatched,
        }
        write(context.out, json.dumps(document) + "\n")
        return EXIT_OK if found else CredentialsNotFoundError.exit_code
    lines = []
    if configured:
        lines.append("Accounts named by " + ("--config-dir:" if args.config_dir else f"{ACCOUNTS_VARIABLE}:"))
    elif found:
        lines.append("No accounts are named; found on this machine:")
    else:
        lines.append("No accounts are named, and no Claude Code login was found on this machine.")
    from claude_usage.cli.render import printable

    rows = [(printable(account.label, 60), account.config_dir, _where(account)) for account in found]
    width = max((len(label) for label, _, _ in rows), default=0)
    lines += [f"  {label:<{width}}  {directory}\n  {'':<{width}}  login: {where}" for label, directory, where in rows]
    lines += [f"  Keychain item {service!r}: no directory under ~ hashes to it; name its directory with --config-dir" for service in unmatched]
    if not configured and len(found) > 1:
        joined = os.pathsep.join(account.config_dir for account in found)
        lines.append(f"To show them all side by side: export {ACCOUNTS_VARIABLE}='{joined}'")
    write(context.out, "\n".join(lines) + "\n")
    return EXIT_OK if found else CredentialsNotFoundError.exit_code


def _where(account: Account) -> str:
    source = account.source
    if source.kind == "file":
        present = "" if os.path.isfile(source.location) else " (missing)"
        return f"{source.location}{present}"
    return f"Keychain item {source.location}"


def _account_object(account: Account, emails: bool) -> dict[str, Any]:
    source = account.source
    return {
        "account": account.label,
        "config_dir": account.config_dir,
        "email": account.email if emails else None,
        "login": {"kind": source.kind, "location": source.location},
    }
