"""Case 3: one call in a warm process over a kept-alive loopback HTTPS connection."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from claude_usage import UsageClient
from common import ServerProcess, Workspace


@pytest.fixture
def client(workspace: Workspace, server: ServerProcess) -> Iterator[UsageClient]:
    environ = {"HOME": str(workspace.home), "CLAUDE_USAGE_KEYCHAIN": "file"}
    with UsageClient(api_url=server.url, verify=str(workspace.ca_file), environ=environ) as made:
        made.get_usage()  # connect once: warm means the connection is already open
        yield made


def test_warm_call_ours(benchmark: Any, client: UsageClient) -> None:
    """``UsageClient.get_usage()``: credentials read afresh, request, typed result."""
    assert 48.0 == benchmark(client.get_usage).five_hour.utilization


def test_warm_call_requests(benchmark: Any, workspace: Workspace, server: ServerProcess) -> None:
    """Baseline: a bare ``requests.Session().get(url).json()``, default settings, CA passed per call."""
    ca = str(workspace.ca_file)  # per call: a Session.verify would lose to REQUESTS_CA_BUNDLE
    with requests.Session() as session:
        session.get(server.url, verify=ca).json()

        def call() -> Any:
            return session.get(server.url, verify=ca).json()

        assert 48.0 == benchmark(call)["five_hour"]["utilization"]


def test_warm_call_stdlib(benchmark: Any, workspace: Workspace, server: ServerProcess) -> None:
    """Context: the stdlib floor, one ``http.client.HTTPSConnection`` kept open."""
    context = ssl.create_default_context(cafile=str(workspace.ca_file))
    parts = urlsplit(server.url)
    connection = http.client.HTTPSConnection(parts.hostname or "", parts.port, context=context)

    def call() -> Any:
        connection.request("GET", parts.path, headers={"Accept": "application/json"})
        return json.loads(connection.getresponse().read())

    try:
        assert 48.0 == benchmark(call)["five_hour"]["utilization"]
    finally:
        connection.close()
