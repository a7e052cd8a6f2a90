"""cffi build script: compiles csrc/ into ``claude_usage._lib`` (out-of-line API mode)."""

from __future__ import annotations

import sys
from pathlib import Path

from cffi import FFI

CSRC = Path(__file__).resolve().parent
# Relative to the project root, where setuptools runs this script.
SOURCES = [f"csrc/{name}" for name in (
    "cu_memzero.c",
    "cu_json.c",
    "cu_credential.c",
    "cu_file.c",
    "cu_retry.c",
    "cu_keychain.c",
)]
COMPILE_ARGS = ["-std=c99", "-Wall", "-Wextra", "-O2", "-fvisibility=hidden"]


def link_args(platform: str = sys.platform) -> list[str]:
    """Linker flags: the Keychain frameworks on macOS, nothing beyond libc elsewhere."""
    if platform == "darwin":
        return ["-framework", "Security", "-framework", "CoreFoundation"]
    return []


ffi = FFI()
ffi.cdef((CSRC / "cu_api.h").read_text(encoding="utf-8"))
ffi.set_source(
    "claude_usage._lib",
    '#include "cu_internal.h"',
    sources=SOURCES,
    include_dirs=["csrc"],
    extra_compile_args=COMPILE_ARGS,
    extra_link_args=link_args(),
)

if __name__ == "__main__":
    ffi.compile(verbose=True)
