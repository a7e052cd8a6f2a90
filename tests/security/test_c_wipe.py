"""Item 1: no block freed during a full get_usage() still holds a token (an LD_PRELOAD free() shim).

The child Python runs under PYTHONMALLOC=malloc, so every Python object is a malloc block too:
the shim then sees the interpreter's copies of the header as well as the native module's
buffers, which the guarded allocator releases through munlock (wrapped and scanned too).
Two sabotaged runs prove the check can fail: the native module rebuilt with
tests/c/broken_memzero.c in place of csrc/cu_memzero.c (the wipe an optimiser deleted), and
the library's Python-side wipes switched off.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ACCESS_TOKEN, REFRESH_TOKEN, fixture_body
from loopback_server import LoopbackServer, respond
from native_variant import SWAP_IN, build_native_variant
from security.probes import child_environment, record

HERE = Path(__file__).resolve().parent
CSRC = HERE.parents[1] / "csrc"
BROKEN_MEMZERO = HERE.parent / "c" / "broken_memzero.c"

CHILD = r"""
import os, sys
url, ca, native, python_wipes = sys.argv[1:5]
""" + SWAP_IN + r"""
import claude_usage, claude_usage._http
if python_wipes == "off":
    claude_usage._http.wipe_bytes = lambda secret: None
try:
    claude_usage.get_usage(api_url=url, verify=ca, timeout=5.0)
    outcome = "ok"
except claude_usage.ClaudeUsageError as error:
    outcome = error.kind
leaked_env = any(name.startswith("CU_SHIM_") and name != "CU_SHIM_REPORT" for name in os.environ)
print(outcome, sys.modules["claude_usage._lib"].__file__, leaked_env)
"""


@dataclass(frozen=True)
class FreedHits:
    """What the shim saw: blocks freed with the access / refresh token, per calling object."""

    outcome: str
    module_file: str
    by_object: dict[str, tuple[int, int]]
    blocks: int

    def total(self) -> tuple[int, int]:
        return (sum(a for a, _ in self.by_object.values()), sum(r for _, r in self.by_object.values()))

    def from_object(self, fragment: str) -> tuple[int, int]:
        hits = [v for k, v in self.by_object.items() if fragment in os.path.basename(k)]
        return (sum(a for a, _ in hits), sum(r for _, r in hits))


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """free_shim.c built into a shared object."""
    out = tmp_path_factory.mktemp("shim") / "free_shim.so"
    subprocess.run(
        ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC", str(HERE / "free_shim.c"), "-o", str(out), "-ldl"],
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def broken_native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The native module with tests/c/broken_memzero.c in place of cu_memzero.c."""
    return build_native_variant(tmp_path_factory.mktemp("broken"), replace=("cu_memzero.c", BROKEN_MEMZERO))


@pytest.fixture
def usage_server(server_context: ssl.SSLContext) -> Iterator[LoopbackServer]:
    with LoopbackServer(server_context, respond(200, fixture_body("pro_max.json"))) as server:
        yield server


def run_under_shim(
    shim: Path, server: LoopbackServer, ca_file: str, home: Path, tmp_path: Path, *, native: Path | None = None, python_wipes: bool = True
) -> FreedHits:
    report = tmp_path / "shim-report.txt"
    env = child_environment(
        home,
        LD_PRELOAD=str(shim),
        PYTHONMALLOC="malloc",
        CU_SHIM_ACCESS=ACCESS_TOKEN,
        CU_SHIM_REFRESH=REFRESH_TOKEN,
        CU_SHIM_REPORT=str(report),
    )
    args = [server.url, ca_file, str(native) if native else "-", "on" if python_wipes else "off"]
    done = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, timeout=60)
    assert 0 == done.returncode, done.stderr[-3000:]
    outcome, module_file, leaked_env = done.stdout.split()
    assert "False" == leaked_env  # the shim hid its inputs from the process under test
    by_object: dict[str, tuple[int, int]] = {}
    blocks = 0
    for line in report.read_text().splitlines():
        name, *numbers = line.rsplit(" ", 3) if line.startswith("total ") else line.rsplit(" ", 2)
        if name == "total":
            blocks = int(numbers[0])
        else:
            by_object[name] = (int(numbers[0]), int(numbers[1]))
    return FreedHits(outcome, module_file, by_object, blocks)


def test_no_freed_block_holds_a_token(shim: Path, usage_server: LoopbackServer, ca_file: str, home: Path, tmp_path: Path) -> None:
    """A full get_usage() frees no block that holds the access or the refresh token."""
    hits = run_under_shim(shim, usage_server, ca_file, home, tmp_path)
    native = hits.from_object("_lib")
    record("C wipe: freed blocks with a token, native module", f"access {native[0]}, refresh {native[1]}", "0, 0", native == (0, 0))
    everywhere = hits.total()
    record(
        "C wipe: freed blocks with a token, whole process",
        f"access {everywhere[0]}, refresh {everywhere[1]} (of {hits.blocks:,} frees)",
        "0, 0",
        everywhere == (0, 0),
    )
    assert ("ok", (0, 0), (0, 0)) == (hits.outcome, native, everywhere)


def test_broken_native_wipe_is_caught(
    shim: Path, broken_native: Path, usage_server: LoopbackServer, ca_file: str, home: Path, tmp_path: Path
) -> None:
    """With the wipe sabotaged (broken_memzero.c), the shim finds both tokens in released buffers."""
    hits = run_under_shim(shim, usage_server, ca_file, home, tmp_path, native=broken_native)
    # The whole process: the arena's last contents are seen when its destructor unlocks it at
    # exit, a call that dladdr attributes to the dynamic loader; Python's wipes are on here.
    access, refresh = hits.total()
    record("C wipe check can fail: broken_memzero.c build", f"access {access}, refresh {refresh}", ">0, >0", access > 0 and refresh > 0)
    assert (str(broken_native), True, True) == (hits.module_file, access > 0, refresh > 0)


def test_disabled_python_wipes_are_caught(shim: Path, usage_server: LoopbackServer, ca_file: str, home: Path, tmp_path: Path) -> None:
    """Without the Python-side wipes, the interpreter frees the header value, line and request head unwiped."""
    hits = run_under_shim(shim, usage_server, ca_file, home, tmp_path, python_wipes=False)
    access, refresh = hits.total()
    record("Python wipe check can fail: wipe_bytes disabled", f"access {access}, refresh {refresh}", ">0 access", access > 0)
    assert (True, 0) == (access > 0, refresh)

