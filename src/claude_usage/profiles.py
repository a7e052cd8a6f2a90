"""Accounts (Claude Code's config directories, or profiles) side by side: which accounts to show,
what to call them, and where each one's login lives. ``claude_usage.accounts()`` is
:func:`accounts`; the module is named for the profiles it reads so that the function keeps the
package's name for it.

An account is a Claude Code config directory, as ``CLAUDE_CONFIG_DIR`` names one. Claude Code
keeps one login per directory: ``<dir>/.credentials.json`` on Linux, on macOS the Keychain item
named after a hash of the directory (see :mod:`claude_usage.keychain`). The default profile,
``~/.claude``, is the one Claude Code uses when ``CLAUDE_CONFIG_DIR`` is not set: naming that
directory means the default login (the plain Keychain item and ``~/.claude.json``), which is what
whoever writes ``--config-dir ~/.claude`` has in mind.

Nothing here reads a secret: discovery looks for files and, on macOS, lists Keychain item names by
their attributes; labels come from ``.claude.json``, which names the account but never
authenticates it.
"""

from __future__ import annotations

import os
import sys

from claude_usage._typing import TYPE_CHECKING
from claude_usage.credentials import TOKEN_VARIABLE, CredentialSource, locate_credentials
from claude_usage.errors import ClaudeUsageError, ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = ["ACCOUNTS_VARIABLE", "Account", "account_environ", "accounts", "configured_dirs", "discover", "label"]

ACCOUNTS_VARIABLE = "CLAUDE_USAGE_ACCOUNTS"
#: Environment variables that would make a named account read some other login.
_OVERRIDES = (TOKEN_VARIABLE, "CLAUDE_CONFIG_DIR", "CLAUDE_SECURESTORAGE_CONFIG_DIR")
#: ``.claude.json`` also holds the project history, which can grow large; a label is not worth more.
MAX_PROFILE_BYTES = 16 * 1024 * 1024


class Account:
    """One login to show: its config directory, a label for people, and where its login lives.

    ``email`` is the address ``.claude.json`` names (``None`` when it names none); ``label`` is
    that address, else the account's display name, else the directory, and never the address
    when the accounts were made with ``emails=False``.
    """

    __slots__ = ("config_dir", "label", "email", "source")

    def __init__(self, config_dir: str, label: str, source: CredentialSource, email: str | None = None) -> None:
        self.config_dir = config_dir
        self.label = label
        self.source = source
        self.email = email

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Account):
            return NotImplemented
        return (self.config_dir, self.label, self.source, self.email) == (other.config_dir, other.label, other.source, other.email)

    def __hash__(self) -> int:
        return hash((self.config_dir, self.label, self.source))

    def __repr__(self) -> str:
        return f"Account(config_dir={self.config_dir!r}, label={self.label!r}, source={self.source!r})"


def default_dir(environ: Mapping[str, str]) -> str | None:
    """``~/.claude``, the default profile's directory (``None`` without ``HOME``)."""
    home = environ.get("HOME")
    return os.path.join(home, ".claude") if home else None


def is_default(config_dir: str, environ: Mapping[str, str]) -> bool:
    default = default_dir(environ)
    return default is not None and os.path.normpath(config_dir) == os.path.normpath(default)


def account_environ(environ: Mapping[str, str], config_dir: str) -> dict[str, str]:
    """``environ`` as Claude Code would run with ``config_dir``: its ``CLAUDE_CONFIG_DIR`` (none
    for the default profile), and no token or storage override that would read another login."""
    changed = {name: value for name, value in environ.items() if name not in _OVERRIDES}
    if not is_default(config_dir, environ):
        changed["CLAUDE_CONFIG_DIR"] = config_dir
    return changed


