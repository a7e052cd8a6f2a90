"""Keeping the token out of swap, core dumps, forked children and same-user debuggers.

The native module holds every secret buffer in guarded, locked memory on its own
(:func:`security_status` says what took). Hardening the whole process is different: it changes
how the host program can be debugged, so the library never does it by itself. The command calls
:func:`harden_process` before it reads a credential; a program that embeds the library may call
it too. ``CLAUDE_USAGE_NO_HARDENING=1`` turns it off, for debugging.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from claude_usage import _native

__all__ = ["NO_HARDENING_VARIABLE", "SecurityStatus", "harden_process", "security_status"]

#: Set to 1 to let harden_process() leave the process as it is (debuggers, profilers, core dumps).
NO_HARDENING_VARIABLE = "CLAUDE_USAGE_NO_HARDENING"


@dataclass(frozen=True, slots=True)
class SecurityStatus:
    """What protects the token in this process, as measured now."""

    guard_pages: bool  #: secret buffers sit between inaccessible pages
    locked: bool  #: mlock took: secret buffers never reach swap
    lock_error: str | None  #: why not (e.g. RLIMIT_MEMLOCK), else None
    excluded_from_dumps: bool  #: MADV_DONTDUMP (Linux), MADV_NOCORE (BSD); never on macOS
    wiped_on_fork: bool  #: a forked child gets zeros (Linux) or no mapping (macOS)
    process_dumpable: bool | None  #: False once harden_process() ran; None: unknown
    hardening_disabled: bool  #: CLAUDE_USAGE_NO_HARDENING is set
    secret_buffers: int  #: secret buffers allocated since the module was loaded
    lock_failures: int
    last_exposure_ns: int  #: the last span from a credential's read to its wipe, in C
    max_exposure_ns: int


def _disabled(environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(NO_HARDENING_VARIABLE, "")
    return value not in ("", "0")


def harden_process(environ: Mapping[str, str] | None = None) -> bool:
    """Harden this process before it reads a credential; True if it did.

    Linux: ``prctl(PR_SET_DUMPABLE, 0)``: no core dump, and other processes of the same user can
    no longer attach a debugger (ptrace) or read ``/proc/PID/mem``. macOS and others:
    ``RLIMIT_CORE`` 0, no core dump. It lasts until the process exits or execs another program
    (nothing here undoes it). Trade-offs: gdb, lldb, strace, py-spy and other profilers can no
    longer attach as the same user, and a crash leaves no core.
    With ``CLAUDE_USAGE_NO_HARDENING=1`` in ``environ`` (default ``os.environ``) it does nothing
    and returns False.
    """
    if _disabled(environ):
        return False
    _native.harden_process()
    return True


def security_status() -> SecurityStatus:
    """The protections in force: a probe buffer is made and released to see what takes."""
    info = _native.secure_memory_status()
    dumpable = _native.process_dumpable()
    lock_error = None
    if not info["probe_locked"]:
        lock_error = os.strerror(info["probe_lock_errno"]) if info["probe_lock_errno"] else "not supported"
        if sys.platform != "win32":
            import resource

            soft, _hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
            lock_error += f" (RLIMIT_MEMLOCK {soft} bytes)"
    return SecurityStatus(
        guard_pages=bool(info["guard_pages"]),
        locked=bool(info["probe_locked"]),
        lock_error=lock_error,
        excluded_from_dumps=bool(info["probe_dump_excluded"]),
        wiped_on_fork=bool(info["probe_wipe_on_fork"]),
        process_dumpable=None if dumpable < 0 else bool(dumpable),
        hardening_disabled=_disabled(),
        secret_buffers=info["allocations"],
        lock_failures=info["lock_failures"],
        last_exposure_ns=info["last_exposure_ns"],
        max_exposure_ns=info["max_exposure_ns"],
    )
