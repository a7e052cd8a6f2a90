"""The macOS Keychain source: naming in Python, and the C branch compiled against a Security.framework double.

The double module (tests/keychain_double/build.py) is the real C of csrc/ with
-DCU_KEYCHAIN_DOUBLE and a fake ``security`` tool; swapping it in as
``claude_usage._native``'s ``ffi``/``lib`` runs every Python and C path unchanged.
"""

from __future__ import annotations

import json
import os
import pickle
import pwd
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from claude_usage import _native, credentials, keychain
from claude_usage.errors import (
    ConfigurationError,
    CredentialError,
    CredentialsNotFoundError,
    CredentialsUnreadableError,
    KeychainAccessDeniedError,
    KeychainError,
    KeychainInteractionRequiredError,
    KeychainUnavailableError,
    ParseError,
)
from keychain_double import build as keychain_double_build

HERE = Path(__file__).resolve().parent
TOKEN = "sk-ant-oat01-TEST-keychain-access-token"
REFRESH = "sk-ant-ort01-TEST-keychain-refresh-token"
PAYLOAD = json.dumps(
    {
        "claudeAiOauth": {
            "accessToken": TOKEN,
            "refreshToken": REFRESH,
            "expiresAt": 4102444800000,
            "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "max",
        }
    }
)
LEGACY = "Claude Code-credentials"
# sha256 of each directory, computed outside Python: printf '%s' DIR | sha256sum | cut -c1-8
ALICE_DIR = "/Users/alice/.claude"
ALICE_SERVICE = f"{LEGACY}-5ac5e874"
ALICE_SLASH_SERVICE = f"{LEGACY}-51d748fa"  # "/Users/alice/.claude/"
JOSE_NFC_SERVICE = f"{LEGACY}-aa0dcdd9"  # "/Users/Jos\u00e9/.claude" (precomposed)
JOSE_NFD_BYTES_SERVICE = f"{LEGACY}-9c564bf7"  # the decomposed bytes, which must NOT be used
SECURE_STORE_SERVICE = f"{LEGACY}-6a836d2f"  # "/tmp/secure-store"
ACCOUNT = "alice"
ENV = {"CLAUDE_CONFIG_DIR": ALICE_DIR, "USER": ACCOUNT}


@pytest.fixture(scope="session")
def double_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, Path]:
    """The C module's macOS branch built against the double, and its fake tool."""
    built: tuple[ModuleType, Path] = keychain_double_build.build(tmp_path_factory.mktemp("keychain-double"))
    return built


@dataclass
class Keychain:
    """What a test controls: the double's items and answers, the fake tool's mode, and the records."""

    lib: Any
    ffi: Any
    tool: Path
    log: Path
    fds: Path
    monkeypatch: pytest.MonkeyPatch

    def add(self, service: str, payload: str = PAYLOAD, account: str = ACCOUNT) -> None:
        data = payload.encode()
        assert 0 == self.lib.kcd_add_item(service.encode(), account.encode(), data, len(data))

    def tool_mode(self, mode: str, payload: str = PAYLOAD) -> None:
        self.monkeypatch.setenv("FAKE_SECURITY_MODE", mode)
        self.monkeypatch.setenv("FAKE_SECURITY_PAYLOAD", payload)

    def runs(self) -> list[tuple[int, str]]:
        """(pid, arguments) of each run of the fake tool."""
        if not self.log.exists():
            return []
        return [(int(pid), args) for pid, args in (line.split(" ", 1) for line in self.log.read_text().splitlines())]

    def queries(self) -> list[tuple[str, str, bool]]:
        """(service, account, wanted data) of each SecItemCopyMatching call."""
        lib, ffi = self.lib, self.ffi
        return [
            (
                ffi.string(lib.kcd_query_service(i)).decode(),
                ffi.string(lib.kcd_query_account(i)).decode(),
                bool(lib.kcd_query_wanted_data(i)),
            )
            for i in range(lib.kcd_query_count())
        ]

    def cf_counts(self) -> tuple[int, int, int]:
        return (self.lib.kcd_cf_created(), self.lib.kcd_cf_released(), self.lib.kcd_cf_bad_releases())


