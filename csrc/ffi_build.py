"""cffi build script: compiles csrc/ into ``claude_usage._lib`` (out-of-line API mode).

The flags harden the shipped module and make it reproducible; tests/test_wheel.py checks
their effect on the built file (SECURITY.md, "Verifying a release", lists them).
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

from cffi import FFI

CSRC = Path(__file__).resolve().parent
ROOT = CSRC.parent
# Relative to the project root, where setuptools runs this script.
SOURCES = [f"csrc/{name}" for name in (
    "cu_memzero.c",
    "cu_secure_alloc.c",
    "cu_harden.c",
    "cu_json.c",
    "cu_credential.c",
    "cu_file.c",
    "cu_retry.c",
    "cu_keychain.c",
)]
COMPILE_ARGS = ["-std=c99", "-Wall", "-Wextra", "-O2", "-fvisibility=hidden"]


def hardening_compile_args(root: Path = ROOT) -> list[str]:
    """What the shipped module is compiled with beyond COMPILE_ARGS (after the interpreter's own flags)."""
    return [
        "-g0",  # the interpreter's CFLAGS often say -g: no debug sections, no build paths in them
        "-fstack-protector-strong",
        "-U_FORTIFY_SOURCE",  # some interpreters' CFLAGS set a level already; ours is the one that counts
        "-D_FORTIFY_SOURCE=2",  # 2, not 3: the oldest toolchains we build on (manylinux_2_28) know only 2
        f"-ffile-prefix-map={root}=.",  # __FILE__ and any path the compiler keeps, relative to the checkout
    ]


def link_args(platform: str = sys.platform) -> list[str]:
    """Linker flags: the Keychain frameworks on macOS; full RELRO, no executable stack, stripped on Linux."""
    if platform == "darwin":
        return ["-framework", "Security", "-framework", "CoreFoundation", "-Wl,-S"]
    if platform.startswith("linux"):
        return ["-Wl,-z,relro", "-Wl,-z,now", "-Wl,-z,noexecstack", "-Wl,--strip-all"]
    return []


def _link_line_without_rpath() -> None:
    """Drop the interpreter's own ``-Wl,-rpath,...`` (pyenv and other source builds put one in
    LDSHARED) from the link line: a shipped module must not carry the build machine's paths."""
    if not sys.platform.startswith("linux") or "LDSHARED" in os.environ:
        return
    ldshared = sysconfig.get_config_var("LDSHARED") or ""
    words = ldshared.split()
    kept = [word for word in words if not word.startswith("-Wl,-rpath")]
    if kept != words:
        os.environ["LDSHARED"] = " ".join(kept)  # distutils takes LDSHARED from the environment first


ffi = FFI()
ffi.cdef((CSRC / "cu_api.h").read_text(encoding="utf-8"))
ffi.set_source(
    "claude_usage._lib",
    '#include "cu_internal.h"',
    sources=SOURCES,
    include_dirs=["csrc"],
    extra_compile_args=COMPILE_ARGS + hardening_compile_args(),
    extra_link_args=link_args(),
)

# setuptools runs this file (through cffi's setuptools hook) under the name "__cffi__"; tests import
# it by path for SOURCES and COMPILE_ARGS, and must not have their environment changed.
if __name__ == "__cffi__":
    _link_line_without_rpath()

if __name__ == "__main__":
    ffi.compile(verbose=True)
