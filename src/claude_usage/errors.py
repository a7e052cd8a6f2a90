"""The exceptions of claude-usage: one base class, a stable ``kind`` and a ``hint`` on each.

No message ever holds a token or a byte of a credential file; paths and field names are fine.
"""

from __future__ import annotations

import re

from claude_usage._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, ClassVar

__all__ = [
    "ApiError",
    "ClaudeUsageError",
    "ConfigurationError",
    "CredentialError",
    "CredentialsExpiredError",
    "CredentialsNotFoundError",
    "CredentialsPermissionError",
    "CredentialsUnreadableError",
    "ForbiddenError",
    "InsufficientScopeError",
    "KeychainAccessDeniedError",
    "KeychainError",
    "KeychainInteractionRequiredError",
    "KeychainUnavailableError",
    "NetworkError",
    "NoHomeDirError",
    "ParseError",
    "RateLimitedError",
    "ServerError",
    "UnauthorizedError",
    "UnexpectedStatusError",
    "UnknownWindowError",
    "WaitTimeoutError",
]


# A server (or a proxy in between) that echoes the request could put the token into our text.
_TOKEN_LIKE = r"sk-ant-[A-Za-z0-9._~+/=-]*|Bearer\s+\S+"


# The command's exit statuses that are no error kind's (each error class names its own below).
EXIT_OK = 0
EXIT_OTHER = 1
EXIT_USAGE = 2
#: `claude-usage check`: a window is over its limit.
EXIT_OVER_LIMIT = 20
EXIT_INTERRUPTED = 130


def redact_secrets(text: str) -> str:
    """Server-supplied ``text`` with every token-shaped run replaced, for use in a message."""
    # re caches the compiled pattern; compiling at import would cost every command ~0.4 ms.
    return re.sub(_TOKEN_LIKE, "[redacted]", text, flags=re.IGNORECASE)


def _rebuild(cls: type[ClaudeUsageError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ClaudeUsageError(Exception):
    """Base class of every error this library raises."""

    kind: ClassVar[str] = "Error"
    #: The command's exit status for this kind; a subclass without its own takes its parent's.
    exit_code: ClassVar[int] = EXIT_OTHER
    default_hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint: str = self.default_hint if hint is None else hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only extras, so the default (cls(*args)) would lose them.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigurationError(ClaudeUsageError, ValueError):
    """An argument or environment variable of this library has a value it refuses."""

    kind = "Configuration"
    exit_code = 14
    default_hint = "check the arguments and CLAUDE_USAGE_* environment variables"


class ParseError(ClaudeUsageError):
    """A credential file or a response body is not what it should be."""

    kind = "Parse"
    exit_code = 11
    default_hint = "the data is malformed; if it is the credential file, run `claude` to log in again"


class CredentialError(ClaudeUsageError):
    """The stored Claude Code login cannot be used."""

    kind = "Credential"


class CredentialsNotFoundError(CredentialError):
    """No login is stored: Claude Code was never logged in here, or logged out."""

    kind = "NotFound"
    exit_code = 3
    default_hint = "run `claude` and log in"


class CredentialsExpiredError(CredentialError):
    """The stored access token has expired; only Claude Code may refresh it."""

    kind = "Expired"
    exit_code = 4
    default_hint = "run `claude` to log in again (it refreshes the token)"


class CredentialsPermissionError(CredentialError):
    """The credential file exists but this user may not read it."""

    kind = "Permission"
    exit_code = 12
    default_hint = "check the credential file's permissions (it should be readable by you, mode 0600)"


class CredentialsUnreadableError(CredentialError):
    """The credential path is not a regular file, or reading it failed."""

    kind = "Unreadable"
    exit_code = 12
    default_hint = "the credential path must be the regular file Claude Code wrote; check it"


class NoHomeDirError(CredentialError):
    """``HOME`` is unset or empty, so the credential file cannot be located."""

    kind = "NoHomeDir"
    exit_code = 3
    default_hint = "set HOME (or CLAUDE_CONFIG_DIR)"


class KeychainError(CredentialError):
    """The macOS Keychain refused to give the login; ``os_status`` is its OSStatus, if it gave one."""

    kind = "Keychain"
    exit_code = 13
    default_hint = (
        "open Keychain Access and check the 'Claude Code-credentials' item, or run `claude` to log in again"
    )

    def __init__(self, message: str, *, os_status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.os_status = os_status


class KeychainInteractionRequiredError(KeychainError):
    """Reading needs a confirmation or an unlock that a non-interactive call may not ask for."""

    kind = "KeychainInteractionRequired"
    default_hint = (
        "unlock the login keychain (`security unlock-keychain`) or run from a logged-in desktop session"
    )


class KeychainAccessDeniedError(KeychainError):
    """The user (or the item's access list) refused this process when macOS asked."""

    kind = "KeychainAccessDenied"
    default_hint = 'click "Allow" when macOS asks, or use keychain="auto", which reads without asking'


class KeychainUnavailableError(KeychainError):
    """No usable keychain, or ``/usr/bin/security`` could not be run or did not answer in time."""

    kind = "KeychainUnavailable"
    default_hint = "check that the login keychain exists (Keychain Access) and that /usr/bin/security works"


class ApiError(ClaudeUsageError):
    """The usage endpoint could not be reached or refused the request."""

    kind = "Api"


class UnauthorizedError(ApiError):
    """401: the token is expired or revoked."""

    kind = "Unauthorized"
    exit_code = 6
    default_hint = "run `claude` to log in again"


class ForbiddenError(ApiError):
    """403: the token may not read usage."""

    kind = "Forbidden"
    exit_code = 7
    default_hint = "log in with `claude` using a Claude subscription account"


class InsufficientScopeError(CredentialError, ForbiddenError):
    """The token lacks the ``user:profile`` scope (known before sending, or said by a 403)."""

    kind = "InsufficientScope"
    exit_code = 5
    default_hint = (
        "this token cannot read usage (tokens from `claude setup-token` are inference-only); "
        "run `claude` and log in"
    )


class RateLimitedError(ApiError):
    """429: too many requests; ``retry_after`` is in seconds when the server said."""

    kind = "RateLimited"
    exit_code = 8
    default_hint = "wait before asking again; cache results (the endpoint allows about 30 requests an hour)"

    def __init__(self, message: str, *, retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the server failed; usually transient."""

    kind = "Server"
    exit_code = 10
    default_hint = "the service had a problem; try again in a minute"

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class UnexpectedStatusError(ApiError):
    """Any other status than 200, redirects included (they are never followed)."""

    kind = "UnexpectedStatus"
    exit_code = 10
    default_hint = "the endpoint answered in an unexpected way; check the API URL"

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class NetworkError(ApiError):
    """Connecting, TLS, or the exchange failed, or the call's deadline passed."""

    kind = "Network"
    exit_code = 9
    default_hint = "check the network connection (and HTTPS_PROXY, if you use a proxy)"


class UnknownWindowError(ConfigurationError):
    """A usage window was named that is neither a known window, an alias, nor in the data."""

    kind = "UnknownWindow"
    exit_code = EXIT_USAGE
    default_hint = "name a window as in the JSON (five_hour, seven_day, seven_day_sonnet...), 5h, 7d, or a model's name"


class WaitTimeoutError(ClaudeUsageError):
    """The deadline of a wait passed while a window was still over its limit."""

    kind = "WaitTimeout"
    exit_code = 24
    default_hint = "wait longer (--timeout), or raise the limit"