@pytest.fixture
def kc(double_build: tuple[ModuleType, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Keychain]:
    """_native running on the double; afterwards every CF object must have been released exactly once."""
    module, tool = double_build
    monkeypatch.setattr(_native, "ffi", module.ffi)
    monkeypatch.setattr(_native, "lib", module.lib)
    monkeypatch.setattr(_native, "_ERROR_TYPE", module.ffi.typeof("cu_error *"))
    monkeypatch.setenv("FAKE_SECURITY_LOG", str(tmp_path / "tool.log"))
    monkeypatch.setenv("FAKE_SECURITY_FDS", str(tmp_path / "tool.fds"))
    module.lib.kcd_reset()
    state = Keychain(module.lib, module.ffi, tool, tmp_path / "tool.log", tmp_path / "tool.fds", monkeypatch)
    state.tool_mode("found")
    yield state
    created, released, bad = state.cf_counts()
    assert (created, 0) == (released, bad), "CF objects leaked or released wrongly"
    assert [] == [i for i in range(module.lib.kcd_query_count()) if module.lib.kcd_query_malformed(i)]
    module.lib.kcd_reset()


def read(mode: str = "auto", environ: dict[str, str] | None = None, timeout_ms: int = 5000) -> _native.NativeCredential:
    return keychain.read_keychain(mode, ENV if environ is None else environ, timeout_ms=timeout_ms)


def tool_args(service: str) -> str:
    return f"find-generic-password -s {service} -a {ACCOUNT} -w"


def assert_reaped(pid: int) -> None:
    # A zombie still answers kill(pid, 0); only a reaped (or never started) pid raises.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# --- locating -------------------------------------------------------------------


def test_locate_prefers_the_hashed_service(kc: Keychain) -> None:
    """With both items present, the config directory's own item is located and read."""
    kc.add(ALICE_SERVICE)
    kc.add(LEGACY)
    with read() as credential:
        assert b"Bearer " + TOKEN.encode() == credential.authorization()
    assert [(ALICE_SERVICE, ACCOUNT, False)] == kc.queries()
    assert [tool_args(ALICE_SERVICE)] == [args for _, args in kc.runs()]


def test_locate_falls_back_to_the_legacy_service(kc: Keychain) -> None:
    """Without the hashed item, the legacy name is probed next and read."""
    kc.add(LEGACY)
    with read():
        pass
    assert [(ALICE_SERVICE, ACCOUNT, False), (LEGACY, ACCOUNT, False)] == kc.queries()
    assert [tool_args(LEGACY)] == [args for _, args in kc.runs()]


def test_not_found_under_any_name_spawns_nothing(kc: Keychain) -> None:
    """No item under any name: CredentialsNotFoundError, and the tool never runs."""
    kc.add(LEGACY, account="bob")
    with pytest.raises(CredentialsNotFoundError):
        read()
    assert [] == kc.runs()
    assert 2 == len(kc.queries())


def test_locate_error_stops_the_probe(kc: Keychain) -> None:
    """A locate failure other than not-found is reported at once: no legacy probe, no spawn."""
    kc.add(LEGACY)
    kc.lib.kcd_set_locate_status(-25308)
    with pytest.raises(KeychainInteractionRequiredError):
        read()
    assert ([ALICE_SERVICE], []) == ([service for service, _, _ in kc.queries()], kc.runs())


# --- reading through the security tool (auto) ------------------------------------


@pytest.mark.parametrize("mode", ["found", "hex", "0xhex"])
def test_auto_reads_json_and_hex_output(kc: Keychain, mode: str) -> None:
    """The tool's JSON, hex and 0x-hex output all give the stored login."""
    kc.add(LEGACY)
    kc.tool_mode(mode)
    with read(environ={"USER": ACCOUNT}) as credential:
        assert (b"Bearer " + TOKEN.encode(), "max") == (credential.authorization(), credential.info.subscription_type)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="the fake tool inspects itself through /proc")
def test_auto_gives_the_tool_null_stdin_stderr_and_only_its_pipe(kc: Keychain) -> None:
    """The tool's stdin and stderr are /dev/null and neither pipe end leaks into it twice."""
    kc.add(LEGACY)
    with read(environ={"USER": ACCOUNT}):
        pass
    assert "stdin=/dev/null stderr=/dev/null stdout_pipe_fds=1" == kc.fds.read_text().strip()


