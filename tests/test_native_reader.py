"""The native credential reader through ``claude_usage._native``: every bad input, typed errors, no leaks."""

from __future__ import annotations

import gc
import json
import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from as_nobody import outcome_as_nobody
from claude_usage import _native
from claude_usage._lib import ffi, lib
from claude_usage._native import CredentialInfo
from claude_usage.errors import (
    ClaudeUsageError,
    CredentialsExpiredError,
    CredentialsNotFoundError,
    CredentialsUnreadableError,
    InsufficientScopeError,
    ParseError,
)

ACCESS = "sk-ant-oat01-TEST-native-reader-" + "Qx7" * 12
REFRESH = "sk-ant-ort01-TEST-native-reader-" + "r8K" * 12
EXPIRES_AT = 1768384301294
SCOPES = ["user:inference", "user:profile", "user:sessions:claude_code"]
VALID_INFO = CredentialInfo(EXPIRES_AT, tuple(SCOPES), "max", "default_claude_max_5x")


def login(**fields: Any) -> dict[str, Any]:
    """A claudeAiOauth object with all five fields; a field given as ... is left out."""
    oauth: dict[str, Any] = {
        "accessToken": ACCESS,
        "refreshToken": REFRESH,
        "expiresAt": EXPIRES_AT,
        "scopes": SCOPES,
        "subscriptionType": "max",
        "rateLimitTier": "default_claude_max_5x",
    }
    oauth.update(fields)
    return {key: value for key, value in oauth.items() if value is not ...}


def store(**fields: Any) -> bytes:
    """A credential store as Claude Code writes it (plus an MCP login)."""
    document = {"claudeAiOauth": login(**fields), "mcpOAuth": {"srv|1": {"accessToken": "mcp-TEST"}}}
    return json.dumps(document, indent=2).encode()


def write(path: Path, data: bytes) -> str:
    """Write data at path (mode 0600) and return the path as str."""
    path.write_bytes(data)
    path.chmod(0o600)
    return str(path)


def c_status(path: str) -> int:
    """The C reader's raw status for a path, for cases where the exception class is not enough."""
    err = ffi.new("cu_error *")
    lib.cu_credential_free(lib.cu_read_credential_file(path.encode(), 0, ffi.NULL, err))
    return int(err.status)


def c_wrong_field(data: bytes) -> str:
    """The field the C parser names for a CU_ERR_WRONG_TYPE document."""
    err = ffi.new("cu_error *")
    assert ffi.NULL == lib.cu_parse_credential_json(data, len(data), err)
    assert lib.CU_ERR_WRONG_TYPE == err.status
    return str(ffi.string(err.field).decode("ascii"))


