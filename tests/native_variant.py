"""The native module built apart from the wheel, from the same csrc/ and cdef, for tests that need
a variant of it: one C file swapped for a test-only stand-in (a wipe that does nothing, a plain
allocator), or other compiler flags (an unhardened build). Needs a C compiler (tests using it are
marked `compiler`)."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from keychain_double.build import ROOT, load_ffi_build


def build_native_variant(
    out: Path,
    *,
    replace: tuple[str, Path] | None = None,
    flags: Sequence[str] = (),
    extra_sources: Sequence[Path] = (),
) -> Path:
    """Compile ``claude_usage._lib`` into ``out``; ``replace=("cu_memzero.c", stand_in)`` builds
    ``stand_in`` in that file's place. Returns the module's path."""
    ffi_build = load_ffi_build()
    generated = out / "_lib.c"
    ffi_build.ffi.emit_c_code(str(generated))
    sources = [ROOT / source for source in ffi_build.SOURCES]
    if replace is not None:
        name, stand_in = replace
        sources = [stand_in if source.name == name else source for source in sources]
        assert stand_in in sources, f"{name} is not among the module's sources"
    module = out / f"_lib{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(
        [
            os.environ.get("CC", "gcc"), "-shared", "-fPIC", *(flags or ffi_build.COMPILE_ARGS),
            f"-I{ROOT / 'csrc'}", f"-I{sysconfig.get_paths()['include']}", str(generated),
            *map(str, sources), *map(str, extra_sources), "-o", str(module),
        ],
        check=True,
    )
    return module


#: Child-script lines that put the module at ``native`` (a path, or "-" for the installed one) in
#: place of ``claude_usage._lib`` before the package is imported. The script sets ``native`` first.
SWAP_IN = r"""
import importlib.machinery, importlib.util, sys
if native != "-":
    loader = importlib.machinery.ExtensionFileLoader("claude_usage._lib", native)
    spec = importlib.util.spec_from_file_location("claude_usage._lib", native, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules["claude_usage._lib"] = module
"""