def test_auto_exit_44_is_not_found(kc: Keychain) -> None:
    """Exit code 44 (the item went away after locating) is CredentialsNotFoundError."""
    kc.add(LEGACY)
    kc.tool_mode("exit44")
    with pytest.raises(CredentialsNotFoundError):
        read(environ={"USER": ACCOUNT})


def test_auto_other_exit_code_is_reported(kc: Keychain) -> None:
    """Any other non-zero exit is KeychainUnavailableError naming the exit code."""
    kc.add(LEGACY)
    kc.tool_mode("fail")
    with pytest.raises(KeychainUnavailableError, match="exit code 1"):
        read(environ={"USER": ACCOUNT})


def test_auto_garbage_is_a_parse_error_without_the_output(kc: Keychain) -> None:
    """Output that is neither JSON nor hex is a ParseError that does not quote it."""
    kc.add(LEGACY)
    kc.tool_mode("garbage")
    with pytest.raises(ParseError) as caught:
        read(environ={"USER": ACCOUNT})
    assert ("not json" in str(caught.value), "not json" in repr(caught.value)) == (False, False)


def test_auto_hex_of_bad_json_does_not_leak_the_token(kc: Keychain) -> None:
    """Hex that decodes to broken JSON is a ParseError whose text holds no token."""
    kc.add(LEGACY)
    kc.tool_mode("hex", payload=PAYLOAD[:-1])
    with pytest.raises(ParseError) as caught:
        read(environ={"USER": ACCOUNT})
    assert False == (TOKEN in str(caught.value) or TOKEN in repr(caught.value.__cause__))


def test_auto_huge_output_is_refused(kc: Keychain) -> None:
    """Output past 1 MiB is a ParseError and the tool is reaped."""
    kc.add(LEGACY)
    kc.tool_mode("huge")
    with pytest.raises(ParseError, match="larger than"):
        read(environ={"USER": ACCOUNT})
    ((pid, _),) = kc.runs()
    assert_reaped(pid)


@pytest.mark.parametrize("mode", ["hang", "quiet-hang"])
def test_auto_hang_is_killed_and_reaped(kc: Keychain, mode: str) -> None:
    """A tool that hangs (with or without closing stdout) is killed, reaped and reported."""
    kc.add(LEGACY)
    kc.tool_mode(mode)
    started = time.monotonic()
    with pytest.raises(KeychainUnavailableError, match="did not answer in time"):
        read(environ={"USER": ACCOUNT}, timeout_ms=300)
    # Generous bound: the fake sleeps 60 s, so this only fails if the call waited for it.
    assert True == (time.monotonic() - started < 30)
    ((pid, _),) = kc.runs()
    assert_reaped(pid)


def test_auto_with_sigchld_ignored(kc: Keychain) -> None:
    """With SIGCHLD ignored (children reaped by the kernel) the output still decides the result."""
    kc.add(LEGACY)
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        with read(environ={"USER": ACCOUNT}) as credential:
            assert b"Bearer " + TOKEN.encode() == credential.authorization()
    finally:
        signal.signal(signal.SIGCHLD, previous)


def test_auto_tool_that_cannot_start(kc: Keychain) -> None:
    """A tool that cannot be executed is KeychainUnavailableError with the system's reason."""
    kc.add(LEGACY)
    kc.tool.chmod(0o644)
    try:
        with pytest.raises(KeychainUnavailableError, match="cannot run .*Permission denied"):
            read(environ={"USER": ACCOUNT})
    finally:
        kc.tool.chmod(0o755)


# --- reading in-process (framework) ----------------------------------------------


def test_framework_reads_the_data_without_spawning(kc: Keychain) -> None:
    """Framework mode locates, then reads the data in-process; no tool runs."""
    kc.add(LEGACY)
    with read("framework") as credential:
        assert b"Bearer " + TOKEN.encode() == credential.authorization()
    assert [(ALICE_SERVICE, ACCOUNT, False), (LEGACY, ACCOUNT, False), (LEGACY, ACCOUNT, True)] == kc.queries()
    assert [] == kc.runs()


