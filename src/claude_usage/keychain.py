"""Where Claude Code keeps its login in the macOS Keychain, and which way to read it.

The names follow Claude Code: a config directory gets its own item, named after a
hash of the directory exactly as written; the legacy name is probed after it.
Naming is pure Python and does not load the native module; only reading does.
The mode itself is chosen in claude_usage.credentials (``keychain_mode``).
"""

from __future__ import annotations

import os

from claude_usage.errors import ConfigurationError

# Not typing.TYPE_CHECKING: on macOS the command's cache hit names the item (keychain_location),
# and importing typing would cost it ~10 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Final

    from claude_usage._native import NativeCredential

__all__ = [
    "DEFAULT_TIMEOUT_MS",
    "LEGACY_SERVICE",
    "account_name",
    "keychain_location",
    "read_keychain",
    "service_names",
]

LEGACY_SERVICE: Final = "Claude Code-credentials"
DEFAULT_ACCOUNT: Final = "claude-code-user"
DEFAULT_TIMEOUT_MS: Final = 5000


def service_names(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The Keychain service names to probe, in order: the config directory's own, then the legacy one."""
    config_dir = environ.get("CLAUDE_SECURESTORAGE_CONFIG_DIR")
    if config_dir is None:  # defined-but-empty wins too, and means the legacy name
        config_dir = environ.get("CLAUDE_CONFIG_DIR")
    if not config_dir:
        return (LEGACY_SERVICE,)
    # Imported here: hashlib loads libcrypto (~9 ms, ~4 MB), and only a config directory needs it.
    import hashlib
    import unicodedata

    # Node (Claude Code) decodes the environment as UTF-8, replacing invalid bytes.
    as_node_sees_it = config_dir.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    normalised = unicodedata.normalize("NFC", as_node_sees_it)
    digest = hashlib.sha256(normalised.encode("utf-8")).hexdigest()
    return (f"{LEGACY_SERVICE}-{digest[:8]}", LEGACY_SERVICE)


def account_name(environ: Mapping[str, str]) -> str:
    """The item's account: ``$USER``, else the OS user name, else ``claude-code-user``."""
    user = environ.get("USER")
    if user:
        return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name or DEFAULT_ACCOUNT
    except (ImportError, KeyError):
        return DEFAULT_ACCOUNT


def keychain_location(environ: Mapping[str, str]) -> str:
    """Names the item(s) to read, for display and as a cache key; reads nothing."""
    return f"{', '.join(service_names(environ))} (account {account_name(environ)})"


def read_keychain(
    mode: str,
    environ: Mapping[str, str],
    *,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    now_ms: int = 0,
    required_scope: bytes | None = None,
) -> NativeCredential:
    """Read Claude Code's login from the Keychain in ``mode`` ``"auto"`` or ``"framework"``.

    ``"auto"`` never prompts: it locates the item by its attributes, then has
    ``/usr/bin/security`` (trusted by the item) print the secret, killed after
    ``timeout_ms``. ``"framework"`` reads in-process, and macOS may ask the user.
    A login expired at ``now_ms``, or listing scopes without ``required_scope``, is refused.
    """
    from claude_usage import _native

    native_modes = {"auto": _native.KEYCHAIN_AUTO, "framework": _native.KEYCHAIN_FRAMEWORK}
    try:
        native_mode = native_modes[mode]
    except KeyError:
        raise ConfigurationError(
            f"keychain mode {mode!r} does not read the Keychain; use 'auto' or 'framework'"
        ) from None
    return _native.read_keychain(
        native_mode, service_names(environ), account_name(environ), timeout_ms, now_ms, required_scope
    )