def error_texts(error: BaseException) -> str:
    """Everything an error shows: message, repr, hint and its whole chain."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        parts += [str(current), repr(current), str(getattr(current, "hint", ""))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# ---- files that are missing, empty, too large or not JSON ----


def test_missing_file(tmp_path: Path) -> None:
    """A path with nothing at it is 'not logged in here'."""
    with pytest.raises(CredentialsNotFoundError):
        _native.read_file(str(tmp_path / "missing.json"))


def test_missing_parent_directory(tmp_path: Path) -> None:
    """A path below a regular file (ENOTDIR) is also 'not found'."""
    with pytest.raises(CredentialsNotFoundError):
        _native.read_file(write(tmp_path / "file", store()) + "/.credentials.json")


@pytest.mark.parametrize("content", [b"", b" \n\t\r\n  "], ids=["zero-bytes", "white-space-only"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    """An empty or blank file is a parse error (CU_ERR_EMPTY), not a crash."""
    path = write(tmp_path / "empty.json", content)
    with pytest.raises(ParseError):
        _native.read_file(path)
    assert lib.CU_ERR_EMPTY == c_status(path)


def test_two_mebibyte_file_is_refused_unread(tmp_path: Path) -> None:
    """A 2 MiB file is refused from its size: a sparse file of zeros would otherwise be a syntax error."""
    path = tmp_path / "big.json"
    with path.open("wb") as handle:
        handle.truncate(2 * 1024 * 1024)
    with pytest.raises(ParseError):
        _native.read_file(str(path))
    assert lib.CU_ERR_TOO_LARGE == c_status(str(path))


@pytest.mark.parametrize(
    "content",
    [b"not json", b"{\"claudeAiOauth\": {", b"\xef\xbb\xbf{}", b"{\"a\": NaN}", b"{} {}", b"{\"a\": 01}"],
    ids=["text", "truncated", "bom", "nan", "two-documents", "leading-zero"],
)
def test_not_json(tmp_path: Path, content: bytes) -> None:
    """Anything that is not strict RFC 8259 JSON is a ParseError."""
    with pytest.raises(ParseError):
        _native.read_file(write(tmp_path / "bad.json", content))


def test_top_level_array_is_a_parse_error() -> None:
    """Valid JSON that is not an object is a ParseError."""
    with pytest.raises(ParseError):
        _native.parse_json(json.dumps([{"claudeAiOauth": login()}]).encode())


def test_too_deep_is_a_parse_error() -> None:
    """Nesting past the C depth limit is refused."""
    depth = lib.cu_max_depth()
    with pytest.raises(ParseError):
        _native.parse_json(b'{"a":' + b"[" * depth + b"]" * depth + b"}")


# ---- wrong types ----


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("accessToken", 12345),
        ("accessToken", ["sk-ant-oat01-TEST"]),
        ("expiresAt", str(EXPIRES_AT)),
        ("expiresAt", 1.5),
        ("expiresAt", True),
        ("expiresAt", 2**63),
        ("scopes", "user:profile"),
        ("scopes", ["user:profile", 7]),
        ("scopes", {"user:profile": True}),
        ("subscriptionType", 1),
        ("subscriptionType", ["max"]),
        ("rateLimitTier", {"tier": "x"}),
        ("rateLimitTier", False),
    ],
)
def test_wrong_type_of_each_field(tmp_path: Path, field: str, value: object) -> None:
    """A known field with the wrong JSON type is a ParseError naming that field."""
    data = store(**{field: value})
    with pytest.raises(ParseError) as caught:
        _native.read_file(write(tmp_path / "store.json", data))
    assert field == c_wrong_field(data)
    assert ACCESS not in error_texts(caught.value)


@pytest.mark.parametrize("value", [[], "logged-in", 1, True])
def test_wrong_type_of_the_login_object(value: object) -> None:
    """claudeAiOauth that is not an object is a ParseError naming it."""
    data = json.dumps({"claudeAiOauth": value}).encode()
    with pytest.raises(ParseError):
        _native.parse_json(data)
    assert "claudeAiOauth" == c_wrong_field(data)


# ---- the access token's characters ----


@pytest.mark.parametrize(
    "token_json",
    [
        b'"sk-ant-oat01-TEST\\r"',
        b'"sk-ant-oat01-TEST\\nX-Injected: 1"',
        b'"sk-ant-oat01-TEST abc"',
        '"sk-ant-oat01-TEST\u00e9"'.encode(),
        b'"sk-ant-oat01-TEST\\u00e9"',
        b'"sk-ant-oat01-TEST\\u000d"',
        b'"sk-ant-oat01-TEST\\u0000"',
        b'"=sk-ant-oat01-TEST"',
    ],
    ids=["escaped-cr", "escaped-lf", "space", "raw-non-ascii", "escaped-non-ascii", "u-escaped-cr",
         "u-escaped-nul", "leading-padding"],
)
def test_token_outside_the_alphabet_is_rejected(token_json: bytes) -> None:
    """CR, LF, spaces and non-ASCII (raw or escaped) never become a header."""
    data = b'{"claudeAiOauth": {"accessToken": ' + token_json + b"}}"
    with pytest.raises(ParseError) as caught:
        _native.parse_json(data)
    assert "sk-ant-oat01-TEST" not in error_texts(caught.value)


def test_raw_newline_in_token_is_a_syntax_error(tmp_path: Path) -> None:
    """An unescaped line break inside the token string is not JSON at all."""
    with pytest.raises(ParseError):
        _native.read_file(write(tmp_path / "s.json", b'{"claudeAiOauth":{"accessToken":"sk-ant\nx"}}'))


def test_token_over_four_kib_is_rejected() -> None:
    """A token longer than cu_max_token_bytes() is a ParseError; exactly the limit is accepted."""
    limit = lib.cu_max_token_bytes()
    with _native.parse_json(store(accessToken="A" * limit)) as credential:
        assert b"Bearer " + b"A" * limit == credential.authorization()
    with pytest.raises(ParseError):
        _native.parse_json(store(accessToken="A" * (limit + 1)))


def test_escaped_token_characters_are_decoded(tmp_path: Path) -> None:
    """\\u-escaped characters of the token alphabet are accepted and decoded."""
    data = b'{"claudeAiOauth": {"\\u0061ccessToken": "sk\\u002dant\\u002Doat01\\u002dTEST\\/A\\u002b\\u003d"}}'
    with _native.read_file(write(tmp_path / "escaped.json", data)) as credential:
        assert b"Bearer sk-ant-oat01-TEST/A+=" == credential.authorization()


# ---- what is at the path ----


def test_directory_at_the_path(tmp_path: Path) -> None:
    """A directory is unreadable as a credential file."""
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(CredentialsUnreadableError):
        _native.read_file(str(tmp_path / "dir.json"))


def test_fifo_at_the_path_does_not_hang(tmp_path: Path) -> None:
    """A FIFO with no writer is refused at once (O_NONBLOCK open, fstat), never read."""
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            _native.read_file(str(fifo))
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            outcome.append(error)

    # A hang guard, not a timing assertion: a broken reader blocks in open(), and a
    # thread lets the test fail instead of stalling CI.
    reader = threading.Thread(target=attempt, daemon=True)
    reader.start()
    reader.join(timeout=60)
    if reader.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # unblock it
        pytest.fail("reading a FIFO blocked")
    assert [CredentialsUnreadableError] == [type(error) for error in outcome]


def test_symlink_to_a_valid_file_is_followed(tmp_path: Path) -> None:
    """A symlinked ~/.claude still works: the link is followed."""
    target = write(tmp_path / "real.json", store())
    (tmp_path / "link.json").symlink_to(target)
    with _native.read_file(str(tmp_path / "link.json")) as credential:
        assert VALID_INFO == credential.info


def test_dangling_symlink_is_not_found(tmp_path: Path) -> None:
    """A symlink to nothing means no credentials."""
    (tmp_path / "link.json").symlink_to(tmp_path / "nowhere.json")
    with pytest.raises(CredentialsNotFoundError):
        _native.read_file(str(tmp_path / "link.json"))


def _outcome_as_unprivileged_user(path: str) -> str:
    """Read path as uid/gid 65534 (root ignores permission bits): "read", or the error's class name."""

    def read() -> str:
        _native.read_file(path).close()
        return "read"

    return outcome_as_nobody(read, lambda error: type(error).__name__)


