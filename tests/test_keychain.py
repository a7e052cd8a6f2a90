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
import subprocess
import sys
import threading
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
# A value with non-ASCII bytes, which `security -w` prints in hex (the signed form on older macOS).
NON_ASCII_PAYLOAD = json.dumps(
    {"claudeAiOauth": {"accessToken": TOKEN, "expiresAt": 4102444800000, "subscriptionType": "max"},
     "note": "Jos\u00e9 \u00fcber \u2603"},
    ensure_ascii=False,
)
OTHER_TOKEN = "sk-ant-oat01-TEST-another-profiles-token"
OTHER_PAYLOAD = PAYLOAD.replace(TOKEN, OTHER_TOKEN)
FILE_TOKEN = "sk-ant-oat01-TEST-from-the-credential-file"
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
    store: Path

    def add(self, service: str, payload: str = PAYLOAD, account: str = ACCOUNT) -> None:
        """One item, in the double (the locate step) and in the fake tool's store (the read)."""
        data = payload.encode()
        assert 0 == self.lib.kcd_add_item(service.encode(), account.encode(), data, len(data))
        (self.store / service).mkdir(parents=True, exist_ok=True)
        (self.store / service / account).write_bytes(data)

    def tool_mode(self, mode: str) -> None:
        self.monkeypatch.setenv("FAKE_SECURITY_MODE", mode)

    def lock(self, tool: str = "desktop") -> None:
        """Lock the keychain: the double answers as a locked Mac; the tool, asked to read
        anyway, shows the unlock dialog ("desktop", it hangs) or exits 36 ("ssh")."""
        self.lib.kcd_set_locked(1)
        self.monkeypatch.setenv("FAKE_SECURITY_LOCKED", tool)

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
    monkeypatch.setattr(_native, "_per_thread", threading.local())  # read_file's cu_error is per ffi
    monkeypatch.setenv("FAKE_SECURITY_LOG", str(tmp_path / "tool.log"))
    monkeypatch.setenv("FAKE_SECURITY_FDS", str(tmp_path / "tool.fds"))
    monkeypatch.setenv("FAKE_SECURITY_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("FAKE_SECURITY_COUNTER", str(tmp_path / "tool.count"))
    for name in ("FAKE_SECURITY_LOCKED", "FAKE_SECURITY_EMPTY_RUNS"):
        monkeypatch.delenv(name, raising=False)
    module.lib.kcd_reset()
    state = Keychain(
        module.lib, module.ffi, tool, tmp_path / "tool.log", tmp_path / "tool.fds", monkeypatch, tmp_path / "store"
    )
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


def test_config_dir_reads_its_own_item(kc: Keychain) -> None:
    """With a config directory, its own item is located (without UI) and read."""
    kc.add(ALICE_SERVICE)
    kc.add(LEGACY, payload=OTHER_PAYLOAD)
    with read() as credential:
        assert b"Bearer " + TOKEN.encode() == credential.authorization()
    assert [(ALICE_SERVICE, ACCOUNT, False)] == kc.queries()
    assert [1] == [kc.lib.kcd_query_no_ui(i) for i in range(kc.lib.kcd_query_count())]
    assert [tool_args(ALICE_SERVICE)] == [args for _, args in kc.runs()]


@pytest.mark.parametrize("mode", ["auto", "framework"])
def test_config_dir_never_reads_the_default_profiles_item(kc: Keychain, mode: str) -> None:
    """Issue 12, point 1: the config directory's item missing, the default profile's item (another
    account's login) is not read: not found, one probe, nothing spawned."""
    kc.add(LEGACY, payload=OTHER_PAYLOAD)
    with pytest.raises(CredentialsNotFoundError) as caught:
        read(mode)
    assert ([(ALICE_SERVICE, ACCOUNT, False)], []) == (kc.queries(), kc.runs())
    assert True is (ALICE_SERVICE in str(caught.value))


def test_not_found_spawns_nothing(kc: Keychain) -> None:
    """No item for this account (only another account's): CredentialsNotFoundError, and the tool never runs."""
    kc.add(ALICE_SERVICE, account="bob")
    with pytest.raises(CredentialsNotFoundError):
        read()
    assert ([], 1) == (kc.runs(), len(kc.queries()))


def test_locate_error_spawns_nothing(kc: Keychain) -> None:
    """A locate failure other than not-found is reported at once, and nothing is spawned."""
    kc.add(ALICE_SERVICE)
    kc.lib.kcd_set_locate_status(-25308)
    with pytest.raises(KeychainInteractionRequiredError):
        read()
    assert ([ALICE_SERVICE], []) == ([service for service, _, _ in kc.queries()], kc.runs())


# --- automatic mode: the credential file when no Keychain item exists -----------------


def write_file_login(directory: Path, token: str = FILE_TOKEN) -> Path:
    path = directory / ".credentials.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PAYLOAD.replace(TOKEN, token))
    path.chmod(0o600)
    return path


def open_on_macos(environ: dict[str, str], keychain_mode: str | None = None) -> tuple[str, bytes]:
    source = credentials.locate_credentials(environ=environ, keychain=keychain_mode, platform="darwin")
    with credentials.open_credentials(source, environ=environ) as credential:
        return source.location, credential.authorization()


def test_auto_mode_falls_back_to_the_file_without_an_item(kc: Keychain, tmp_path: Path) -> None:
    """Issue 12, point 4: no Keychain item (deleted to stop prompts): the automatic mode reads
    $CLAUDE_CONFIG_DIR/.credentials.json, as Claude Code does; the location names both, item first."""
    config = tmp_path / "config"
    path = write_file_login(config)
    environ = {"CLAUDE_CONFIG_DIR": str(config), "USER": ACCOUNT, "HOME": str(tmp_path)}
    service = keychain.service_name(environ)
    location, authorization = open_on_macos(environ)
    assert (f"{service} (account alice), else {path}", b"Bearer " + FILE_TOKEN.encode()) == (location, authorization)
    assert ([(service, ACCOUNT, False)], []) == (kc.queries(), kc.runs())


def test_auto_mode_falls_back_to_the_home_file(kc: Keychain, tmp_path: Path) -> None:
    """Without CLAUDE_CONFIG_DIR the fallback is ~/.claude/.credentials.json (the Linux rule)."""
    write_file_login(tmp_path / ".claude")
    _, authorization = open_on_macos({"USER": ACCOUNT, "HOME": str(tmp_path)})
    assert b"Bearer " + FILE_TOKEN.encode() == authorization


def test_auto_mode_prefers_the_item_over_the_file(kc: Keychain, tmp_path: Path) -> None:
    """With an item, the Keychain is read and the (possibly stale) file is not."""
    write_file_login(tmp_path / ".claude")
    kc.add(LEGACY)
    _, authorization = open_on_macos({"USER": ACCOUNT, "HOME": str(tmp_path)})
    assert b"Bearer " + TOKEN.encode() == authorization


def test_neither_item_nor_file_names_both_places(kc: Keychain, tmp_path: Path) -> None:
    """Both missing: CredentialsNotFoundError whose message names the Keychain item and the file."""
    environ = {"USER": ACCOUNT, "HOME": str(tmp_path)}
    with pytest.raises(CredentialsNotFoundError) as caught:
        open_on_macos(environ)
    message = str(caught.value)
    assert (True, True, True) == (
        f"{LEGACY} (account alice)" in message,
        str(tmp_path / ".claude" / ".credentials.json") in message,
        "claude" in caught.value.hint,
    )


def test_locked_keychain_does_not_fall_back_to_the_file(kc: Keychain, tmp_path: Path) -> None:
    """Only a missing item falls back: a locked keychain is reported, not papered over with a stale file."""
    write_file_login(tmp_path / ".claude")
    kc.add(LEGACY)
    kc.lock("desktop")
    with pytest.raises(KeychainInteractionRequiredError):
        open_on_macos({"USER": ACCOUNT, "HOME": str(tmp_path)})


def test_framework_mode_does_not_fall_back(kc: Keychain, tmp_path: Path) -> None:
    """keychain="framework" is an explicit choice: no item is not found, the file is not read."""
    write_file_login(tmp_path / ".claude")
    environ = {"USER": ACCOUNT, "HOME": str(tmp_path)}
    with pytest.raises(CredentialsNotFoundError):
        open_on_macos(environ, "framework")
    assert f"{LEGACY} (account alice)" == credentials.locate_credentials(
        environ=environ, keychain="framework", platform="darwin"
    ).location


# --- the fake security tool behaves like Apple's -------------------------------------


def run_tool(kc: Keychain, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(kc.tool), "find-generic-password", *args], env={**os.environ, **env},
                          capture_output=True, text=True, check=False, timeout=30)


