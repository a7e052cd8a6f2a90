"""Fixtures of the pytest-benchmark cases: one workspace and one loopback HTTPS server per session.

Not collected by the main test run (``testpaths = ["tests"]``); ``benchmarks/run.py`` runs these.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from common import LIMITS_BODY_NAME, ServerProcess, Workspace, fixture_body, make_workspace, scrub_process_environment


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """CA, server certificate and fake home; this process's environment is scrubbed to match."""
    made = make_workspace(tmp_path_factory.mktemp("bench"))
    scrub_process_environment(made.home)
    return made


@pytest.fixture(scope="session")
def server(workspace: Workspace) -> Iterator[ServerProcess]:
    with ServerProcess(workspace, fixture_body()) as running:
        yield running


@pytest.fixture(scope="session")
def body() -> bytes:
    return fixture_body()


@pytest.fixture(scope="session")
def limits_body() -> bytes:
    data = fixture_body(LIMITS_BODY_NAME)
    assert "limits" in json.loads(data)
    return data
