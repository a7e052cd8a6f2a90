"""Issue 18: the token never reaches swap, a core dump, a forked child or a same-user debugger.

Every test runs the process under test as a child Python, and each proves it can fail: the
same child with the native module rebuilt around tests/c/plain_alloc.c (secret buffers from
calloc: no lock, no dump exclusion, no wipe-on-fork), or with CLAUDE_USAGE_NO_HARDENING=1.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ACCESS_TOKEN, REFRESH_TOKEN, fixture_body, write_credentials
from loopback_server import LoopbackServer, never_answer, respond
from as_nobody import NOBODY, outcome_as_nobody
from native_variant import SWAP_IN, build_native_variant
from security.probes import child_environment, record

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux: /proc, prctl, MADV_*")

HERE = Path(__file__).resolve().parent
CSRC = HERE.parents[1] / "csrc"
PLAIN_ALLOC = HERE.parent / "c" / "plain_alloc.c"

# The process under test: reads the credential file, does `action`, prints one line per step.
CHILD = r"""
import os, sys
native, action, harden = sys.argv[1:4]
""" + SWAP_IN + r"""
import claude_usage
from claude_usage import _native
from claude_usage._lib import ffi, lib
if harden == "harden":
    print("hardened", claude_usage.harden_process(), flush=True)

def vmlck():
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmLck:")).split()[1])

def vm_flags(address):
    # The kernel's VmFlags of the mapping that holds address (smaps: lo locked, dd no dump, wf wipe on fork).
    with open("/proc/self/smaps") as smaps:
        inside = False
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                start, end = (int(part, 16) for part in head.split("-"))
                inside = start <= address < end
            elif inside and head == "VmFlags:":
                return ",".join(line.split()[1:])
    return "?"

path = os.path.join(os.environ["HOME"], ".claude", ".credentials.json")
if action == "vmlck":
    first = vmlck()
    _native.read_file(path).close()  # the first read makes (and locks) the allocator's arena
    before = vmlck()
    credential = _native.read_file(path)
    during = vmlck()
    length = ffi.new("size_t *")
    flags = vm_flags(int(ffi.cast("uintptr_t", lib.cu_credential_token(credential._cdata, length))))
    credential.close()
    print("vmlck", first, before, during, vmlck(), flags, flush=True)
elif action == "fork":
    credential = _native.read_file(path)
    length = ffi.new("size_t *")
    token = lib.cu_credential_token(credential._cdata, length)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_end, f"{ffi.buffer(token, length[0])[:].hex()} {vmlck()}".encode())
        os._exit(0)
    os.close(write_end)
    seen = os.read(read_end, 1 << 16).decode()
    os.waitpid(pid, 0)
    credential.close()
    print("fork", seen, flush=True)
elif action == "hold":
    credential = _native.read_file(path)
    print("holding", os.getpid(), flush=True)
    sys.stdin.readline()
    credential.close()
elif action == "wait":
    url = sys.argv[4]
    print("waiting", os.getpid(), flush=True)
    try:
        claude_usage.get_usage(api_url=url, timeout=30.0)
    except claude_usage.ClaudeUsageError as error:
        print("ended", error.kind, flush=True)
"""


@pytest.fixture(scope="module")
def plain_native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The native module with tests/c/plain_alloc.c in place of cu_secure_alloc.c."""
    out = tmp_path_factory.mktemp("plain")
    module = build_native_variant(out, replace=("cu_secure_alloc.c", PLAIN_ALLOC))
    os.chmod(out, 0o755)
    return module