def test_fake_tool_finds_items_by_service_and_account(kc: Keychain) -> None:
    """Issue 12, point 7: the fake tool keys items by service and account: the wrong account or service is
    exit 44 (never another item), a left-out option matches any, as Apple's does."""
    kc.add(LEGACY, account="bob", payload=OTHER_PAYLOAD)
    kc.add(ALICE_SERVICE)
    results = [
        (r.returncode, r.stdout.strip())
        for r in (
            run_tool(kc, "-s", ALICE_SERVICE, "-a", ACCOUNT, "-w"),
            run_tool(kc, "-s", LEGACY, "-a", ACCOUNT, "-w"),
            run_tool(kc, "-s", ALICE_SERVICE, "-a", "bob", "-w"),
            run_tool(kc, "-s", LEGACY, "-w"),
        )
    ]
    assert [(0, PAYLOAD), (44, ""), (44, ""), (0, OTHER_PAYLOAD)] == results


def test_fake_tool_locked_over_ssh_exits_36(kc: Keychain) -> None:
    """Locked, without a window server, Apple's tool exits 36 (errSecInteractionNotAllowed)."""
    kc.add(LEGACY)
    assert 36 == run_tool(kc, "-s", LEGACY, "-a", ACCOUNT, "-w", FAKE_SECURITY_LOCKED="ssh").returncode


