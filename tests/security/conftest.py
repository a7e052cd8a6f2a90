"""The security suite's summary: figures recorded by the tests, printed as one table at the end.

Set ``CLAUDE_USAGE_SECURITY_TABLE=defer`` to leave the printing to ``summary.py`` (``.ci/run``
does, so that the C fuzzing figures join the same table).
"""

from __future__ import annotations

import os

import pytest

from security.probes import ROWS, results_path
from security.summary import format_table

# Each run starts a fresh table: figures of an earlier run must not pass for this one's.
results_path().unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("CLAUDE_USAGE_SECURITY_TABLE") == "defer":
        return
    if ROWS:
        terminalreporter.section("security summary")
        terminalreporter.write_line(format_table(ROWS))