def test_unreadable_file_is_a_permission_error() -> None:
    """EACCES maps to CredentialsPermissionError (checked as an unprivileged user)."""
    # Not tmp_path: its parents are 0700 root, which the unprivileged child could not enter.
    directory = tempfile.mkdtemp(prefix="cu-permission-")
    try:
        os.chmod(directory, 0o711)
        path = write(Path(directory) / ".credentials.json", store())
        os.chmod(path, 0)
        assert "CredentialsPermissionError" == _outcome_as_unprivileged_user(path)
        os.chmod(path, 0o644)
        assert "read" == _outcome_as_unprivileged_user(path)  # the child itself can read
    finally:
        shutil.rmtree(directory)


# ---- not logged in ----


def test_only_mcp_oauth_is_not_logged_in(tmp_path: Path) -> None:
    """A store with only mcpOAuth means 'not logged in', not a parse error."""
    data = json.dumps({"mcpOAuth": {"srv|1": {"accessToken": "mcp-TEST", "refreshToken": REFRESH}}}).encode()
    with pytest.raises(CredentialsNotFoundError):
        _native.read_file(write(tmp_path / "mcp.json", data))


@pytest.mark.parametrize("token", ["", None, ...], ids=["empty", "null", "absent"])
def test_empty_or_missing_access_token_is_not_logged_in(tmp_path: Path, token: object) -> None:
    """An access token left empty after a failed refresh (or absent) means 'not logged in'."""
    with pytest.raises(CredentialsNotFoundError):
        _native.read_file(write(tmp_path / "store.json", store(accessToken=token)))


# ---- a valid store ----


def test_valid_store(tmp_path: Path) -> None:
    """All five fields come back exactly, and the header is 'Bearer ' + the token."""
    with _native.read_file(write(tmp_path / "store.json", store())) as credential:
        assert VALID_INFO == credential.info
        assert b"Bearer " + ACCESS.encode() == credential.authorization()


def test_optional_fields_absent_or_null() -> None:
    """expiresAt, scopes, subscriptionType and rateLimitTier may each be absent or null."""
    for missing in (..., None):
        data = store(expiresAt=missing, scopes=missing, subscriptionType=missing, rateLimitTier=missing)
        with _native.parse_json(data) as credential:
            assert CredentialInfo(None, None, None, None) == credential.info