# --- a locked keychain, and the security tool's exit codes --------------------------


@pytest.mark.parametrize("mode", ["auto", "framework"])
def test_locked_keychain_is_a_typed_error_without_a_prompt(kc: Keychain, mode: str) -> None:
    """Issue 12, point 3: on a locked keychain the no-UI locate fails with errSecInteractionNotAllowed;
    the tool, which would raise the unlock dialog (here: hang until killed), is never started."""
    kc.add(ALICE_SERVICE)
    kc.lock("desktop")
    started = time.monotonic()
    with pytest.raises(KeychainInteractionRequiredError) as caught:
        read(mode)
    elapsed = time.monotonic() - started
    assert (-25308, [], True) == (caught.value.os_status, kc.runs(), elapsed < 2)
    assert True is ("unlock" in caught.value.hint)


@pytest.mark.parametrize(
    ("exit_code", "os_status", "expected", "hint_word"),
    [
        (36, -25308, KeychainInteractionRequiredError, "unlock"),
        (29, -25315, KeychainInteractionRequiredError, "desktop session"),
        (24, -25320, KeychainInteractionRequiredError, "wake"),
        (51, -25293, KeychainAccessDeniedError, "password"),
        (128, -128, KeychainAccessDeniedError, "cancelled"),
    ],
)
def test_tool_exit_codes_are_typed_errors(
    kc: Keychain, exit_code: int, os_status: int, expected: type[KeychainError], hint_word: str
) -> None:
    """Issue 12, point 3: security's exit code (the OSStatus's low byte) comes back as that OSStatus and
    its typed error, with a hint saying what to do; not "exit code N"."""
    kc.add(ALICE_SERVICE)
    kc.tool_mode(f"exit{exit_code}")
    with pytest.raises(KeychainError) as caught:
        read()
    error = caught.value
    assert (expected, os_status) == (type(error), error.os_status)
    assert (True, False) == (hint_word in error.hint + error.message, "exit code" in error.message)


def test_locked_keychain_over_ssh_is_exit_36(kc: Keychain) -> None:
    """Over SSH a locked keychain makes security exit 36 at once: the typed error, the tool reaped."""
    kc.add(ALICE_SERVICE)
    kc.lock("ssh")
    kc.lib.kcd_set_locked(0)  # the locate succeeded (attributes are readable), the read cannot
    with pytest.raises(KeychainInteractionRequiredError) as caught:
        read()
    ((pid, _),) = kc.runs()
    assert_reaped(pid)
    assert -25308 == caught.value.os_status


def test_tool_unknown_exit_code_is_reported(kc: Keychain) -> None:
    """An exit code with no known OSStatus is KeychainUnavailableError naming the exit code."""
    kc.add(ALICE_SERVICE)
    kc.tool_mode("exit1")
    with pytest.raises(KeychainUnavailableError, match="exit code 1"):
        read()


