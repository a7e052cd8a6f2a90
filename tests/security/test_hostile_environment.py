"""Item 4: environment variables and files an attacker may control cannot redirect or expose the token.

Covered: ~/.netrc and NETRC, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE / SSL_CERT_FILE / SSL_CERT_DIR at
an attacker's CA whose certificate the server presents, SSLKEYLOGFILE, CLAUDE_USAGE_API_URL at
names that are not loopback literals, and redirects to another port or to plain HTTP.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from claude_usage import ConfigurationError, NetworkError, UnexpectedStatusError, get_usage
from conftest import ACCESS_TOKEN, fixture_body, secret_places
from loopback_server import LoopbackServer, redirect, respond
from security.probes import record

USAGE = fixture_body("pro_max.json")


@pytest.mark.parametrize("where", ["~/.netrc", "NETRC"])
def test_netrc_cannot_replace_the_token(
    where: str, https_server: LoopbackServer, environ: dict[str, str], ca_file: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A netrc entry for the host (and a default one) does not turn the request into Basic auth."""
    netrc = Path(environ["HOME"]) / ".netrc" if where == "~/.netrc" else tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login attacker password hunter2\ndefault login attacker password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", environ["HOME"])  # requests would look in the real process environment
    if where == "NETRC":
        monkeypatch.setenv("NETRC", str(netrc))
    https_server.answer = respond(200, USAGE)
    get_usage(api_url=https_server.url, verify=ca_file, environ=environ)
    sent = [request.headers.get("authorization") for request in https_server.requests]
    record(f"hostile env: {where} entry for the host", f"Authorization sent: {'Bearer token' if sent == [f'Bearer {ACCESS_TOKEN}'] else sent}", "the Bearer token, once", sent == [f"Bearer {ACCESS_TOKEN}"])
    assert [f"Bearer {ACCESS_TOKEN}"] == sent


@pytest.fixture(scope="module")
def attacker_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    directory = tmp_path_factory.mktemp("attacker")
    ca.cert_pem.write_to_path(str(directory / "attacker.pem"))
    return ca, directory


@pytest.fixture
def attacker_server(attacker_ca: tuple[trustme.CA, Path]) -> Iterator[LoopbackServer]:
    """A loopback server whose certificate comes from the attacker's CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    attacker_ca[0].issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with LoopbackServer(context, respond(200, USAGE)) as server:
        yield server


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_environment_ca_bundles_are_ignored(
    variable: str, attacker_ca: tuple[trustme.CA, Path], attacker_server: LoopbackServer, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CA bundle named by the environment cannot make the attacker's certificate trusted."""
    ca_path = attacker_ca[1] if variable == "SSL_CERT_DIR" else attacker_ca[1] / "attacker.pem"
    if variable == "SSL_CERT_DIR":  # OpenSSL finds CAs in a directory by subject-hash names
        import subprocess

        subject_hash = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(ca_path / "attacker.pem")], capture_output=True, text=True, check=True).stdout.strip()
        (ca_path / f"{subject_hash}.0").write_bytes((ca_path / "attacker.pem").read_bytes())
    monkeypatch.setenv(variable, str(ca_path))
    with pytest.raises(NetworkError) as caught:
        get_usage(api_url=attacker_server.url, environ={**environ, variable: str(ca_path)})  # the default trust store
    received = attacker_server.request_count
    record(f"hostile env: {variable} at an attacker's CA", f"TLS refused, requests received: {received}", "refused, 0", received == 0)
    assert (0, [], True) == (received, secret_places(caught.value), "certificate" in str(caught.value))


def test_ssl_key_log_file_stays_empty(
    https_server: LoopbackServer, environ: dict[str, str], ca_file: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """SSLKEYLOGFILE gets no TLS session keys from this library."""
    keylog = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))
    https_server.answer = respond(200, USAGE)
    get_usage(api_url=https_server.url, verify=ca_file, environ={**environ, "SSLKEYLOGFILE": str(keylog)})
    written = keylog.stat().st_size if keylog.exists() else 0
    record("hostile env: SSLKEYLOGFILE set", f"{written} bytes written", "0 bytes", written == 0)
    assert (0, 1) == (written, https_server.request_count)


NOT_LOOPBACK_LITERALS = [
    "localhost.",  # a trailing dot makes it a DNS name resolved through the search path
    "localhost.localdomain",
    "localhost.attacker.example",
    "127.0.0.1.nip.io",  # wildcard DNS that answers 127.0.0.1
    "localtest.me",
    "127.0.0.1.",
    "127.1",  # inet_aton shorthand
    "2130706433",  # 127.0.0.1 as one decimal number
    "0x7f000001",
    "usage.attacker.example",
]


