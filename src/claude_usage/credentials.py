"""Where the Claude Code login is, and opening it (the C module reads; this module decides).

Locating is pure Python and cheap, so a cache hit can key on the source without loading the
native module; opening reads the secret in C and checks what can be checked before any request.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from claude_usage.errors import (
    ClaudeUsageError,
    ConfigurationError,
    CredentialsExpiredError,
    InsufficientScopeError,
    NoHomeDirError,
)

if TYPE_CHECKING:
    from claude_usage._native import CredentialInfo, NativeCredential

__all__ = ["CredentialSource", "KeychainMode", "locate_credentials", "open_credentials"]

TOKEN_VARIABLE = "CLAUDE_CODE_OAUTH_TOKEN"
REQUIRED_SCOPE = "user:profile"
KeychainMode = Literal["auto", "framework", "file"]
_KEYCHAIN_MODES: tuple[str, ...] = ("auto", "framework", "file")


@dataclass(frozen=True, slots=True)
class CredentialSource:
    """Where the login will be read from; never holds or derives from the token itself."""

    kind: Literal["environment", "file", "keychain"]
    location: str
    keychain_mode: KeychainMode = "file"

    @property
    def key(self) -> str:
        """A stable name for this source (the cache is keyed on it)."""
        return f"{self.kind}:{self.location}"


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
    """Decide where the login is: the environment override, the Keychain, or the file."""
    env = os.environ if environ is None else environ
    if env.get(TOKEN_VARIABLE):
        return CredentialSource("environment", TOKEN_VARIABLE)
    mode = keychain_mode(keychain, env)
    if (sys.platform if platform is None else platform) == "darwin" and mode != "file":
        from claude_usage.keychain import keychain_location

        return CredentialSource("keychain", keychain_location(env), mode)
    return CredentialSource("file", credential_file_path(env))


def open_credentials(
    source: CredentialSource,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> NativeCredential:
    """Read the login from ``source`` in C and refuse, before any request, what cannot work."""
    failure: ClaudeUsageError | None = None
    try:
        credential = _read(source, os.environ if environ is None else environ)
    except ClaudeUsageError as error:
        failure = error
    if failure is not None:
        # A traceback keeps each frame's locals for formatters that print them (Sentry,
        # capture_locals): the frames below and `environ` can hold CLAUDE_CODE_OAUTH_TOKEN, so
        # the error is raised afresh from this frame, without them.
        del environ
        raise failure.with_traceback(None)
    try:
        _check_usable(credential.info, clock)
    except BaseException:
        credential.close()
        raise
    return credential


def _read(source: CredentialSource, env: Mapping[str, str]) -> NativeCredential:
    from claude_usage import _native

    if source.kind == "environment":
        return _native.from_token(env.get(TOKEN_VARIABLE, ""))
    if source.kind == "keychain":
        from claude_usage.keychain import read_keychain

        return read_keychain(source.keychain_mode, env)
    return _native.read_file(source.location)


def _check_usable(info: CredentialInfo, clock: Callable[[], float]) -> None:
    if info.expires_at_ms is not None and info.expires_at_ms <= clock() * 1000:
        raise CredentialsExpiredError("the stored access token has expired")
    if info.scopes is not None and REQUIRED_SCOPE not in info.scopes:
        raise InsufficientScopeError(
            f"the stored token lacks the {REQUIRED_SCOPE} scope needed to read usage"
        )
