"""The shipped native module is hardened, read from the built file itself.

The module is read from the wheel named by ``CLAUDE_USAGE_WHEEL`` (CI sets it to the wheel it
built and repaired) or, without it, from the installed package, which pip unpacked from the
wheel it built. pyelftools rather than ``readelf``: it reads the ``.so`` straight out of the
wheel's bytes, needs no binutils in the image that tests a wheel, and gives parsed structures
instead of text whose layout changes between binutils releases.
"""

from __future__ import annotations

import io
import os
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile

import claude_usage
from keychain_double.build import load_ffi_build
from native_variant import build_native_variant

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "claude-usage-client"
MODULE = "claude_usage/_lib.abi3.so"
INIT_SYMBOL = "PyInit__lib"
DF_TEXTREL, DF_BIND_NOW, DF_1_NOW = 0x4, 0x8, 0x1
GLIBC = "libc.so.6"


@dataclass(frozen=True)
class Hardening:
    """Each property a hardened shared object has; all True is the goal."""

    full_relro: bool
    non_executable_stack: bool
    stack_protector: bool
    fortified: bool  # only glibc has the *_chk functions; elsewhere this is True when not applicable
    no_rpath: bool
    no_text_relocations: bool
    no_debug_sections: bool
    exports_only_init: bool


def hardening_of(data: bytes) -> Hardening:
    elf = ELFFile(io.BytesIO(data))
    segments = {segment["p_type"]: segment for segment in elf.iter_segments()}
    tags: dict[str, list[object]] = {}
    dynamic = elf.get_section_by_name(".dynamic")
    for tag in dynamic.iter_tags():
        tags.setdefault(tag.entry.d_tag, []).append(getattr(tag, "needed", None) or tag.entry.d_val)
    flags = sum(int(value) for value in tags.get("DT_FLAGS", []))  # type: ignore[call-overload]
    flags_1 = sum(int(value) for value in tags.get("DT_FLAGS_1", []))  # type: ignore[call-overload]
    imported, exported = set(), set()
    for symbol in elf.get_section_by_name(".dynsym").iter_symbols():
        if not symbol.name or symbol["st_info"]["bind"] == "STB_LOCAL":
            continue
        if symbol["st_shndx"] == "SHN_UNDEF":
            imported.add(symbol.name)
        elif symbol["st_other"]["visibility"] in ("STV_DEFAULT", "STV_PROTECTED"):
            exported.add(symbol.name)
    stack = segments.get("PT_GNU_STACK")
    return Hardening(
        full_relro="PT_GNU_RELRO" in segments and bool(flags & DF_BIND_NOW or flags_1 & DF_1_NOW),
        non_executable_stack=stack is not None and not stack["p_flags"] & P_FLAGS.PF_X,
        stack_protector="__stack_chk_fail" in imported,
        fortified=GLIBC not in tags.get("DT_NEEDED", []) or any(name.endswith("_chk") and name != "__stack_chk_fail" for name in imported),
        no_rpath="DT_RPATH" not in tags and "DT_RUNPATH" not in tags,
        no_text_relocations="DT_TEXTREL" not in tags and not flags & DF_TEXTREL,
        no_debug_sections=not any(section.name.startswith((".debug", ".zdebug")) for section in elf.iter_sections()),
        exports_only_init=exported == {INIT_SYMBOL},
    )


def shipped_module() -> bytes:
    wheel = os.environ.get("CLAUDE_USAGE_WHEEL")
    if wheel:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(MODULE)
    return Path(claude_usage.__file__).with_name("_lib.abi3.so").read_bytes()


elf_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="ELF checks; the macOS wheel job checks Mach-O builds apart"
)


@elf_only
def test_shipped_module_is_hardened() -> None:
    assert Hardening(*([True] * 8)) == hardening_of(shipped_module())


@elf_only
@pytest.mark.compiler
def test_an_unhardened_build_fails_every_check(tmp_path: Path) -> None:
    """The same sources built with each protection turned off: the checks must see every one missing."""
    module = build_native_variant(
        tmp_path,
        flags=[
            "-std=c99", "-g", "-O2", "-fvisibility=default", "-fno-stack-protector", "-U_FORTIFY_SOURCE",
            "-Wl,-z,norelro", "-Wl,-z,lazy", "-Wl,-z,execstack", "-Wl,-rpath,/build/machine/lib", "-Wl,-z,notext",
        ],
        extra_sources=[ROOT / "tests" / "c" / "textrel.c"],
    )
    assert Hardening(*([False] * 8)) == hardening_of(module.read_bytes())


def test_frameworks_are_linked_on_darwin_and_hardening_on_linux() -> None:
    """macOS links the Keychain frameworks (and strips debug symbols); Linux gets the hardening."""
    ffi_build = load_ffi_build()
    assert (
        ["-framework", "Security", "-framework", "CoreFoundation", "-Wl,-S"],
        ["-Wl,-z,relro", "-Wl,-z,now", "-Wl,-z,noexecstack", "-Wl,--strip-all"],
    ) == (ffi_build.link_args("darwin"), ffi_build.link_args("linux"))


def test_distribution_is_named_for_this_project() -> None:
    """Installed under its own name: ``claude-usage`` on the index is an unrelated project."""
    assert (DISTRIBUTION, claude_usage.__version__) == (
        metadata.metadata(DISTRIBUTION)["Name"],
        metadata.version(DISTRIBUTION),
    )


def wheel_metadata() -> str:
    """The WHEEL file of the wheel CI built, or of the one pip built and installed."""
    wheel = os.environ.get("CLAUDE_USAGE_WHEEL")
    if not wheel:
        return metadata.distribution(DISTRIBUTION).read_text("WHEEL") or ""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [name for name in archive.namelist() if name.endswith(".dist-info/WHEEL")]
        return archive.read(name).decode()


def test_wheel_is_one_abi3_wheel_for_every_cpython_from_3_10() -> None:
    tags = [line.removeprefix("Tag: ") for line in wheel_metadata().splitlines() if line.startswith("Tag: ")]
    assert {"cp310-abi3"} == {tag.rsplit("-", 1)[0] for tag in tags}