# --- a value read back empty (caught mid-rewrite) ------------------------------------


def test_keychain_value_read_back_empty_is_read_again(kc: Keychain) -> None:
    """Issue 12 (with point 6): an item whose value reads back empty twice (Claude Code rewriting
    it), then whole, gives the login: the tool ran three times."""
    kc.add(ALICE_SERVICE)
    kc.monkeypatch.setenv("FAKE_SECURITY_EMPTY_RUNS", "2")
    with read() as credential:
        assert b"Bearer " + TOKEN.encode() == credential.authorization()
    assert [tool_args(ALICE_SERVICE)] * 3 == [args for _, args in kc.runs()]


def test_framework_value_read_back_empty_is_read_again(kc: Keychain) -> None:
    """The same for an in-process read: two empty values, then the login; located once."""
    kc.add(ALICE_SERVICE)
    kc.lib.kcd_set_empty_reads(2)
    with read("framework") as credential:
        assert b"Bearer " + TOKEN.encode() == credential.authorization()
    assert [(ALICE_SERVICE, ACCOUNT, False)] + [(ALICE_SERVICE, ACCOUNT, True)] * 3 == kc.queries()


def test_keychain_value_that_stays_empty_is_a_parse_error(kc: Keychain) -> None:
    """A value that stays empty is reported as empty, after a bounded number of reads."""
    kc.add(ALICE_SERVICE)
    kc.monkeypatch.setenv("FAKE_SECURITY_EMPTY_RUNS", "1000000")
    started = time.monotonic()
    with pytest.raises(ParseError, match="is empty"):
        read()
    assert True is (time.monotonic() - started < 5)


# --- reading through the security tool (auto) ------------------------------------


@pytest.mark.parametrize("mode", ["found", "hex", "0xhex", "signedhex"])
@pytest.mark.parametrize("payload", [PAYLOAD, NON_ASCII_PAYLOAD], ids=["ascii", "non-ascii"])
def test_auto_reads_json_and_both_hex_forms(kc: Keychain, mode: str, payload: str) -> None:
    """Issue 12, point 5: the tool's JSON, hex, 0x-hex and signed-char hex (older macOS: ffffffXX for a
    byte >= 0x80) output all give the stored login."""
    kc.add(LEGACY, payload=payload)
    kc.tool_mode(mode)
    with read(environ={"USER": ACCOUNT}) as credential:
        assert (b"Bearer " + TOKEN.encode(), "max") == (credential.authorization(), credential.info.subscription_type)


def test_fake_tool_prints_the_signed_form_for_high_bytes(kc: Keychain) -> None:
    """The signed form the test above decodes really is the sign-extended one (so it proves something)."""
    kc.add(LEGACY, payload=NON_ASCII_PAYLOAD)
    env = {**os.environ, "FAKE_SECURITY_MODE": "signedhex"}
    out = subprocess.run([str(kc.tool), "find-generic-password", "-s", LEGACY, "-a", ACCOUNT, "-w"],
                         env=env, capture_output=True, text=True, check=True).stdout
    expected = "".join(f"ffffff{b:02x}" if b >= 0x80 else f"{b:02x}" for b in NON_ASCII_PAYLOAD.encode())
    assert (expected, True) == (out.strip(), "ffffffc3ffffffa9" in out)


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


def test_auto_garbage_is_a_parse_error_without_the_output(kc: Keychain) -> None:
    """Output that is neither JSON nor hex is a ParseError that does not quote it."""
    kc.add(LEGACY)
    kc.tool_mode("garbage")
    with pytest.raises(ParseError) as caught:
        read(environ={"USER": ACCOUNT})
    assert ("not json" in str(caught.value), "not json" in repr(caught.value)) == (False, False)


def test_auto_hex_of_bad_json_does_not_leak_the_token(kc: Keychain) -> None:
    """Hex that decodes to broken JSON is a ParseError whose text holds no token."""
    kc.add(LEGACY, payload=PAYLOAD[:-1])
    kc.tool_mode("hex")
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
    """Framework mode locates (without UI), then reads the data in-process (UI accepted); no tool runs."""
    kc.add(ALICE_SERVICE)
    with read("framework") as credential:
        assert b"Bearer " + TOKEN.encode() == credential.authorization()
    assert [(ALICE_SERVICE, ACCOUNT, False), (ALICE_SERVICE, ACCOUNT, True)] == kc.queries()
    assert ([1, 0], []) == ([kc.lib.kcd_query_no_ui(i) for i in range(2)], kc.runs())