def run_child(home: Path, native: Path | None, action: str, harden: bool = False) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(native) if native else "-", action, "harden" if harden else "-"],
        env=child_environment(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 0 == done.returncode, done.stderr[-3000:]
    return done.stdout.split()


def test_vmlck_while_a_credential_is_open(home: Path, plain_native: Path) -> None:
    """VmLck is above 0 while a credential is open and back to its old value after; the token's
    mapping is locked, excluded from dumps and wiped on fork (smaps VmFlags lo, dd, wf)."""
    _, first, before, during, after, flags = run_child(home, None, "vmlck")
    _, p_first, p_before, p_during, p_after, p_flags = run_child(home, plain_native, "vmlck")
    wanted = {"lo", "dd", "wf"}
    ok = int(during) > 0 and int(after) == int(before) and wanted <= set(flags.split(","))
    record(
        "Memory: VmLck kB, process start / before / open / closed",
        f"{first} / {before} / {during} / {after}; token's mapping {' '.join(sorted(wanted & set(flags.split(','))))}",
        "open > 0, closed = before; lo dd wf",
        ok,
    )
    plain_caught = int(p_during) == 0 and not wanted & set(p_flags.split(","))
    record("Memory test can fail: plain_alloc.c build, VmLck and flags", f"{p_first} / {p_before} / {p_during} / {p_after}; none of lo dd wf" if plain_caught else p_flags, "open = 0, no flag", plain_caught)
    assert ok, (first, before, during, after, flags)
    assert plain_caught


def test_forked_child_reads_zeros_where_the_token_was(home: Path, plain_native: Path) -> None:
    """MADV_WIPEONFORK: a child forked while a credential is open reads zeros at the token's address."""
    _, seen_hex, child_vmlck = run_child(home, None, "fork")
    seen = bytes.fromhex(seen_hex)
    plain_seen = bytes.fromhex(run_child(home, plain_native, "fork")[1])
    token = ACCESS_TOKEN.encode()
    ok = len(seen) == len(token) and seen == bytes(len(token))
    record("Memory: forked child, bytes at the token's address", "all zeros" if ok else f"{seen[:12]!r}...", "zeros", ok)
    # mlock is not inherited: the allocator locks the child's arena again (pthread_atfork).
    record("Memory: forked child's VmLck (arena locked again)", f"{child_vmlck} kB", "> 0", int(child_vmlck) > 0)
    assert int(child_vmlck) > 0
    record("Memory test can fail: plain_alloc.c build, forked child", "the token" if plain_seen == token else "no token", "the token", plain_seen == token)
    assert ok
    assert plain_seen == token


def _core_copies(home: Path, native: Path | None, tmp_path: Path) -> tuple[int, int]:
    """gcore of a child holding an open credential: copies of the access and refresh tokens."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(native) if native else "-", "hold", "-"],
        env=child_environment(home), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        word, pid = child.stdout.readline().split()
        prefix = tmp_path / f"core-{'plain' if native else 'guarded'}"
        subprocess.run(["gcore", "-o", str(prefix), pid], check=True, capture_output=True, timeout=120)
        data = Path(f"{prefix}.{pid}").read_bytes()
        Path(f"{prefix}.{pid}").unlink()
        child.stdin.write("\n")
        child.stdin.flush()
        return data.count(ACCESS_TOKEN.encode()), data.count(REFRESH_TOKEN.encode())
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(shutil.which("gcore") is None or os.geteuid() != 0, reason="needs gcore (Debian: gdb), as root")
def test_core_dump_holds_no_token(home: Path, plain_native: Path, tmp_path: Path) -> None:
    """A core of a process holding an open credential has 0 copies of the token (MADV_DONTDUMP)."""
    guarded = _core_copies(home, None, tmp_path)
    plain = _core_copies(home, plain_native, tmp_path)
    record("Memory: gcore while a credential is open", f"access {guarded[0]}, refresh {guarded[1]}", "0, 0", guarded == (0, 0))
    record("Memory test can fail: plain_alloc.c build, gcore", f"access {plain[0]}, refresh {plain[1]}", ">= 1 access", plain[0] >= 1)
    assert (0, 0) == guarded
    assert plain[0] >= 1


# ---- when the system refuses to lock ----

MEMLOCK_PROBE = r"""
#include <stdio.h>
#include <string.h>
#include "cu_internal.h"
int main(void)
{
    cu_secure_info info;
    char *small = cu_secret_alloc(100), *large = cu_secret_alloc(20000);
    int usable = small != NULL && large != NULL;
    if (usable) {
        memset(small, 'x', 100);
        memset(large, 'y', 20000);
        usable = small[99] == 'x' && large[19999] == 'y';
    }
    cu_free_secret(small, 100);
    cu_free_secret(large, 20000);
    cu_secure_status(&info);
    printf("%d %d %d %zu %d %d\n", usable, info.probe_locked, info.probe_lock_errno, info.lock_failures,
           info.probe_dump_excluded, info.probe_wipe_on_fork);
    return 0;
}
"""


@pytest.fixture(scope="module")
def memlock_probe() -> Iterator[Path]:
    """A small C program on the allocator alone (no interpreter: it runs as uid 65534 from anywhere)."""
    # Not tmp_path: its parents are 0700 root, which uid 65534 could not enter.
    out = Path(tempfile.mkdtemp(prefix="cu-memlock-"))
    source = out / "probe.c"
    source.write_text(MEMLOCK_PROBE)
    binary = out / "probe"
    subprocess.run(
        [os.environ.get("CC", "gcc"), "-std=c99", "-O2", f"-I{CSRC}", str(source),
         *(str(CSRC / name) for name in ("cu_secure_alloc.c", "cu_memzero.c", "cu_retry.c")), "-o", str(binary), "-lpthread"],
        check=True,
    )
    os.chmod(out, 0o755)
    yield binary
    shutil.rmtree(out)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to uid 65534 (root ignores RLIMIT_MEMLOCK)")
def test_no_lock_allowed_carries_on_and_reports(memlock_probe: Path) -> None:
    """RLIMIT_MEMLOCK 0 for an unprivileged user: buffers still work, unlocked, and the refusal is reported."""
    import resource

    def limited(memlock: int) -> list[str]:
        def drop() -> None:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (memlock, memlock))

        done = subprocess.run([str(memlock_probe)], preexec_fn=drop, capture_output=True, text=True, timeout=30)
        assert 0 == done.returncode, done.stderr
        return done.stdout.split()

    refused = limited(0)
    allowed = limited(64 * 1024)
    ok = refused[:2] == ["1", "0"] and refused[2] != "0" and int(refused[3]) >= 1 and refused[4:] == ["1", "1"]
    record(
        "Memory: RLIMIT_MEMLOCK 0 (uid 65534): usable / locked / errno / refusals",
        f"{refused[0]} / {refused[1]} / {errno.errorcode.get(int(refused[2]), refused[2])} / {refused[3]}; 64 KiB: locked {allowed[1]}",
        "usable, unlocked, reported; 64 KiB locks",
        ok and allowed[:2] == ["1", "1"],
    )
    assert ok, refused
    assert ["1", "1"] == allowed[:2]


# ---- the same user's other processes, while the command waits on a slow server ----

# CI runs as root, and the interpreter may live where uid 65534 cannot exec it (~/.pyenv), so
# both processes are forks of this one, no exec: the attacker drops to 65534 and forks the
# process under test, which hardens itself (or not) and calls get_usage() against a server
# that never answers. Being its parent, the attacker could trace it even under Yama's
# ptrace_scope 1: only PR_SET_DUMPABLE refuses it (this machine's ptrace_scope is recorded).


def _attack(home: Path, url: str, no_hardening_variable: bool) -> str:
    """What a uid-65534 process gets from /proc/PID/mem and PTRACE_ATTACH on its hardened child."""
    return outcome_as_nobody(
        lambda: _attack_as_nobody(home, url, no_hardening_variable), lambda error: f"error {error!r}"
    )


def _attack_as_nobody(home: Path, url: str, no_hardening_variable: bool) -> str:
    c, e = ctypes, errno  # imported before the drop: uid 65534 may not read the stdlib's lib-dynload
    ready_read, ready_write = os.pipe()
    victim = os.fork()
    if victim == 0:  # the process under test: hardens itself as the command does, then waits on the server
        try:
            os.close(ready_read)
            os.environ["HOME"] = str(home)
            # The setuid() of the drop made this process non-dumpable (the kernel does so on any
            # change of credentials); a command the user starts is dumpable, as after exec.
            if c.CDLL(None).prctl(4, 1, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
                raise OSError("prctl(PR_SET_DUMPABLE, 1) failed")
            if no_hardening_variable:
                os.environ["CLAUDE_USAGE_NO_HARDENING"] = "1"
            import claude_usage

            claude_usage.harden_process()
            os.write(ready_write, b"w")
            claude_usage.get_usage(api_url=url, timeout=30.0)
        except BaseException:  # noqa: BLE001 - shown in the test's captured output
            import traceback

            traceback.print_exc()
        finally:
            os._exit(0)
    os.close(ready_write)
    os.read(ready_read, 1)
    time.sleep(0.5)  # inside get_usage(): the credential is open, the request waits on the server
    results = []
    try:
        with open(f"/proc/{victim}/maps") as maps:
            start = int(maps.readline().split("-")[0], 16)
        with open(f"/proc/{victim}/mem", "rb", buffering=0) as mem:
            mem.seek(start)
            mem.read(16)
        results.append("mem:read")
    except OSError as error:
        results.append("mem:" + e.errorcode.get(error.errno or 0, str(error.errno)))
    libc = c.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [c.c_long, c.c_long, c.c_void_p, c.c_void_p]
    ptrace_attach, ptrace_detach = 16, 17
    if libc.ptrace(ptrace_attach, victim, None, None) == 0:
        os.waitpid(victim, 0)
        libc.ptrace(ptrace_detach, victim, None, None)
        results.append("ptrace:attached")
    else:
        results.append("ptrace:" + e.errorcode.get(c.get_errno(), "?"))
    os.kill(victim, 9)
    os.waitpid(victim, 0)
    return " ".join(results)


@pytest.fixture
def nobody_home() -> Iterator[Path]:
    """A home owned by uid 65534 holding a valid credential file."""
    directory = Path(tempfile.mkdtemp(prefix="cu-nobody-"))
    os.chmod(directory, 0o755)
    write_credentials(directory)
    for path in (directory, directory / ".claude", directory / ".claude" / ".credentials.json"):
        os.chown(path, NOBODY, NOBODY)
    yield directory
    shutil.rmtree(directory)


def _ptrace_scope() -> str:
    try:
        return Path("/proc/sys/kernel/yama/ptrace_scope").read_text().strip()
    except OSError:
        return "no Yama"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run both processes as uid 65534")
def test_same_user_cannot_read_or_trace_a_hardened_process(nobody_home: Path) -> None:
    """As one non-root user: harden_process() refuses /proc/PID/mem and ptrace; the variable undoes it."""
    # A warm-up call loads every module the children need, before they drop to a user who may
    # not read the interpreter's own files.
    import claude_usage

    with LoopbackServer(None, respond(200, fixture_body("pro_max.json"))) as server:
        claude_usage.get_usage(api_url=server.url, timeout=5.0, environ={"HOME": str(nobody_home)})
    claude_usage.security_status()

    release = threading.Event()
    with LoopbackServer(None, never_answer(release)) as server:
        try:
            hardened = _attack(nobody_home, server.url, no_hardening_variable=False)
            disabled = _attack(nobody_home, server.url, no_hardening_variable=True)
        finally:
            release.set()
    refused = hardened in ("mem:EACCES ptrace:EPERM", "mem:EPERM ptrace:EPERM")
    scope = _ptrace_scope()
    record(f"Memory: same user (65534), /proc/PID/mem and ptrace, hardened ({scope})", hardened, "both refused", refused)
    record("Memory test can fail: CLAUDE_USAGE_NO_HARDENING=1", disabled, "both allowed", disabled == "mem:read ptrace:attached")
    assert refused, hardened
    assert "mem:read ptrace:attached" == disabled


# ---- how long the token lives ----


def test_token_lifetimes(home: Path, server_context: object, ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per warm get_usage(): the token's span in native memory (read to wipe), and each Python copy's."""
    import claude_usage
    from claude_usage import _http, _native

    monkeypatch.setenv("HOME", str(home))
    spans: list[int] = []
    python_spans: dict[str, list[int]] = {"header value": [], "header line": [], "request head": []}
    made: dict[int, tuple[str, int]] = {}  # id of a live secret object -> (which, when made)
    real_authorization = _native.NativeCredential.authorization
    real_putheader = _http._WatchedConnectionMixin.putheader
    real_send = _http._WatchedConnectionMixin.send
    real_wipe = _http.wipe_bytes

    def authorization(self: _native.NativeCredential) -> bytes:
        value = real_authorization(self)
        made[id(value)] = ("header value", time.perf_counter_ns())
        return value

    def putheader(self: Any, header: str | bytes, *values: Any) -> None:
        real_putheader(self, header, *values)
        if self._secret_line is not None and id(self._secret_line) not in made:
            made[id(self._secret_line)] = ("header line", time.perf_counter_ns())

    def send(self: Any, data: Any) -> None:
        if self._wipe_next_send and type(data) is bytes:  # the head, joined just before this call
            made[id(data)] = ("request head", time.perf_counter_ns())
        real_send(self, data)

    def wipe(secret: bytes | bytearray) -> None:
        real_wipe(secret)
        which, started = made.pop(id(secret), ("", 0))
        if which:
            python_spans[which].append(time.perf_counter_ns() - started)

    monkeypatch.setattr(_native.NativeCredential, "authorization", authorization)
    monkeypatch.setattr(_http._WatchedConnectionMixin, "putheader", putheader)
    monkeypatch.setattr(_http._WatchedConnectionMixin, "send", send)
    monkeypatch.setattr(_http, "wipe_bytes", wipe)
    with LoopbackServer(server_context, respond(200, fixture_body("pro_max.json"))) as server:  # type: ignore[arg-type]
        with claude_usage.UsageClient(api_url=server.url, verify=ca_file, timeout=5.0) as client:
            client.get_usage()  # the cold call: connection and TLS handshake
            for measured in python_spans.values():
                measured.clear()
            for _ in range(1000):
                client.get_usage()
                spans.append(claude_usage.security_status().last_exposure_ns)
    record(
        "Memory: token in native memory, read to wipe, per call (1,000 warm calls)",
        f"median {statistics.median(spans) / 1000:.0f} µs, max {max(spans) / 1000:.0f} µs",
        "reported",
        len(spans) == 1000 and all(span > 0 for span in spans),
    )
    for which, measured in python_spans.items():
        record(
            f"Memory: {which} (Python bytes), made to wiped, per call",
            f"median {statistics.median(measured) / 1000:.0f} µs, max {max(measured) / 1000:.0f} µs" if measured else "none",
            "reported, 1,000 wiped",
            len(measured) == 1000,
        )
    assert 1000 == len(spans)
    assert all(span > 0 for span in spans)
    assert {1000} == {len(measured) for measured in python_spans.values()}
    assert not made  # every secret object made was wiped
