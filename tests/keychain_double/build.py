"""Compiles the macOS Keychain branch of the C module on Linux, against the Security.framework double.

The module gets the real cdef (csrc/cu_api.h) plus the double's control API, the real
sources listed in csrc/ffi_build.py, and ``CU_SECURITY_TOOL`` pointing at a fake tool, so
``claude_usage._native`` can run on it unchanged with its ``ffi``/``lib`` swapped.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MODULE_NAME = "_cu_keychain_double"


def load_ffi_build() -> ModuleType:
    """Import csrc/ffi_build.py by path (it is a build script, not a package module)."""
    spec = importlib.util.spec_from_file_location("cu_ffi_build", ROOT / "csrc" / "ffi_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(workdir: Path) -> tuple[ModuleType, Path]:
    """Compile and import the double module in workdir; return it and the fake tool's path."""
    from cffi import FFI

    workdir.mkdir(parents=True, exist_ok=True)
    tool = workdir / "fake_security"
    shutil.copyfile(HERE / "fake_security.sh", tool)  # a copy: a checkout may drop the exec bit
    tool.chmod(0o755)

    ffi_build = load_ffi_build()
    ffi = FFI()
    ffi.cdef((ROOT / "csrc" / "cu_api.h").read_text(encoding="utf-8"))
    ffi.cdef((HERE / "kcd_control.h").read_text(encoding="utf-8"))
    ffi.set_source(
        MODULE_NAME,
        '#include "cu_internal.h"\n#include "kcd_control.h"',
        sources=[str(ROOT / source) for source in ffi_build.SOURCES] + [str(HERE / "security_double.c")],
        include_dirs=[str(ROOT / "csrc"), str(HERE / "include"), str(HERE)],
        define_macros=[("CU_KEYCHAIN_DOUBLE", "1"), ("CU_SECURITY_TOOL", f'"{tool}"')],
        extra_compile_args=[*ffi_build.COMPILE_ARGS, "-Werror"],
    )
    library = Path(ffi.compile(tmpdir=str(workdir)))
    spec = importlib.util.spec_from_file_location(MODULE_NAME, library)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.setdefault(MODULE_NAME, module)
    return module, tool


if __name__ == "__main__":
    built, fake_tool = build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "build" / "py")
    print(built.__file__, fake_tool)