def test_unicode_and_duplicates_in_a_store() -> None:
    """Scopes may hold any Unicode; with duplicate keys the last one wins."""
    data = (
        b'{"claudeAiOauth": {"accessToken": "old", "scopes": ["a"]},'
        b' "claudeAiOauth": {"accessToken": "x", "accessToken": "' + ACCESS.encode() + b'",'
        b' "scopes": ["\\u00e9\\ud83d\\ude00", "nul\\u0000", "\xe2\x82\xac"], "expiresAt": -0}}'
    )
    with _native.parse_json(data) as credential:
        assert CredentialInfo(0, ("é😀", "nul\x00", "€"), None, None) == credential.info
        assert b"Bearer " + ACCESS.encode() == credential.authorization()


def test_from_token() -> None:
    """CLAUDE_CODE_OAUTH_TOKEN goes through the same validation."""
    with _native.from_token(ACCESS) as credential:
        assert (b"Bearer " + ACCESS.encode(), CredentialInfo(None, None, None, None)) == (
            credential.authorization(),
            credential.info,
        )
    with pytest.raises(CredentialsNotFoundError):
        _native.from_token("")
    for bad in (ACCESS + "\r\n", ACCESS + " x", "=" + ACCESS):
        with pytest.raises(ParseError) as caught:
            _native.from_token(bad)
        assert ACCESS not in error_texts(caught.value)


def test_from_token_non_ascii_chain_holds_no_token() -> None:
    """A non-ASCII token is a ParseError whose chain (even a suppressed __context__) holds no token."""
    with pytest.raises(ParseError) as caught:
        _native.from_token(ACCESS + "é")
    assert ACCESS not in error_texts(caught.value)


def test_read_file_refuses_a_login_that_cannot_work(tmp_path: Path) -> None:
    """Expired from expiresAt on, or lacking an asked-for scope: refused in C, the path named, no token."""
    path = write(tmp_path / "store.json", store())
    with _native.read_file(path, EXPIRES_AT - 1, b"user:profile") as credential:
        assert f"Bearer {ACCESS}".encode() == credential.authorization()
    with pytest.raises(CredentialsExpiredError) as expired:
        _native.read_file(path, EXPIRES_AT, b"user:profile")
    with pytest.raises(InsufficientScopeError) as scope:
        _native.read_file(path, 0, b"user:admin")
    for caught in (expired, scope):
        assert (True, False) == (path in str(caught.value), ACCESS in error_texts(caught.value))
    with _native.read_file(path, 0, None) as credential:
        assert VALID_INFO == credential.info


def test_close_releases_the_token() -> None:
    """After close(), authorization() raises instead of reading freed memory."""
    credential = _native.parse_json(store())
    credential.close()
    with pytest.raises(ValueError):
        credential.authorization()
    credential.close()  # idempotent


def test_repr_holds_no_token() -> None:
    """Neither the credential's repr nor its info's holds a secret."""
    with _native.parse_json(store()) as credential:
        texts = repr(credential) + repr(credential.info) + str(credential.info)
        assert (False, False) == (ACCESS in texts, REFRESH in texts)


@pytest.mark.parametrize(
    "data",
    [
        store(accessToken=ACCESS + " "),
        store(scopes=REFRESH),
        store(expiresAt=ACCESS),
        store()[:-3],
        b'{"claudeAiOauth": {"accessToken": "' + ACCESS.encode() + b'", "x": "\x01' + REFRESH.encode() + b'"}}',
    ],
    ids=["bad-token", "wrong-scopes", "wrong-expires", "truncated", "control-char"],
)
def test_error_messages_hold_no_secret(tmp_path: Path, data: bytes) -> None:
    """No message, repr, hint or chained error shows a byte of either token."""
    with pytest.raises(ClaudeUsageError) as caught:
        _native.read_file(write(tmp_path / "store.json", data))
    texts = error_texts(caught.value)
    assert (False, False) == (ACCESS[12:] in texts, REFRESH[12:] in texts)


# ---- the refresh token never reaches a Python object ----
#
# Searching memory for a secret needs the secret as a needle, and a needle built as one
# str/bytes object would itself be found (and would be exactly the copy the test forbids).
# So the refresh token exists in this process only in two halves, HEAD and a random TAIL,
# each its own object: the fixture file is written half by half with os.write (no buffered
# writer joins them), and the search looks for HEAD and then compares only the bytes that
# follow it with TAIL. No full copy is ever built by the test, so any object holding
# HEAD+TAIL was made by the code under test. test_leak_search_finds_a_planted_copy proves the
# search sees a copy when one exists.

HEAD = b"sk-ant-ort01-TEST-gc-probe-"


