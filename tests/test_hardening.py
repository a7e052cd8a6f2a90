"""claude_usage.harden_process() and security_status(): the switch, the report (each in a child
Python, since hardening cannot be undone in the test process)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import claude_usage

CHILD = r"""
import claude_usage
before = claude_usage.security_status()
did = claude_usage.harden_process()
after = claude_usage.security_status()
print(before.process_dumpable, did, after.process_dumpable, after.hardening_disabled)
"""


def run(env: dict[str, str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60)
    assert 0 == done.returncode, done.stderr
    return done.stdout.split()


@pytest.mark.skipif(sys.platform != "linux", reason="PR_GET_DUMPABLE is Linux's")
def test_harden_process_makes_the_process_undumpable() -> None:
    assert ["True", "True", "False", "False"] == run({"PATH": "/usr/bin:/bin"})


@pytest.mark.skipif(sys.platform != "linux", reason="PR_GET_DUMPABLE is Linux's")
@pytest.mark.parametrize("value", ["1", "yes"])
def test_the_variable_turns_hardening_off(value: str) -> None:
    assert ["True", "False", "True", "True"] == run({"PATH": "/usr/bin:/bin", "CLAUDE_USAGE_NO_HARDENING": value})


def test_an_empty_or_zero_variable_leaves_hardening_on() -> None:
    for value in ("", "0"):
        assert run({"PATH": "/usr/bin:/bin", "CLAUDE_USAGE_NO_HARDENING": value})[1] == "True"


def test_security_status_reports_the_allocator() -> None:
    status = claude_usage.security_status()
    assert status.guard_pages
    if sys.platform == "linux":
        assert status.excluded_from_dumps and status.wiped_on_fork
    assert status.locked == (status.lock_error is None)
    assert "SecurityStatus(" in repr(status) and "token" not in repr(status).lower()


def test_exports_are_lazy_and_listed() -> None:
    assert {"harden_process", "security_status", "SecurityStatus"} <= set(claude_usage.__all__)


def test_the_variable_is_read_from_the_given_environment() -> None:
    """The command passes its own environment mapping; a set variable there wins over os.environ."""
    child = "import claude_usage; print(claude_usage.harden_process({'CLAUDE_USAGE_NO_HARDENING': '1'}))"
    done = subprocess.run([sys.executable, "-c", child], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert "False" == done.stdout.strip(), done.stderr
