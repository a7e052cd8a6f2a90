"""Case 1: reading the login in C (read, extract, validate, wipe) against reading it in Python.

The three sides take turns (common.taking_turns): what a system call costs here changes from one
minute to the next.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claude_usage.credentials import locate_credentials, open_credentials
from common import ACCESS_TOKEN, Workspace, taking_turns


def ours(workspace: Workspace) -> Callable[[], bytes]:
    """The library's own path: locate, read and validate in C, take the header value, wipe."""
    environ = {"HOME": str(workspace.home)}
    source = locate_credentials(environ=environ, keychain="file")

    def read() -> bytes:
        with open_credentials(source, environ=environ) as credential:
            return credential.authorization()

    return read


def json_loads(workspace: Workspace) -> Callable[[], bytes]:
    """Baseline A: what a user would write in Python."""
    path = str(workspace.credential_file)
    return lambda: json.loads(Path(path).read_text())["claudeAiOauth"]["accessToken"].encode()


def syscalls(workspace: Workspace) -> Callable[[], bytes]:
    """Baseline B: the floor, open/read/close of the same file and nothing else."""
    path = str(workspace.credential_file)

    def read() -> bytes:
        fd = os.open(path, os.O_RDONLY)
        try:
            return os.read(fd, 65536)
        finally:
            os.close(fd)

    return read


MAKERS = {"ours": ours, "json": json_loads, "syscalls": syscalls}


@taking_turns(*MAKERS)
def test_credential_read(benchmark: Any, workspace: Workspace, side: str, turn: int) -> None:
    """One turn of one side; every side's result holds the token (the floor's, inside the file)."""
    assert ACCESS_TOKEN.encode() in benchmark(MAKERS[side](workspace))