def _holds(data: bytes, head: bytes, tail: bytes) -> bool:
    """Whether head occurs in data immediately followed by tail (comparing slices of len(tail))."""
    start = data.find(head)
    while start != -1:
        after = start + len(head)
        if data[after : after + len(tail)] == tail:
            return True
        start = data.find(head, start + 1)
    return False


def _objects_holding(head: bytes, tail: bytes) -> int:
    """Count live str/bytes/bytearray/memoryview objects that hold head+tail."""
    gc.collect()
    tracked = gc.get_objects()
    # Strings and bytes are not tracked by gc themselves: reach them through their holders.
    found = 0
    for item in tracked + gc.get_referents(*tracked):
        if isinstance(item, str):
            found += _holds(item.encode("utf-8", "surrogatepass"), head, tail)
        elif isinstance(item, (bytes, bytearray)):
            found += _holds(bytes(item), head, tail)
        elif isinstance(item, memoryview):
            try:
                found += _holds(item.tobytes(), head, tail)
            except ValueError:  # released
                pass
    return found


def _write_store_with_split_refresh(path: Path, tail: bytes) -> str:
    """A valid store whose refresh token is HEAD + tail, written without joining the halves."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for part in (b'{"claudeAiOauth": {"accessToken": "', ACCESS.encode(), b'", "refreshToken": "',
                     HEAD, tail, b'", "scopes": ["user:profile"]}, "mcpOAuth": {"x": {"refreshToken": "',
                     HEAD, tail, b'"}}}'):
            os.write(fd, part)
    finally:
        os.close(fd)
    return str(path)


def test_refresh_token_reaches_no_python_object(tmp_path: Path) -> None:
    """After reading (success and failure) and closing, no Python object holds the refresh token."""
    tail = secrets.token_hex(16).encode()
    path = _write_store_with_split_refresh(tmp_path / "store.json", tail)
    with _native.read_file(path) as credential:
        header = credential.authorization()
    bad = tmp_path / "bad.json"
    _write_store_with_split_refresh(bad, tail)
    with bad.open("r+b") as handle:  # break the token in place: the file still holds the refresh token
        handle.seek(len(b'{"claudeAiOauth": {"accessToken": "'))
        handle.write(b" ")
    with pytest.raises(ParseError) as caught:
        _native.read_file(str(bad))
    assert (b"Bearer " + ACCESS.encode(), 0) == (header, _objects_holding(HEAD, tail))
    assert caught.value is not None  # kept alive through the search on purpose


def test_leak_search_finds_a_planted_copy() -> None:
    """The search is able to fail: a joined copy held in a list is found."""
    tail = secrets.token_hex(16).encode()
    planted = [HEAD + tail]
    assert 1 <= _objects_holding(HEAD, tail)
    planted.clear()


def test_threads_reading_at_once_each_get_their_own_outcome(tmp_path: Path) -> None:
    """Threads that read (each with its reused error buffer) at once get their own result or error."""
    good = write(tmp_path / "good.json", store())
    # Wrong rather than malformed: the message reads the buffer's field name, and a file that is
    # not JSON would be re-read for tens of milliseconds each time, as one caught mid-rewrite.
    bad = write(tmp_path / "bad.json", store(accessToken=12))
    outcomes: dict[tuple[int, int], str] = {}

    def reader(worker: int) -> None:
        for attempt in range(300):
            path = good if (worker + attempt) % 2 else bad
            try:
                with _native.read_file(path, 0, b"user:profile") as credential:
                    outcomes[worker, attempt] = "ok" if credential.authorization() == f"Bearer {ACCESS}".encode() else "wrong"
            except ParseError as error:
                outcomes[worker, attempt] = "error" if "bad.json: field 'accessToken'" in str(error) else "wrong"

    workers = [threading.Thread(target=reader, args=(worker,)) for worker in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    expected = {(w, a): "ok" if (w + a) % 2 else "error" for w in range(4) for a in range(300)}
    assert expected == outcomes


def test_status_mapper_returns_every_error_and_never_raises() -> None:
    """_native._error returns the exception of each cu_status (MemoryError included); callers raise it."""
    from claude_usage import _native
    from claude_usage._lib import ffi, lib

    err = ffi.new("cu_error *")
    for status in range(0, 40):
        error = _native._error(status, err, "the file")
        assert isinstance(error, BaseException)
    assert isinstance(_native._error(lib.CU_ERR_NO_MEMORY, err, "x"), MemoryError)
    assert "out of memory while reading credentials" == str(_native._error(lib.CU_ERR_NO_MEMORY, err, "x"))
    assert "x: unexpected native status 99" == str(_native._error(99, err, "x"))