def test_framework_data_that_is_not_json(kc: Keychain) -> None:
    """Stored data that is not JSON is a ParseError (the framework's bytes are never hex-decoded)."""
    kc.add(ALICE_SERVICE, payload=PAYLOAD.encode().hex())
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
    """An account CoreFoundation cannot take (not UTF-8) is errSecParam in C, with no query made;
    account_name never passes one (it is not [A-Za-z0-9._-]+)."""
    kc.add(LEGACY)
    with pytest.raises(KeychainError) as caught:
        _native.read_keychain(_native.KEYCHAIN_AUTO, LEGACY, "al\udcffice", 5000)
    assert (-50, []) == (caught.value.os_status, kc.queries())
    assert "claude-code-user" == keychain.account_name({"USER": "al\udcffice"})


def test_installed_module_keychain_branch() -> None:
    """The installed module: off macOS the Keychain is unsupported; on macOS a missing item is not found."""
    environ = {"CLAUDE_CONFIG_DIR": "/nonexistent/claude-usage-test", "USER": "claude-usage-test-nobody"}
    expected = CredentialsNotFoundError if sys.platform == "darwin" else CredentialsUnreadableError
    with pytest.raises(CredentialError) as caught:
        keychain.read_keychain("auto", environ)
    assert expected is type(caught.value)


# --- listing an account's services (no secret read) -----------------------------------


def services(environ: dict[str, str] | None = None) -> list[str]:
    return keychain.installed_services(ENV if environ is None else environ)


def assert_attribute_only_queries(kc: Keychain, count: int = 1) -> None:
    """Every query: this account's attributes, all matches, no UI, no data; and no tool run."""
    lib = kc.lib
    asked = [
        (lib.kcd_query_wanted_attributes(i), lib.kcd_query_match_all(i), lib.kcd_query_no_ui(i))
        for i in range(lib.kcd_query_count())
    ]
    assert ([("", ACCOUNT, False)] * count, [(1, 1, 1)] * count, []) == (kc.queries(), asked, kc.runs())


def test_services_lists_the_accounts_legacy_and_hashed_items(kc: Keychain) -> None:
    """The legacy and each config directory's item of the account are listed, sorted, once each."""
    kc.add(SECURE_STORE_SERVICE)
    kc.add(LEGACY)
    kc.add(ALICE_SERVICE)
    assert [LEGACY, ALICE_SERVICE, SECURE_STORE_SERVICE] == services()
    assert_attribute_only_queries(kc)


def test_services_leaves_out_other_accounts_items(kc: Keychain) -> None:
    """Another account's items, Claude Code's names included, are not listed (the query names the account)."""
    kc.add(LEGACY, account="bob")
    kc.add(SECURE_STORE_SERVICE, account="bob")
    kc.add(ALICE_SERVICE)
    assert [ALICE_SERVICE] == services()
    assert_attribute_only_queries(kc)


@pytest.mark.parametrize(
    "unrelated",
    [
        f"{LEGACY}-xyz",
        f"{LEGACY}-0123456789",
        f"{LEGACY}-0123456",
        f"{LEGACY}-5AC5E874",  # Claude Code writes sha256's lowercase hex
        f"{LEGACY}-5ac5e87g",
        f"{LEGACY}5ac5e874",
        f"{LEGACY}-",
        f"{LEGACY}-5ac5e874-",
        "Claude Code-credential",
        f"x{LEGACY}",
        "Other",
    ],
)
def test_services_skips_names_that_are_not_claude_codes(kc: Keychain, unrelated: str) -> None:
    """An item of the account under any other service name is skipped, not listed nor an error."""
    kc.add(unrelated)
    kc.add(ALICE_SERVICE)
    assert [ALICE_SERVICE] == services()


def test_services_of_an_empty_keychain_is_empty(kc: Keychain) -> None:
    """No item (errSecItemNotFound) is an empty list, not CredentialsNotFoundError."""
    assert [] == services()
    assert_attribute_only_queries(kc)