def configured_dirs(config_dirs: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> list[str]:
    """The accounts asked for: ``config_dirs`` (``--config-dir``), else ``CLAUDE_USAGE_ACCOUNTS``
    (directories separated by ``os.pathsep``); ``~`` expanded, empty entries and repeats dropped.
    Empty when neither names one. Relative directories are refused: Claude Code names a
    directory's Keychain item after the text it was given, and a relative one depends on where
    the command runs."""
    env = os.environ if environ is None else environ
    given = list(config_dirs)
    where = "--config-dir"
    if not given:
        given = env.get(ACCOUNTS_VARIABLE, "").split(os.pathsep)
        where = ACCOUNTS_VARIABLE
    chosen: list[str] = []
    seen: set[str] = set()
    for entry in given:
        if not entry.strip():
            continue
        directory = _expand_user(entry, env)
        if not os.path.isabs(directory):
            raise ConfigurationError(f"{where}: {entry!r} is not an absolute directory", hint="write it as /path or ~/path")
        if "\0" in directory:
            raise ConfigurationError(f"{where}: a directory name cannot hold a NUL character")
        normal = os.path.normpath(directory)
        if normal not in seen:
            seen.add(normal)
            chosen.append(directory)
    return chosen


def _expand_user(path: str, environ: Mapping[str, str]) -> str:
    home = environ.get("HOME")
    if home and (path == "~" or path.startswith("~" + os.sep)):
        return home + path[1:]
    return path


def accounts(
    config_dirs: Iterable[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
    emails: bool = True,
    keychain: str | None = None,
    platform: str | None = None,
) -> list[Account]:
    """The accounts to show: those named (``config_dirs``, else ``CLAUDE_USAGE_ACCOUNTS``), else
    those found on this machine (:func:`discover`). ``emails=False`` keeps addresses out of the
    labels, for screens that are shared."""
    env = os.environ if environ is None else environ
    named = configured_dirs(config_dirs, env)
    if not named:
        return discover(environ=env, emails=emails, keychain=keychain, platform=platform)
    return _labelled([(directory, _source(directory, env, keychain, platform)) for directory in named], env, emails)


def _source(config_dir: str, environ: Mapping[str, str], keychain: str | None, platform: str | None) -> CredentialSource:
    return locate_credentials(environ=account_environ(environ, config_dir), keychain=keychain, platform=platform)


def discover(
    *,
    environ: Mapping[str, str] | None = None,
    emails: bool = True,
    keychain: str | None = None,
    platform: str | None = None,
) -> list[Account]:
    """The Claude Code logins on this machine, the default profile first: on Linux ``~/.claude``
    and the ``~/.claude-*`` and ``~/.claude_*`` directories holding a ``.credentials.json``; on
    macOS also those whose Keychain item exists (matched to a directory by the item's name). A
    Keychain item no directory matches cannot be shown (its directory is needed to name it) and
    is left out; :func:`unmatched_keychain_items` lists them."""
    env = os.environ if environ is None else environ
    candidates = _candidate_dirs(env)
    found = [directory for directory in candidates if os.path.isfile(os.path.join(directory, ".credentials.json"))]
    if (sys.platform if platform is None else platform) == "darwin":
        services = set(_keychain_services(env))
        for directory in candidates:
            # Claude Code hashes the directory as it was written, so ".../.claude-work/" (a
            # shell completion's trailing slash) has an item of its own: that spelling names it.
            written = next((text for text in _spellings(directory) if _service_for(text, env) in services), None)
            if written is not None and directory not in found:
                found.append(written)
        found.sort(key=lambda directory: candidates.index(directory.rstrip(os.sep) or os.sep))
    return _labelled([(directory, _source(directory, env, keychain, platform)) for directory in found], env, emails)


def unmatched_keychain_items(environ: Mapping[str, str] | None = None, *, platform: str | None = None) -> list[str]:
    """Claude Code Keychain items of this user that no candidate directory's name hashes to
    (macOS; empty elsewhere). Reads names only."""
    env = os.environ if environ is None else environ
    if (sys.platform if platform is None else platform) != "darwin":
        return []
    known = {_service_for(text, env) for directory in _candidate_dirs(env) for text in _spellings(directory)}
    return sorted(set(_keychain_services(env)) - known)


def _spellings(directory: str) -> tuple[str, str]:
    return (directory, directory + os.sep)


def _candidate_dirs(environ: Mapping[str, str]) -> list[str]:
    default = default_dir(environ)
    if default is None:
        return []
    home = os.path.dirname(default)
    try:
        names = sorted(name for name in os.listdir(home) if name.startswith((".claude-", ".claude_")))
    except OSError:
        names = []
    others = [os.path.join(home, name) for name in names if os.path.isdir(os.path.join(home, name))]
    return [default, *others] if os.path.isdir(default) else others


def _service_for(config_dir: str, environ: Mapping[str, str]) -> str:
    from claude_usage.keychain import service_name

    return service_name(account_environ(environ, config_dir))


def _keychain_services(environ: Mapping[str, str]) -> list[str]:
    from claude_usage.keychain import installed_services

    try:
        return installed_services(environ)
    except ClaudeUsageError:
        return []  # a locked or unavailable Keychain: the directories still tell what they can


def _labelled(found: Sequence[tuple[str, CredentialSource]], environ: Mapping[str, str], emails: bool) -> list[Account]:
    made = [Account(directory, label, source, email) for directory, source in found for label, email in (_label_and_email(directory, environ, emails),)]
    labels = [account.label for account in made]
    # Two directories logged in to one account (or without names) still need telling apart.
    return [
        Account(account.config_dir, f"{account.label} ({account.config_dir})", account.source, account.email)
        if labels.count(account.label) > 1 and account.label != account.config_dir
        else account
        for account in made
    ]


def label(config_dir: str, environ: Mapping[str, str] | None = None, *, emails: bool = True) -> str:
    """What to call the account of ``config_dir``: the email address ``.claude.json`` names, else
    its display name, else the directory (never the address with ``emails=False``)."""
    return _label_and_email(config_dir, os.environ if environ is None else environ, emails)[0]


def _label_and_email(config_dir: str, environ: Mapping[str, str], emails: bool) -> tuple[str, str | None]:
    profile = _profile(config_dir, environ)
    email = profile.get("emailAddress")
    email = email.strip() if isinstance(email, str) and email.strip() else None
    name = profile.get("displayName")
    name = name.strip() if isinstance(name, str) and name.strip() else None
    shown = (email if emails else None) or name or config_dir
    return _printable(shown), email


def _printable(text: str) -> str:
    # A label comes from a file anyone's tooling may write: no terminal control characters.
    return "".join(character if character.isprintable() else "?" for character in text)[:200]


def _profile(config_dir: str, environ: Mapping[str, str]) -> dict[str, object]:
    """``oauthAccount`` from the account's ``.claude.json`` (in the home directory for the
    default profile), or an empty dict when it is missing, unreadable or not understood."""
    home = environ.get("HOME", "")
    path = os.path.join(home, ".claude.json") if is_default(config_dir, environ) else os.path.join(config_dir, ".claude.json")
    import json
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return {}
    try:
        # A FIFO or a device in its place must neither block nor feed us forever.
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}
        with os.fdopen(fd, "rb", closefd=False) as file:
            raw = file.read(MAX_PROFILE_BYTES + 1)
        if len(raw) > MAX_PROFILE_BYTES:
            return {}
        document = json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return {}
    finally:
        os.close(fd)
    account = document.get("oauthAccount") if isinstance(document, dict) else None
    return account if isinstance(account, dict) else {}
