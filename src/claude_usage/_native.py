"""The only module that touches cffi: it calls the C reader and maps its status codes to exceptions.

Everything above this module sees typed Python; the ``Any`` of cffi stays here.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

from claude_usage._lib import ffi, lib
from claude_usage.errors import (
    ClaudeUsageError,
    CredentialsNotFoundError,
    CredentialsPermissionError,
    CredentialsUnreadableError,
    ParseError,
)

__all__ = ["CredentialInfo", "NativeCredential", "from_token", "parse_json", "read_file"]


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """What the login says about itself, without the token."""

    expires_at_ms: int | None
    scopes: tuple[str, ...] | None
    subscription_type: str | None
    rate_limit_tier: str | None


class NativeCredential:
    """A login held in a C buffer; closing it (or leaving the ``with`` block) wipes and frees it."""

    __slots__ = ("_cdata", "info")

    def __init__(self, cdata: Any) -> None:
        self._cdata: Any = ffi.gc(cdata, lib.cu_credential_free)
        self.info = _info(cdata)

    def authorization(self) -> bytes:
        """The ``Authorization`` header value; the caller drops it as soon as it is sent."""
        if self._cdata is None:
            raise ValueError("credential already released")
        length = ffi.new("size_t *")
        token = lib.cu_credential_token(self._cdata, length)
        return b"Bearer " + ffi.buffer(token, length[0])[:]

    def close(self) -> None:
        """Wipe and free the C buffers now, not whenever the garbage collector runs."""
        if self._cdata is not None:
            ffi.release(self._cdata)
            self._cdata = None

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


def read_file(path: str) -> NativeCredential:
    """Read, parse and validate a credential file in C."""
    return _call(lib.cu_read_credential_file, path.encode("utf-8", "surrogateescape"), where=path)


def parse_json(data: bytes) -> NativeCredential:
    """Parse a credential document held in memory (used by tests and the fuzzer's seeds)."""
    return _call(lib.cu_parse_credential_json, data, len(data), where="credential data")


def from_token(token: str) -> NativeCredential:
    """Validate a bare token (``CLAUDE_CODE_OAUTH_TOKEN``) and hold it like a stored one."""
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise ParseError(
            "CLAUDE_CODE_OAUTH_TOKEN holds characters a token cannot have", hint=_TOKEN_HINT
        ) from None
    return _call(lib.cu_credential_from_token, raw, len(raw), where="CLAUDE_CODE_OAUTH_TOKEN")


_TOKEN_HINT = "the token may only hold A-Z a-z 0-9 - . _ ~ + / and trailing =; run `claude` to log in again"


def _call(function: Any, *args: Any, where: str) -> NativeCredential:
    out = ffi.new("cu_credential **")
    err = ffi.new("cu_error *")
    status = function(*args, out, err)
    if status != lib.CU_OK:
        raise _error(status, err, where)
    return NativeCredential(out[0])


def _text(pointer: Any, length: Any) -> str:
    return bytes(ffi.buffer(pointer, length[0])).decode("utf-8")


def _info(cdata: Any) -> CredentialInfo:
    length = ffi.new("size_t *")
    ms = ffi.new("int64_t *")
    expires = int(ms[0]) if lib.cu_credential_expires_at(cdata, ms) else None
    scopes: tuple[str, ...] | None = None
    if lib.cu_credential_has_scopes(cdata):
        scopes = tuple(
            _text(lib.cu_credential_scope(cdata, i, length), length)
            for i in range(lib.cu_credential_scope_count(cdata))
        )
    subscription = lib.cu_credential_subscription_type(cdata, length)
    subscription_text = None if subscription == ffi.NULL else _text(subscription, length)
    tier = lib.cu_credential_rate_limit_tier(cdata, length)
    tier_text = None if tier == ffi.NULL else _text(tier, length)
    return CredentialInfo(expires, scopes, subscription_text, tier_text)


def _error(status: int, err: Any, where: str) -> ClaudeUsageError:
    """Map a cu_status to its exception: the one place that knows the C codes."""
    errno_text = ""
    if err.sys_errno:
        import os

        errno_text = f": {os.strerror(err.sys_errno)}"
    if status == lib.CU_ERR_NO_MEMORY:
        raise MemoryError("out of memory while reading credentials")
    if status == lib.CU_ERR_NOT_FOUND:
        return CredentialsNotFoundError(f"no Claude Code credentials at {where}")
    if status == lib.CU_ERR_NOT_LOGGED_IN:
        return CredentialsNotFoundError(f"{where} holds no Claude login (not logged in)")
    if status == lib.CU_ERR_PERMISSION:
        return CredentialsPermissionError(f"cannot read {where}{errno_text}")
    if status == lib.CU_ERR_IS_DIRECTORY:
        return CredentialsUnreadableError(f"{where} is a directory, not a credential file")
    if status == lib.CU_ERR_NOT_REGULAR:
        return CredentialsUnreadableError(f"{where} is not a regular file")
    if status == lib.CU_ERR_IO:
        return CredentialsUnreadableError(f"cannot read {where}{errno_text}")
    if status == lib.CU_ERR_TOO_LARGE:
        limit = lib.cu_max_file_bytes()
        return ParseError(f"{where} is larger than {limit} bytes; refused without reading it")
    if status == lib.CU_ERR_EMPTY:
        return ParseError(f"{where} is empty")
    if status == lib.CU_ERR_SYNTAX:
        return ParseError(f"{where} is not valid JSON (at byte {err.offset})")
    if status == lib.CU_ERR_TOO_DEEP:
        return ParseError(f"{where} nests deeper than {lib.cu_max_depth()} levels")
    if status == lib.CU_ERR_NOT_OBJECT:
        return ParseError(f"{where} is JSON but not an object")
    if status == lib.CU_ERR_WRONG_TYPE:
        field = ffi.string(err.field).decode("ascii", "replace")
        return ParseError(f"{where}: field {field!r} has the wrong type")
    if status == lib.CU_ERR_BAD_TOKEN:
        return ParseError(f"{where}: the access token is malformed", hint=_TOKEN_HINT)
    if status == lib.CU_ERR_UNSUPPORTED:
        return CredentialsUnreadableError(f"{where}: not supported on this platform")
    return CredentialsUnreadableError(f"{where}: unexpected native status {status}")