def test_services_with_only_unrelated_items_is_empty(kc: Keychain) -> None:
    """Items of the account, none of them Claude Code's: an empty list."""
    kc.add("Other")
    kc.add(f"{LEGACY}-xyz")
    assert [] == services()


def test_services_on_a_locked_keychain_is_the_typed_error_without_a_prompt(kc: Keychain) -> None:
    """Locked: the no-UI query fails with errSecInteractionNotAllowed (no unlock dialog), nothing spawned."""
    kc.add(ALICE_SERVICE)
    kc.lock()
    with pytest.raises(KeychainInteractionRequiredError) as caught:
        services()
    assert (-25308, True) == (caught.value.os_status, ACCOUNT in str(caught.value))
    assert_attribute_only_queries(kc)


@pytest.mark.parametrize(
    ("os_status", "expected"),
    [(-25293, KeychainInteractionRequiredError), (-25291, KeychainUnavailableError), (-50, KeychainError)],
)
def test_services_os_status_mapping(kc: Keychain, os_status: int, expected: type[Exception]) -> None:
    """Other OSStatus values map as the locate step's do (auth failed without UI: interaction needed)."""
    kc.add(ALICE_SERVICE)
    kc.lib.kcd_set_locate_status(os_status)
    with pytest.raises(KeychainError) as caught:
        services()
    assert (expected, os_status) == (type(caught.value), caught.value.os_status)


def test_services_that_outgrow_the_first_buffer_are_all_listed(kc: Keychain, monkeypatch: pytest.MonkeyPatch) -> None:
    """A list larger than the first buffer is asked for again with the size C said it needs."""
    monkeypatch.setattr(_native, "_SERVICES_FIRST_BYTES", 8)
    names = [f"{LEGACY}-{i:08x}" for i in range(12)]
    for name in names:
        kc.add(name)
    assert names == services()
    assert_attribute_only_queries(kc, count=2)


def test_services_too_small_a_buffer_in_c_reports_the_size_needed(kc: Keychain) -> None:
    """cu_keychain_services itself: one byte short is CU_ERR_TOO_LARGE with the exact size needed."""
    kc.add(LEGACY)
    kc.add(ALICE_SERVICE)
    needed = len(LEGACY) + 1 + len(ALICE_SERVICE) + 1
    ffi, lib = kc.ffi, kc.lib
    out, used, err = ffi.new("char[]", needed - 1), ffi.new("size_t *"), ffi.new("cu_error *")
    assert (lib.CU_ERR_TOO_LARGE, needed) == (lib.cu_keychain_services(ACCOUNT.encode(), out, needed - 1, used, err),
                                              used[0])


def test_services_uses_claude_codes_account_name(kc: Keychain) -> None:
    """The account is the one Claude Code would use: an e-mail-style $USER lists claude-code-user's items."""
    kc.add(LEGACY, account="claude-code-user")
    assert [LEGACY] == services({"USER": "first.last@corp.com"})
    assert [("", "claude-code-user", False)] == kc.queries()


def test_services_every_cf_allocation_failure_releases_what_was_made(kc: Keychain) -> None:
    """Failing each CF creation in turn (the module's and the double's result objects) never leaks
    or over-releases, and finally succeeds."""
    outcomes = []
    for n in range(1, 16):
        kc.lib.kcd_reset()
        kc.add(LEGACY)
        kc.add(ALICE_SERVICE)
        kc.add("Other")
        kc.lib.kcd_fail_create_at(n)
        try:
            outcomes.append(services())
        except (MemoryError, KeychainError) as error:
            outcomes.append(type(error).__name__)
        created, released, bad = kc.cf_counts()
        assert (n, created, 0) == (n, released, bad)
    assert [LEGACY, ALICE_SERVICE] == outcomes[-1]
    assert {"MemoryError", "KeychainError"} == {outcome for outcome in outcomes if isinstance(outcome, str)}


def test_installed_module_services() -> None:
    """The installed module: off macOS listing is the typed unsupported error; on macOS an unknown
    account has no items."""
    environ = {"USER": "claude-usage-test-nobody"}
    if sys.platform == "darwin":
        assert [] == keychain.installed_services(environ)
        return
    with pytest.raises(CredentialsUnreadableError, match="not supported"):
        keychain.installed_services(environ)


