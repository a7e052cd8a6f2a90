"""Case 1: reading the login in C (read, extract, validate, wipe) against reading it in Python."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from claude_usage.credentials import locate_credentials, open_credentials
from common import ACCESS_TOKEN, Workspace


def test_credential_read_ours(benchmark: Any, workspace: Workspace) -> None:
    """The library's own path: locate, read and validate in C, take the header value, wipe."""
    environ = {"HOME": str(workspace.home)}
    source = locate_credentials(environ=environ, keychain="file")

    def read() -> bytes:
        with open_credentials(source, environ=environ) as credential:
            return credential.authorization()

    assert f"Bearer {ACCESS_TOKEN}".encode() == benchmark(read)


def test_credential_read_json(benchmark: Any, workspace: Workspace) -> None:
    """Baseline A: what a user would write in Python."""
    path = str(workspace.credential_file)
    token = benchmark(lambda: json.loads(Path(path).read_text())["claudeAiOauth"]["accessToken"])
    assert ACCESS_TOKEN == token


def test_credential_read_syscalls(benchmark: Any, workspace: Workspace) -> None:
    """Baseline B: the floor, open/read/close of the same file and nothing else."""
    path = str(workspace.credential_file)

    def read() -> bytes:
        fd = os.open(path, os.O_RDONLY)
        try:
            return os.read(fd, 65536)
        finally:
            os.close(fd)

    assert ACCESS_TOKEN.encode() in benchmark(read)