def test_framework_data_that_is_not_json(kc: Keychain) -> None:
    """Stored data that is not JSON is a ParseError (the framework's bytes are never hex-decoded)."""
    kc.add(LEGACY, payload=PAYLOAD.encode().hex())
    with pytest.raises(ParseError):
        read("framework")


@pytest.mark.parametrize(
    ("mode", "step", "os_status", "expected"),
    [
        ("framework", "read", -25300, CredentialsNotFoundError),
        ("auto", "locate", -25308, KeychainInteractionRequiredError),
        ("framework", "read", -25308, KeychainInteractionRequiredError),
        ("auto", "locate", -25315, KeychainInteractionRequiredError),
        ("auto", "locate", -25320, KeychainInteractionRequiredError),
        ("auto", "locate", -25293, KeychainInteractionRequiredError),
        ("framework", "locate", -25293, KeychainInteractionRequiredError),
        ("framework", "read", -25293, KeychainAccessDeniedError),
        ("framework", "read", -128, KeychainAccessDeniedError),
        ("auto", "locate", -25291, KeychainUnavailableError),
        ("auto", "locate", -25294, KeychainUnavailableError),
        ("framework", "read", -25307, KeychainUnavailableError),
        ("auto", "locate", -50, KeychainError),
        ("framework", "read", -34018, KeychainError),
    ],
)
def test_os_status_mapping(kc: Keychain, mode: str, step: str, os_status: int, expected: type[Exception]) -> None:
    """Each OSStatus maps to its typed error; errSecAuthFailed is a denial only where a panel could show."""
    kc.add(LEGACY)
    if step == "locate":
        kc.lib.kcd_set_locate_status(os_status)
    else:
        kc.lib.kcd_set_read_status(os_status)
    with pytest.raises(CredentialError) as caught:
        read(mode, environ={"USER": ACCOUNT})
    error = caught.value
    assert expected is type(error)
    if isinstance(error, KeychainError):
        assert (os_status, True) == (error.os_status, bool(error.hint and error.kind))
    assert [] == kc.runs()


@pytest.mark.parametrize("mode", ["auto", "framework"])
def test_every_cf_allocation_failure_releases_what_was_made(kc: Keychain, mode: str) -> None:
    """Failing each CF creation in turn never leaks or over-releases, and finally succeeds."""
    outcomes = []
    for n in range(1, 12):
        kc.lib.kcd_reset()
        kc.add(LEGACY)
        kc.lib.kcd_fail_create_at(n)
        try:
            read(mode, environ={"USER": ACCOUNT}).close()
            outcomes.append("ok")
        except (MemoryError, KeychainError) as error:
            outcomes.append(type(error).__name__)
        created, released, bad = kc.cf_counts()
        assert (n, created, 0) == (n, released, bad)
    assert "ok" == outcomes[-1]
    assert {"MemoryError", "KeychainError", "ok"} == set(outcomes)


def test_account_that_is_not_utf8_is_refused_before_any_query(kc: Keychain) -> None:
    """An account CoreFoundation cannot take (not UTF-8) is errSecParam, with no query made."""
    kc.add(LEGACY)
    with pytest.raises(KeychainError) as caught:
        read(environ={"USER": "al\udcffice"})
    assert (-50, []) == (caught.value.os_status, kc.queries())


def test_installed_module_keychain_branch() -> None:
    """The installed module: off macOS the Keychain is unsupported; on macOS a missing item is not found."""
    environ = {"CLAUDE_CONFIG_DIR": "/nonexistent/claude-usage-test", "USER": "claude-usage-test-nobody"}
    expected = CredentialsNotFoundError if sys.platform == "darwin" else CredentialsUnreadableError
    with pytest.raises(CredentialError) as caught:
        keychain.read_keychain("auto", environ)
    assert expected is type(caught.value)