# --- names, account, mode --------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, LEGACY),
        ({"CLAUDE_CONFIG_DIR": ""}, LEGACY),
        ({"CLAUDE_CONFIG_DIR": ALICE_DIR}, ALICE_SERVICE),
        ({"CLAUDE_CONFIG_DIR": ALICE_DIR + "/"}, ALICE_SLASH_SERVICE),
        ({"CLAUDE_CONFIG_DIR": "/Users/Jos\u00e9/.claude"}, JOSE_NFC_SERVICE),
        ({"CLAUDE_CONFIG_DIR": "/Users/Jose\u0301/.claude"}, JOSE_NFC_SERVICE),
        ({"CLAUDE_SECURESTORAGE_CONFIG_DIR": "/tmp/secure-store"}, SECURE_STORE_SERVICE),
        ({"CLAUDE_SECURESTORAGE_CONFIG_DIR": "/tmp/secure-store", "CLAUDE_CONFIG_DIR": ALICE_DIR},
         SECURE_STORE_SERVICE),
        ({"CLAUDE_SECURESTORAGE_CONFIG_DIR": "", "CLAUDE_CONFIG_DIR": ALICE_DIR}, LEGACY),
    ],
)
def test_service_name(environ: dict[str, str], expected: str) -> None:
    """The one service name matches sha256 prefixes computed outside Python (NFC, raw value, empty = legacy)."""
    assert expected == keychain.service_name(environ)


def test_non_nfc_path_does_not_hash_its_raw_bytes() -> None:
    """A decomposed path is normalised before hashing, not hashed as written."""
    assert JOSE_NFD_BYTES_SERVICE != keychain.service_name({"CLAUDE_CONFIG_DIR": "/Users/Jose\u0301/.claude"})


def test_account_is_user_when_set() -> None:
    """$USER is the account when set, non-empty and made of the allowed characters."""
    assert "carol" == keychain.account_name({"USER": "carol"})


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("first.last", "first.last"),
        ("a_b-c.9", "a_b-c.9"),
        ("first.last@corp.com", "claude-code-user"),
        ("john smith", "claude-code-user"),
        ("Jos\u00e9", "claude-code-user"),
        ("ren\u00e9e.dupont", "claude-code-user"),
        ("tab\there", "claude-code-user"),
        ("line\n", "claude-code-user"),
        ("DOMAIN\\user", "claude-code-user"),
        ("\uff41\uff42", "claude-code-user"),  # full-width letters: alphanumeric to Python, not to the rule
    ],
)
def test_account_rule_sanitises_like_claude_code(user: str, expected: str) -> None:
    """Issue 12, point 2: the name is used only if it matches ^[A-Za-z0-9._-]+$, else claude-code-user."""
    assert expected == keychain.account_name({"USER": user})


@pytest.mark.parametrize("environ", [{}, {"USER": ""}])
def test_account_falls_back_to_the_os_user(environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without $USER the account is the OS user name."""
    fake = pwd.struct_passwd(("dave", "x", 501, 20, "", "/Users/dave", "/bin/zsh"))
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: fake)
    assert "dave" == keychain.account_name(environ)


def test_os_user_name_is_sanitised_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OS user name obeys the same rule as $USER (a managed Mac's e-mail-style name)."""
    fake = pwd.struct_passwd(("dave@corp.example", "x", 501, 20, "", "/Users/dave", "/bin/zsh"))
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: fake)
    assert "claude-code-user" == keychain.account_name({})