@pytest.fixture
def resolver_trap(monkeypatch: pytest.MonkeyPatch, server_context: ssl.SSLContext) -> Iterator[tuple[list[str], LoopbackServer]]:
    """Every name resolves to a loopback server that counts connections; lookups are recorded.

    Had the library accepted a name, its request would land here instead of leaving the machine.
    """
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    with LoopbackServer(server_context, respond(200, USAGE)) as trap:

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            lookups.append(str(host))
            return real_getaddrinfo("127.0.0.1", trap.port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield lookups, trap


@pytest.mark.parametrize("host", NOT_LOOPBACK_LITERALS)
def test_environment_url_must_be_a_loopback_literal(
    host: str, resolver_trap: tuple[list[str], LoopbackServer], environ: dict[str, str], ca_file: str
) -> None:
    """CLAUDE_USAGE_API_URL naming anything but a loopback literal is refused before any lookup or connection."""
    lookups, trap = resolver_trap
    url = f"https://{host}:{trap.port}/api/oauth/usage"
    with pytest.raises(ConfigurationError):
        get_usage(verify=ca_file, environ={**environ, "CLAUDE_USAGE_API_URL": url})
    assert ([], 0) == (lookups, trap.connections)


TRICK_URLS = [
    "https://127.0.0.1@usage.attacker.example/api/oauth/usage",
    "https://usage.attacker.example#@127.0.0.1/api/oauth/usage",
    "https://usage.attacker.example\\@127.0.0.1/api/oauth/usage",
    "https://127.0.0.1:443@usage.attacker.example/",
    "https://usage.attacker.example?@127.0.0.1/",
]


@pytest.mark.parametrize("url", TRICK_URLS)
def test_environment_url_parser_tricks_are_refused(
    url: str, resolver_trap: tuple[list[str], LoopbackServer], environ: dict[str, str], ca_file: str
) -> None:
    """URLs that read as loopback to one parser and remote to another are refused (userinfo, fragment, query)."""
    lookups, trap = resolver_trap
    with pytest.raises(ConfigurationError):
        get_usage(verify=ca_file, environ={**environ, "CLAUDE_USAGE_API_URL": url})
    assert ([], 0) == (lookups, trap.connections)


def test_environment_url_summary(resolver_trap: tuple[list[str], LoopbackServer], environ: dict[str, str], ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """All non-loopback environment URLs together, through os.environ as the command reads it: nothing resolved or sent."""
    lookups, trap = resolver_trap
    urls = [f"https://{host}:{trap.port}/api/oauth/usage" for host in NOT_LOOPBACK_LITERALS] + TRICK_URLS
    refused = 0
    monkeypatch.setenv("HOME", environ["HOME"])
    for url in urls:
        monkeypatch.setenv("CLAUDE_USAGE_API_URL", url)
        try:
            get_usage(verify=ca_file)
        except ConfigurationError:
            refused += 1
    record(
        "hostile env: CLAUDE_USAGE_API_URL not a loopback literal",
        f"{refused}/{len(urls)} refused, {len(lookups)} lookups, {trap.connections} connections",
        "all refused, 0, 0",
        (refused, lookups, trap.connections) == (len(urls), [], 0),
    )
    assert (len(urls), [], 0) == (refused, lookups, trap.connections)


REDIRECTS = [301, 302, 303, 307, 308]


@pytest.mark.parametrize("target_scheme", ["https", "http"])
def test_redirect_target_receives_nothing(
    target_scheme: str, https_server: LoopbackServer, server_context: ssl.SSLContext, environ: dict[str, str], ca_file: str
) -> None:
    """Redirects (301-308) to another port, over HTTPS or plain HTTP, are errors and the target sees not even a connection."""
    with LoopbackServer(server_context if target_scheme == "https" else None, respond(200, USAGE)) as target:
        statuses, leaks = [], []
        for status in REDIRECTS:
            https_server.answer = redirect(target.url, status)
            with pytest.raises(UnexpectedStatusError) as caught:
                get_usage(api_url=https_server.url, verify=ca_file, environ=environ)
            statuses.append(caught.value.status)  # type: ignore[attr-defined]
            leaks += secret_places(caught.value)
        record(
            f"hostile server: 301/302/303/307/308 to {target_scheme} on another port",
            f"{len(statuses)} UnexpectedStatusError, target connections: {target.connections}",
            "errors, 0",
            (statuses, target.connections) == (REDIRECTS, 0),
        )
        assert (REDIRECTS, 0, len(REDIRECTS), []) == (statuses, target.connections, https_server.request_count, leaks)