# --- names, account, mode --------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, (LEGACY,)),
        ({"CLAUDE_CONFIG_DIR": ""}, (LEGACY,)),
        ({"CLAUDE_CONFIG_DIR": ALICE_DIR}, (ALICE_SERVICE, LEGACY)),
        ({"CLAUDE_CONFIG_DIR": ALICE_DIR + "/"}, (ALICE_SLASH_SERVICE, LEGACY)),
        ({"CLAUDE_CONFIG_DIR": "/Users/Jos\u00e9/.claude"}, (JOSE_NFC_SERVICE, LEGACY)),
        ({"CLAUDE_CONFIG_DIR": "/Users/Jose\u0301/.claude"}, (JOSE_NFC_SERVICE, LEGACY)),
        ({"CLAUDE_SECURESTORAGE_CONFIG_DIR": "/tmp/secure-store"}, (SECURE_STORE_SERVICE, LEGACY)),
        ({"CLAUDE_SECURESTORAGE_CONFIG_DIR": "/tmp/secure-store", "CLAUDE_CONFIG_DIR": ALICE_DIR},
         (SECURE_STORE_SERVICE, LEGACY)),
        ({"CLAUDE_SECURESTORAGE_CONFIG_DIR": "", "CLAUDE_CONFIG_DIR": ALICE_DIR}, (LEGACY,)),
    ],
)
def test_service_names(environ: dict[str, str], expected: tuple[str, ...]) -> None:
    """Service names match sha256 prefixes computed outside Python (NFC, raw value, empty = legacy)."""
    assert expected == keychain.service_names(environ)


def test_non_nfc_path_does_not_hash_its_raw_bytes() -> None:
    """A decomposed path is normalised before hashing, not hashed as written."""
    assert JOSE_NFD_BYTES_SERVICE not in keychain.service_names({"CLAUDE_CONFIG_DIR": "/Users/Jose\u0301/.claude"})


def test_account_is_user_when_set() -> None:
    """$USER is the account when set and non-empty."""
    assert "carol" == keychain.account_name({"USER": "carol"})


@pytest.mark.parametrize("environ", [{}, {"USER": ""}])
def test_account_falls_back_to_the_os_user(environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without $USER the account is the OS user name."""
    fake = pwd.struct_passwd(("dave", "x", 501, 20, "", "/Users/dave", "/bin/zsh"))
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: fake)
    assert "dave" == keychain.account_name(environ)


def test_account_last_resort(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without $USER or a passwd entry the account is claude-code-user."""

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    assert "claude-code-user" == keychain.account_name({})


def test_location_names_services_and_account() -> None:
    """The location (a cache key) names every probed service and the account."""
    assert f"{ALICE_SERVICE}, {LEGACY} (account alice)" == keychain.keychain_location(ENV)


@pytest.mark.parametrize(
    ("argument", "environ", "expected"),
    [
        (None, {}, "auto"),
        (None, {"CLAUDE_USAGE_KEYCHAIN": ""}, "auto"),
        (None, {"CLAUDE_USAGE_KEYCHAIN": "framework"}, "framework"),
        (None, {"CLAUDE_USAGE_KEYCHAIN": "file"}, "file"),
        ("file", {"CLAUDE_USAGE_KEYCHAIN": "framework"}, "file"),
        ("auto", {}, "auto"),
    ],
)
def test_mode_from_argument_or_environment(argument: str | None, environ: dict[str, str], expected: str) -> None:
    """The argument wins over CLAUDE_USAGE_KEYCHAIN, which wins over the default "auto"."""
    assert expected == credentials.keychain_mode(argument, environ)


@pytest.mark.parametrize(("argument", "environ"), [("always", {}), (None, {"CLAUDE_USAGE_KEYCHAIN": "Auto"})])
def test_invalid_mode_is_a_configuration_error(argument: str | None, environ: dict[str, str]) -> None:
    """An unknown mode, from either place, is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        credentials.keychain_mode(argument, environ)


def test_file_mode_does_not_read_the_keychain() -> None:
    """read_keychain refuses "file": that mode reads the credential file instead."""
    with pytest.raises(ConfigurationError):
        keychain.read_keychain("file", ENV)


def test_keychain_error_pickles_with_its_status() -> None:
    """A KeychainError survives pickling with its os_status and hint."""
    error = KeychainAccessDeniedError("denied", os_status=-128)
    copy = pickle.loads(pickle.dumps(error))
    assert (KeychainAccessDeniedError, -128, error.hint) == (type(copy), copy.os_status, copy.hint)
