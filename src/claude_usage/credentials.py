"""Where the Claude Code login is, and opening it (the C module reads; this module decides).

Locating is pure Python and cheap, so a cache hit can key on the source without loading the
native module; opening reads the secret in C and checks what can be checked before any request.
"""

from __future__ import annotations

import os
import sys
import time

from claude_usage.errors import (
    ClaudeUsageError,
    ConfigurationError,
    CredentialsNotFoundError,
    NoHomeDirError,
)
from claude_usage._typing import TYPE_CHECKING

# No dataclass below either: the command's cache hit locates the credentials, and importing
# dataclasses would cost it more than the rest of its work.
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, Literal, TypeAlias

    from claude_usage._native import NativeCredential

    KeychainMode: TypeAlias = Literal["auto", "framework", "file"]
    SourceKind: TypeAlias = Literal["environment", "file", "keychain"]

__all__ = ["CredentialSource", "KeychainMode", "locate_credentials", "open_credentials"]

TOKEN_VARIABLE = "CLAUDE_CODE_OAUTH_TOKEN"
REQUIRED_SCOPE = "user:profile"
_REQUIRED_SCOPE_BYTES = REQUIRED_SCOPE.encode("ascii")
_KEYCHAIN_MODES: tuple[str, ...] = ("auto", "framework", "file")


class CredentialSource:
    """Where the login will be read from; never holds or derives from the token itself.

    Immutable, compared and hashed by value.
    """

    __slots__ = ("kind", "location", "keychain_mode")

    kind: SourceKind
    location: str
    keychain_mode: KeychainMode

    def __init__(self, kind: SourceKind, location: str, keychain_mode: KeychainMode = "file") -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "location", location)
        object.__setattr__(self, "keychain_mode", keychain_mode)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"CredentialSource is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"CredentialSource is immutable; cannot delete {name!r}")

    def _fields(self) -> tuple[str, str, str]:
        return (self.kind, self.location, self.keychain_mode)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, CredentialSource)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self) -> tuple[type[CredentialSource], tuple[str, str, str]]:
        # pickle and copy would otherwise restore the slots through the refusing __setattr__.
        return (CredentialSource, self._fields())

    def __repr__(self) -> str:
        return f"CredentialSource(kind={self.kind!r}, location={self.location!r}, keychain_mode={self.keychain_mode!r})"

    @property
    def key(self) -> str:
        """A stable name for this source (the cache is keyed on it)."""
        return f"{self.kind}:{self.location}"


def __getattr__(name: str) -> Any:
    # KeychainMode stays importable at run time without importing typing for everyone.
    if name == "KeychainMode":
        from typing import Literal

        return Literal["auto", "framework", "file"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def credential_file_path(environ: Mapping[str, str]) -> str:
    """``$CLAUDE_CONFIG_DIR/.credentials.json`` if set and non-empty, else ``~/.claude/``."""
    config_dir = environ.get("CLAUDE_CONFIG_DIR")
    if config_dir:
        return os.path.join(config_dir, ".credentials.json")
    home = environ.get("HOME")
    if not home:
        raise NoHomeDirError("HOME is not set, so the credential file cannot be found")
    return os.path.join(home, ".claude", ".credentials.json")


def keychain_mode(requested: str | None, environ: Mapping[str, str]) -> KeychainMode:
    """The argument wins, then ``CLAUDE_USAGE_KEYCHAIN``, then ``"auto"``."""
    mode = requested if requested is not None else (environ.get("CLAUDE_USAGE_KEYCHAIN") or "auto")
    if mode not in _KEYCHAIN_MODES:
        raise ConfigurationError(
            f"keychain mode must be one of {', '.join(_KEYCHAIN_MODES)}, not {mode!r}"
        )
    return mode  # type: ignore[return-value]


def locate_credentials(
    *,
    environ: Mapping[str, str] | None = None,
    keychain: str | None = None,
    platform: str | None = None,
) -> CredentialSource:
    """Decide where the login is: the environment override, the Keychain, or the file.

    On macOS the automatic mode reads the credential file when the Keychain holds no item
    (as Claude Code does); its location names both, the Keychain item first.
    """
    env = os.environ if environ is None else environ
    if env.get(TOKEN_VARIABLE):
        return CredentialSource("environment", TOKEN_VARIABLE)
    mode = keychain_mode(keychain, env)
    if (sys.platform if platform is None else platform) == "darwin" and mode != "file":
        from claude_usage.keychain import keychain_location

        location = keychain_location(env)
        fallback = _fallback_file(env) if mode == "auto" else None
        if fallback is not None:
            location = f"{location}, else {fallback}"
        return CredentialSource("keychain", location, mode)
    return CredentialSource("file", credential_file_path(env))


def _fallback_file(env: Mapping[str, str]) -> str | None:
    """The credential file the automatic mode falls back to, or None without HOME."""
    try:
        return credential_file_path(env)
    except NoHomeDirError:
        return None


def open_credentials(
    source: CredentialSource,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> NativeCredential:
    """Read the login from ``source`` in C and refuse, before any request, what cannot work."""
    failure: ClaudeUsageError | None = None
    try:
        now_ms = int(clock() * 1000)
        # A stored login's expiry and scopes are checked in C as it is read; a bare token has neither.
        if source.kind == "file":  # the usual source, read here without another frame
            return (_read_file or _load_file_reader())(source.location, now_ms, _REQUIRED_SCOPE_BYTES)
        return _read_elsewhere(source, os.environ if environ is None else environ, now_ms)
    except ClaudeUsageError as error:
        failure = error
    # A traceback keeps each frame's locals for formatters that print them (Sentry,
    # capture_locals): the frames below and `environ` can hold CLAUDE_CODE_OAUTH_TOKEN, so
    # the error is raised afresh from this frame, without them.
    del environ
    raise failure.with_traceback(None)


# The native file reader, imported by the first read (a cache hit never loads cffi) and kept
# here: an `import` statement costs ~0.5 µs on every call even once the module is loaded.
_read_file: Callable[[str, int, bytes], NativeCredential] | None = None


def _load_file_reader() -> Callable[[str, int, bytes], NativeCredential]:
    global _read_file
    from claude_usage._native import read_file

    _read_file = read_file
    return read_file


def _read_elsewhere(source: CredentialSource, env: Mapping[str, str], now_ms: int) -> NativeCredential:
    if source.kind == "environment":
        from claude_usage._native import from_token

        return from_token(env.get(TOKEN_VARIABLE, ""))
    from claude_usage.keychain import keychain_location, read_keychain, read_keychain_item

    if source.keychain_mode != "auto":
        return read_keychain(source.keychain_mode, env, now_ms=now_ms, required_scope=_REQUIRED_SCOPE_BYTES)
    credential = read_keychain_item("auto", env, now_ms=now_ms, required_scope=_REQUIRED_SCOPE_BYTES)
    if credential is not None:
        return credential
    # No item (never made, or deleted to stop prompts): Claude Code reads the file then, and so do we.
    where = f"the login Keychain ({keychain_location(env)})"
    path = _fallback_file(env)
    if path is None:
        raise CredentialsNotFoundError(f"no Claude Code credentials in {where}, and HOME is not set")
    try:
        return (_read_file or _load_file_reader())(path, now_ms, _REQUIRED_SCOPE_BYTES)
    except CredentialsNotFoundError as error:
        raise CredentialsNotFoundError(f"no Claude Code credentials in {where}, and {error.message}") from None
