"""Where Claude Code keeps its login in the macOS Keychain, and which way to read it.

The names follow Claude Code exactly: one service name for the environment (a config
directory gets its own item, named after a hash of the directory as written, and the
default profile's item is never read in its place: that would show another account's
usage), and the account name Claude Code would use.
Naming is pure Python and does not load the native module; only reading does.
The mode, and the file fallback of the automatic mode, are decided in
claude_usage.credentials.
"""

from __future__ import annotations

import os

from claude_usage.errors import ConfigurationError
from claude_usage._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Final

    from claude_usage._native import NativeCredential

__all__ = [
    "DEFAULT_TIMEOUT_MS",
    "LEGACY_SERVICE",
    "account_name",
    "installed_services",
    "keychain_location",
    "read_keychain",
    "read_keychain_item",
    "service_name",
]

LEGACY_SERVICE: Final = "Claude Code-credentials"
DEFAULT_ACCOUNT: Final = "claude-code-user"
DEFAULT_TIMEOUT_MS: Final = 5000
# Claude Code's rule for the account: ^[A-Za-z0-9._-]+$ (a set test: importing re costs more).
_ACCOUNT_CHARACTERS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def service_name(environ: Mapping[str, str]) -> str:
    """The one Keychain service Claude Code uses in this environment; no other is ever read."""
    config_dir = environ.get("CLAUDE_SECURESTORAGE_CONFIG_DIR")
    if config_dir is None:  # defined-but-empty wins too, and means the legacy name
        config_dir = environ.get("CLAUDE_CONFIG_DIR")
    if not config_dir:
        return LEGACY_SERVICE
    # Imported here: hashlib loads libcrypto (~9 ms, ~4 MB), and only a config directory needs it.
    import hashlib
    import unicodedata

    # Node (Claude Code) decodes the environment as UTF-8, replacing invalid bytes.
    as_node_sees_it = config_dir.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    normalised = unicodedata.normalize("NFC", as_node_sees_it)
    digest = hashlib.sha256(normalised.encode("utf-8")).hexdigest()
    return f"{LEGACY_SERVICE}-{digest[:8]}"


def account_name(environ: Mapping[str, str]) -> str:
    """The item's account as Claude Code names it: ``$USER``, else the OS user name, used only
    if it matches ``^[A-Za-z0-9._-]+$``; otherwise (``first.last@corp.com``, spaces, accents,
    no name at all) ``claude-code-user``."""
    user = environ.get("USER")
    if not user:
        try:
            import pwd

            user = pwd.getpwuid(os.getuid()).pw_name
        except (ImportError, KeyError):
            return DEFAULT_ACCOUNT
    if user and _ACCOUNT_CHARACTERS.issuperset(user):
        return user
    return DEFAULT_ACCOUNT


def installed_services(environ: Mapping[str, str]) -> list[str]:
    """The Claude Code services that hold an item of this environment's account (one per profile:
    the legacy name, and one per config directory's hash), sorted (macOS).

    Reads no secret: one attribute-only Keychain query that may not show UI, nothing spawned. A
    locked keychain is :class:`~claude_usage.errors.KeychainInteractionRequiredError`, never a
    prompt; no item is ``[]``; off macOS, :class:`~claude_usage.errors.CredentialsUnreadableError`.
    """
    from claude_usage import _native

    return _native.keychain_services(account_name(environ))


def keychain_location(environ: Mapping[str, str]) -> str:
    """Names the one item to read, for display and as a cache key; reads nothing."""
    return f"{service_name(environ)} (account {account_name(environ)})"


def read_keychain(
    mode: str,
    environ: Mapping[str, str],
    *,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    now_ms: int = 0,
    required_scope: bytes | None = None,
) -> NativeCredential:
    """Read Claude Code's login from the Keychain in ``mode`` ``"auto"`` or ``"framework"``.

    Both locate the item by its attributes without UI, so a locked keychain is an error,
    never an unlock dialog. ``"auto"`` then has ``/usr/bin/security`` (trusted by the item)
    print the secret, killed after ``timeout_ms``; ``"framework"`` reads in-process, and
    macOS may ask the user. A login expired at ``now_ms``, or listing scopes without
    ``required_scope``, is refused; no such item is ``CredentialsNotFoundError``.
    """
    from claude_usage import _native

    return _native.read_keychain(_native_mode(mode), service_name(environ), account_name(environ), timeout_ms,
                                 now_ms, required_scope)


def read_keychain_item(
    mode: str,
    environ: Mapping[str, str],
    *,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    now_ms: int = 0,
    required_scope: bytes | None = None,
) -> NativeCredential | None:
    """:func:`read_keychain`, but ``None`` when the Keychain holds no such item."""
    from claude_usage import _native

    return _native.read_keychain_item(_native_mode(mode), service_name(environ), account_name(environ),
                                      timeout_ms, now_ms, required_scope)


def _native_mode(mode: str) -> int:
    from claude_usage import _native

    native_modes = {"auto": _native.KEYCHAIN_AUTO, "framework": _native.KEYCHAIN_FRAMEWORK}
    try:
        return native_modes[mode]
    except KeyError:
        raise ConfigurationError(
            f"keychain mode {mode!r} does not read the Keychain; use 'auto' or 'framework'"
        ) from None