def test_account_last_resort(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without $USER or a passwd entry the account is claude-code-user."""

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    assert "claude-code-user" == keychain.account_name({})


def test_sanitised_account_reads_claude_code_users_item(kc: Keychain) -> None:
    """Issue 12, point 2, end to end: USER=first.last@corp.com reads the item Claude Code wrote under
    claude-code-user, locating and spawning with that account."""
    kc.add(LEGACY, account="claude-code-user")
    with read(environ={"USER": "first.last@corp.com"}) as credential:
        assert b"Bearer " + TOKEN.encode() == credential.authorization()
    assert [(LEGACY, "claude-code-user", False)] == kc.queries()
    assert [f"find-generic-password -s {LEGACY} -a claude-code-user -w"] == [args for _, args in kc.runs()]


def test_location_names_the_one_service_and_account() -> None:
    """The location (a cache key) names the one item read: service and account."""
    assert f"{ALICE_SERVICE} (account alice)" == keychain.keychain_location(ENV)


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


# --- the macOS end-to-end script's reader, where it can run here -----------------------


@pytest.mark.parametrize(("expected", "with_file", "rc"), [("token", True, 0), ("NotFound", False, 0), ("token", False, 1)])
def test_e2e_reader_reports_the_outcome_without_the_token(tmp_path: Path, expected: str, with_file: bool, rc: int) -> None:
    """tests/macos/e2e_read.py (run by keychain_e2e.sh on a Mac) reads like the command, exits 0 only on the
    expected outcome, and prints no token; here it reads the file (keychain="file")."""
    token = "sk-ant-oat01-TEST-e2e-reader"
    if with_file:
        (tmp_path / ".claude").mkdir()
        (tmp_path / ".claude" / ".credentials.json").write_text(PAYLOAD.replace(TOKEN, token))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "E2E_EXPECT_TOKEN": token,
           "CLAUDE_USAGE_KEYCHAIN": "file"}
    run = subprocess.run([sys.executable, str(HERE / "macos" / "e2e_read.py"), expected], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert (rc, False) == (run.returncode, token in run.stdout + run.stderr)


# --- discovering accounts (claude_usage.profiles) ----------------------------------


def test_discovery_matches_keychain_items_to_directories(kc: Keychain, tmp_path: Path) -> None:
    """On macOS an account is a directory whose item exists (or that holds a login file); the
    items are found by one attribute-only query, and no secret is read or tool run."""
    from claude_usage import profiles

    home = tmp_path / "home"
    for name in (".claude", ".claude-work", ".claude_lab", ".claude-gone", ".claude-slash"):
        (home / name).mkdir(parents=True)
    (home / ".claude_lab" / ".credentials.json").write_text("{}")  # the file fallback's account
    environ = {"HOME": str(home), "USER": ACCOUNT}
    work = str(home / ".claude-work")
    kc.add(LEGACY)  # the default profile's
    kc.add(keychain.service_name({"CLAUDE_CONFIG_DIR": work}))
    slash = str(home / ".claude-slash") + "/"  # logged in as CLAUDE_CONFIG_DIR=~/.claude-slash/
    kc.add(keychain.service_name({"CLAUDE_CONFIG_DIR": slash}))
    kc.add(ALICE_SERVICE)  # /Users/alice/.claude: no directory here hashes to it
    kc.add(keychain.service_name({"CLAUDE_CONFIG_DIR": work}), account="bob")  # another user's
    found = profiles.discover(environ=environ, platform="darwin")
    assert [str(home / ".claude"), str(home / ".claude-slash") + "/", work, str(home / ".claude_lab")] == [
        account.config_dir for account in found
    ]
    lab = str(home / ".claude_lab")
    assert [
        f"{LEGACY} (account {ACCOUNT}), else {home}/.claude/.credentials.json",
        f"{keychain.service_name({'CLAUDE_CONFIG_DIR': slash})} (account {ACCOUNT}), else {slash}.credentials.json",
        f"{keychain.service_name({'CLAUDE_CONFIG_DIR': work})} (account {ACCOUNT}), else {work}/.credentials.json",
        f"{keychain.service_name({'CLAUDE_CONFIG_DIR': lab})} (account {ACCOUNT}), else {lab}/.credentials.json",
    ] == [account.source.location for account in found]
    assert ["keychain"] * 4 == [account.source.kind for account in found]
    assert [ALICE_SERVICE] == profiles.unmatched_keychain_items(environ, platform="darwin")
    assert all(not wanted_data for _service, _account, wanted_data in kc.queries())
    assert [] == kc.runs()


def test_discovery_on_a_locked_keychain_still_lists_the_directories(kc: Keychain, tmp_path: Path) -> None:
    from claude_usage import profiles

    home = tmp_path / "home"
    (home / ".claude-work").mkdir(parents=True)
    (home / ".claude-work" / ".credentials.json").write_text("{}")
    kc.add(LEGACY)
    kc.lock()
    found = profiles.discover(environ={"HOME": str(home), "USER": ACCOUNT}, platform="darwin")
    assert [str(home / ".claude-work")] == [account.config_dir for account in found]
    assert [] == kc.runs()
