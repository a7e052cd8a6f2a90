"""The only module that touches cffi: it calls the C reader and maps its status codes to exceptions.

Everything above this module sees typed Python; the ``Any`` of cffi stays here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from claude_usage._lib import ffi, lib
from claude_usage.errors import (
    CredentialError,
    CredentialsExpiredError,
    CredentialsNotFoundError,
    CredentialsPermissionError,
    CredentialsUnreadableError,
    InsufficientScopeError,
    KeychainAccessDeniedError,
    KeychainError,
    KeychainInteractionRequiredError,
    KeychainUnavailableError,
    ParseError,
)

__all__ = [
    "KEYCHAIN_AUTO",
    "KEYCHAIN_FRAMEWORK",
    "CredentialInfo",
    "NativeCredential",
    "from_token",
    "harden_process",
    "keychain_services",
    "parse_json",
    "process_dumpable",
    "read_file",
    "read_keychain",
    "read_keychain_item",
    "secure_memory_status",
    "wipe_bytes",
]

#: Modes of read_keychain: locate, then read through /usr/bin/security (never prompts),
#: or read in-process with Security.framework (macOS may show an Allow/Deny panel).
KEYCHAIN_AUTO: int = lib.CU_KEYCHAIN_AUTO
KEYCHAIN_FRAMEWORK: int = lib.CU_KEYCHAIN_FRAMEWORK

# Resolved once: ffi.new("cu_error *") would parse the type name on every read.
_ERROR_TYPE = ffi.typeof("cu_error *")
# read_file's cu_error, one per thread and reused: allocating one cost more than the rest of a
# read's Python side. A thread is in one native call at a time, and the C side clears it first.
_per_thread = threading.local()


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """What the login says about itself, without the token."""

    expires_at_ms: int | None
    scopes: tuple[str, ...] | None
    subscription_type: str | None
    rate_limit_tier: str | None


class NativeCredential:
    """A login held in a C buffer; closing it (or leaving the ``with`` block) wipes and frees it."""

    __slots__ = ("_cdata", "_info")

    def __init__(self, cdata: Any) -> None:
        # A plain pointer freed by close() or __del__: ffi.gc would add a wrapper object and a
        # release() to every read, the hottest path of a status line.
        self._cdata: Any = cdata
        self._info: CredentialInfo | None = None

    @property
    def info(self) -> CredentialInfo:
        """Expiry, scopes and plan, read from C on first use (the hot path only needs the header)."""
        if self._info is None:
            self._info = _info(self._held())
        return self._info

    def _held(self) -> Any:
        cdata = self._cdata
        if cdata is None:
            raise ValueError("credential already released")
        return cdata

    def authorization(self) -> bytes:
        """The ``Authorization`` header value, a fresh object the caller wipes once it is sent."""
        # ffi.string copies straight into a new bytes object: exactly one Python copy, where
        # `b"Bearer " + ffi.buffer(...)[:]` would leave a second, unwipeable one behind.
        return ffi.string(lib.cu_credential_authorization(self._held()))  # type: ignore[no-any-return]

    def close(self) -> None:
        """Wipe and free the C buffers now, not whenever the garbage collector runs."""
        cdata = self._cdata
        if cdata is not None:
            self._cdata = None
            lib.cu_credential_free(cdata)

    def __del__(self, _free: Any = lib.cu_credential_free) -> None:
        # Bound at definition: module globals may already be gone when this runs at exit.
        if self._cdata is not None:
            _free(self._cdata)

    def __enter__(self) -> NativeCredential:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "released" if self._cdata is None else "held"
        return f"<NativeCredential {state}>"


def wipe_bytes(secret: bytes | bytearray) -> None:
    """Overwrite a secret's bytes with zeros in place, ``bytes`` included.

    Only for objects this library created and alone refers to (the header value from
    ``authorization()``, and the header line and request head that http.client builds from it;
    see ``_http``). Writing into a ``bytes`` breaks its immutability, which is safe exactly
    when nothing else can observe the object: such a bytes is never hashed or used as a dict
    key, and is dropped right after. CPython shares only the empty and the one-byte bytes
    objects (singletons), so those are never written to.
    """
    if len(secret) > 1:
        ffi.memmove(ffi.from_buffer(secret), bytes(len(secret)), len(secret))


def read_file(path: str, now_ms: int = 0, required_scope: bytes | None = None) -> NativeCredential:
    """Read, parse and validate a credential file in C; refuse a login expired at ``now_ms``,
    or one that lists scopes without ``required_scope``."""
    try:
        err = _per_thread.error
    except AttributeError:
        err = _per_thread.error = ffi.new(_ERROR_TYPE)
    raw_path = path.encode("utf-8", "surrogateescape")
    return _held_or_raise(lib.cu_read_credential_file(raw_path, now_ms, required_scope or ffi.NULL, err), err, path)


def parse_json(data: bytes) -> NativeCredential:
    """Parse a credential document held in memory (used by tests and the fuzzer's seeds)."""
    err = ffi.new(_ERROR_TYPE)
    return _held_or_raise(lib.cu_parse_credential_json(data, len(data), err), err, "credential data")


def from_token(token: str) -> NativeCredential:
    """Validate a bare token (``CLAUDE_CODE_OAUTH_TOKEN``) and hold it like a stored one."""
    # Checked rather than caught: a UnicodeEncodeError would carry the whole token in its args,
    # and `raise ... from None` still keeps it as the ParseError's __context__.
    if not token.isascii():
        raise ParseError("CLAUDE_CODE_OAUTH_TOKEN holds characters a token cannot have", hint=_TOKEN_HINT)
    raw = token.encode("ascii")
    err = ffi.new(_ERROR_TYPE)
    try:
        return _held_or_raise(lib.cu_credential_from_token(raw, len(raw), err), err, "CLAUDE_CODE_OAUTH_TOKEN")
    finally:
        wipe_bytes(raw)  # our encoded copy; the str in os.environ is beyond reach (SECURITY.md)


def read_keychain(
    mode: int,
    service: str,
    account: str,
    timeout_ms: int,
    now_ms: int = 0,
    required_scope: bytes | None = None,
) -> NativeCredential:
    """Read the login from the generic password (``service``, ``account``) (macOS), and only
    that item; refused like :func:`read_file`."""
    credential = _read_keychain(mode, service, account, timeout_ms, now_ms, required_scope, absent_ok=False)
    assert credential is not None
    return credential


def read_keychain_item(
    mode: int,
    service: str,
    account: str,
    timeout_ms: int,
    now_ms: int = 0,
    required_scope: bytes | None = None,
) -> NativeCredential | None:
    """:func:`read_keychain`, but ``None`` when the Keychain holds no such item (the caller
    has somewhere else to look); every other failure raises as there."""
    return _read_keychain(mode, service, account, timeout_ms, now_ms, required_scope, absent_ok=True)


def _read_keychain(
    mode: int,
    service: str,
    account: str,
    timeout_ms: int,
    now_ms: int,
    required_scope: bytes | None,
    *,
    absent_ok: bool,
) -> NativeCredential | None:
    err = ffi.new(_ERROR_TYPE)
    cdata = lib.cu_read_credential_keychain(
        mode,
        service.encode("utf-8", "surrogateescape"),
        account.encode("utf-8", "surrogateescape"),
        timeout_ms,
        now_ms,
        required_scope or ffi.NULL,
        err,
    )
    if not cdata and absent_ok and err.status == lib.CU_ERR_NOT_FOUND:
        return None
    return _held_or_raise(cdata, err, f"{_KEYCHAIN} ({service}, account {account})")


def keychain_services(account: str) -> list[str]:
    """The Claude Code Keychain services (``Claude Code-credentials`` and
    ``Claude Code-credentials-<8 hex>``) holding an item of ``account``, sorted, each once (macOS).

    Reads attributes only, without UI: no secret, no ``/usr/bin/security``, no prompt; a locked
    keychain raises :class:`KeychainInteractionRequiredError`. No item is ``[]``.
    """
    listing = _services_listing(account.encode("utf-8", "surrogateescape"), f"{_KEYCHAIN} (account {account})")
    return sorted(set(listing.decode("ascii").split("\0")[:-1]))


# Room for a few dozen names at the first try; the C side says how much a bigger list needs.
_SERVICES_FIRST_BYTES = 1024
# Each retry asks for exactly what the previous call needed: only items added in between need another.
_SERVICES_ATTEMPTS = 4


def _services_listing(account: bytes, where: str) -> bytes:
    """cu_keychain_services's NUL-terminated names, the buffer grown until they fit."""
    err = ffi.new(_ERROR_TYPE)
    used = ffi.new("size_t *")
    size = _SERVICES_FIRST_BYTES
    for _ in range(_SERVICES_ATTEMPTS):
        out = ffi.new("char[]", size)
        status = lib.cu_keychain_services(account, out, size, used, err)
        if status == lib.CU_OK:
            return ffi.unpack(out, used[0])  # type: ignore[no-any-return]
        if status != lib.CU_ERR_TOO_LARGE:
            raise _error(status, err, where)
        size = max(int(used[0]), size)
    raise KeychainError(f"{where} kept gaining items while it was listed; try again")


_KEYCHAIN = "the login Keychain"
_TOKEN_HINT = "the token may only hold A-Z a-z 0-9 - . _ ~ + / and trailing =; run `claude` to log in again"


def _held_or_raise(cdata: Any, err: Any, where: str) -> NativeCredential:
    """What every reader returns: the login it got, or the exception its status means."""
    if not cdata:
        raise _error(err.status, err, where)
    return NativeCredential(cdata)


def _text(pointer: Any, length: Any) -> str:
    # ffi.unpack copies straight into bytes; bytes(ffi.buffer(...)) built a buffer object first.
    return ffi.unpack(pointer, length[0]).decode("utf-8")  # type: ignore[no-any-return]


def _info(cdata: Any) -> CredentialInfo:
    length = ffi.new("size_t *")
    ms = ffi.new("int64_t *")
    expires = int(ms[0]) if lib.cu_credential_expires_at(cdata, ms) else None
    scopes: tuple[str, ...] | None = None
    if lib.cu_credential_has_scopes(cdata):
        scopes = tuple(
            [
                _text(lib.cu_credential_scope(cdata, i, length), length)
                for i in range(lib.cu_credential_scope_count(cdata))
            ]
        )
    subscription = lib.cu_credential_subscription_type(cdata, length)
    subscription_text = None if subscription == ffi.NULL else _text(subscription, length)
    tier = lib.cu_credential_rate_limit_tier(cdata, length)
    tier_text = None if tier == ffi.NULL else _text(tier, length)
    return CredentialInfo(expires, scopes, subscription_text, tier_text)


# cu_status -> (exception class, message template): the one place that knows the C codes. The
# template is filled by str.format with where, errno_text (": <strerror>" when the C side saw a
# failing system call), limit, depth, offset, field, tool and exit_code; a status not listed is
# "unexpected". CU_ERR_KEYCHAIN has its own table below (_KEYCHAIN_ERRORS).
_STATUS_ERRORS: dict[int, tuple[Callable[..., BaseException], str]] = {
    lib.CU_ERR_NO_MEMORY: (MemoryError, "out of memory while reading credentials"),
    lib.CU_ERR_NOT_FOUND: (CredentialsNotFoundError, "no Claude Code credentials at {where}"),
    lib.CU_ERR_EXPIRED: (CredentialsExpiredError, "the access token in {where} has expired"),
    lib.CU_ERR_MISSING_SCOPE: (InsufficientScopeError, "the access token in {where} lacks the scope needed to read usage"),
    lib.CU_ERR_NOT_LOGGED_IN: (CredentialsNotFoundError, "{where} holds no Claude login (not logged in)"),
    lib.CU_ERR_PERMISSION: (CredentialsPermissionError, "cannot read {where}{errno_text}"),
    lib.CU_ERR_IS_DIRECTORY: (CredentialsUnreadableError, "{where} is a directory, not a credential file"),
    lib.CU_ERR_NOT_REGULAR: (CredentialsUnreadableError, "{where} is not a regular file"),
    lib.CU_ERR_IO: (CredentialsUnreadableError, "cannot read {where}{errno_text}"),
    lib.CU_ERR_TOO_LARGE: (ParseError, "{where} is larger than {limit} bytes; refused without reading it"),
    lib.CU_ERR_EMPTY: (ParseError, "{where} is empty"),
    lib.CU_ERR_SYNTAX: (ParseError, "{where} is not valid JSON (at byte {offset})"),
    lib.CU_ERR_TOO_DEEP: (ParseError, "{where} nests deeper than {depth} levels"),
    lib.CU_ERR_NOT_OBJECT: (ParseError, "{where} is JSON but not an object"),
    lib.CU_ERR_WRONG_TYPE: (ParseError, "{where}: field {field!r} has the wrong type"),
    lib.CU_ERR_BAD_TOKEN: (ParseError, "{where}: the access token is malformed"),
    lib.CU_ERR_TIMEOUT: (KeychainUnavailableError, "{where}: {tool} did not answer in time and was stopped"),
    lib.CU_ERR_SPAWN: (KeychainUnavailableError, "{where}: cannot run {tool}{errno_text}"),
    lib.CU_ERR_TOOL_FAILED: (KeychainUnavailableError, "{where}: {tool} failed with exit code {exit_code}"),
    lib.CU_ERR_UNSUPPORTED: (CredentialsUnreadableError, "{where}: not supported on this platform"),
}
_UNEXPECTED: tuple[Callable[..., BaseException], str] = (CredentialsUnreadableError, "{where}: unexpected native status {status}")
# Statuses whose error carries a hint beyond its class's default.
_STATUS_HINTS: dict[int, str] = {lib.CU_ERR_BAD_TOKEN: _TOKEN_HINT}


def _error(status: int, err: Any, where: str) -> BaseException:
    """The exception a cu_status means (MemoryError for CU_ERR_NO_MEMORY, else a ClaudeUsageError).

    Returned, never raised here: the caller raises it.
    """
    if status == lib.CU_ERR_KEYCHAIN:
        return _keychain_error(int(err.os_status), bool(err.interactive), where)
    kind, template = _STATUS_ERRORS.get(status, _UNEXPECTED)
    message = template.format(
        where=where,
        status=status,
        errno_text=f": {os.strerror(err.sys_errno)}" if err.sys_errno else "",
        limit=lib.cu_max_file_bytes(),
        depth=lib.cu_max_depth(),
        offset=err.offset,
        field=ffi.string(err.field).decode("ascii", "replace") if status == lib.CU_ERR_WRONG_TYPE else "",
        tool=_TOOL,
        exit_code=err.exit_code,
    )
    hint = _STATUS_HINTS.get(status)
    return kind(message, hint=hint) if hint is not None else kind(message)


_TOOL = "/usr/bin/security"
_ITEM_NOT_FOUND = -25300
_AUTH_FAILED = -25293

_UNLOCK_HINT = (
    "unlock the login keychain (`security unlock-keychain ~/Library/Keychains/login.keychain-db`, "
    "or log in at the Mac's screen) and run again"
)
# OSStatus -> (exception, what happened, what to do). The security tool's exit codes were
# turned into these OSStatus values in C, next to the spawn; a status not listed is a KeychainError.
_KEYCHAIN_ERRORS: dict[int, tuple[type[KeychainError], str, str]] = {
    -25308: (
        KeychainInteractionRequiredError,
        "is locked or may not ask for a password here (interaction not allowed)",
        _UNLOCK_HINT + "; over SSH, unlock it first in the same session",
    ),
    -25315: (
        KeychainInteractionRequiredError,
        "needs the user to confirm (interaction required)",
        "run from a logged-in desktop session (Terminal on the Mac), or " + _UNLOCK_HINT,
    ),
    -25320: (
        KeychainInteractionRequiredError,
        "cannot be read while the Mac is in dark wake (asleep with the screen off)",
        "wake the Mac and run again",
    ),
    -128: (
        KeychainAccessDeniedError,
        "was not read: the macOS dialog was cancelled",
        "run again and unlock or allow when macOS asks, or unlock the keychain first",
    ),
    -25293: (
        KeychainAccessDeniedError,
        "refused access (wrong keychain password, or the item's access list said no)",
        "unlock the login keychain with its password, and check the item's Access Control "
        "in Keychain Access; `claude` rewrites the item when you log in again",
    ),
    -25291: (KeychainUnavailableError, "is not available", KeychainUnavailableError.default_hint),
    -25294: (KeychainUnavailableError, "does not exist", KeychainUnavailableError.default_hint),
    -25307: (KeychainUnavailableError, "has no default keychain", KeychainUnavailableError.default_hint),
}


def _keychain_error(os_status: int, interactive: bool, where: str) -> CredentialError:
    """Map a Keychain OSStatus; ``interactive``: the failing call was allowed to show UI.

    errSecAuthFailed means a refusal only where UI could appear (a framework read, or the
    security tool); from the no-UI locate step it means a panel would have been needed.
    """
    if os_status == _ITEM_NOT_FOUND:
        return CredentialsNotFoundError(f"no Claude Code credentials in {where}")
    if os_status == _AUTH_FAILED and not interactive:
        os_status_text = f"{where} needs user interaction to be read (OSStatus {os_status})"
        return KeychainInteractionRequiredError(os_status_text, os_status=os_status)
    known = _KEYCHAIN_ERRORS.get(os_status)
    if known is None:
        return KeychainError(f"{where} failed (OSStatus {os_status})", os_status=os_status)
    kind, what, hint = known
    return kind(f"{where} {what} (OSStatus {os_status})", os_status=os_status, hint=hint)


def harden_process() -> None:
    """cu_harden_process (cu_harden.c): no core dumps, and on Linux no same-user ptrace."""
    err = ffi.new(_ERROR_TYPE)
    if lib.cu_harden_process(err) != lib.CU_OK:
        raise OSError(err.sys_errno, f"cannot harden the process: {os.strerror(err.sys_errno)}")


def process_dumpable() -> int:
    """1 or 0 as the kernel says, -1 where it cannot be asked."""
    return int(lib.cu_process_dumpable())


def secure_memory_status() -> dict[str, int]:
    """cu_secure_status's fields (cu_api.h says what each means), as plain integers."""
    info = ffi.new("cu_secure_info *")
    lib.cu_secure_status(info)
    return {name: int(getattr(info, name)) for name, _field in ffi.typeof("cu_secure_info").fields}
