"""get_usage() against a real HTTPS server on loopback: headers, bodies, statuses, hostile servers."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import trustme

import claude_usage
from claude_usage import (
    ConfigurationError,
    CredentialsExpiredError,
    ForbiddenError,
    InsufficientScopeError,
    NetworkError,
    ParseError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    UnexpectedStatusError,
    UsageClient,
    UsageData,
    get_usage,
)
from claude_usage._http import default_trust_store
from claude_usage.client import parse_retry_after
from conftest import ACCESS_TOKEN, credential_document, fixture_body, secret_places, write_credentials
from loopback_server import (
    LoopbackServer,
    gzip_bomb,
    huge_body,
    never_answer,
    reset_before_headers,
    respond,
    trickle_headers,
)

SCOPE_BODY = (
    b'{"type":"error","error":{"type":"permission_error",'
    b'"message":"OAuth token does not meet scope requirement user:profile"}}'
)
UNAUTHORIZED_BODY = b'{"type":"error","error":{"type":"authentication_error","message":"Invalid bearer token"}}'
RATE_LIMIT_BODY = b'{"error":{"type":"rate_limit_error","message":"Rate limited. Please try again later."}}'


def fetch(server: LoopbackServer, environ: dict[str, str], ca_file: str, **options: Any) -> UsageData:
    return get_usage(api_url=server.url, verify=ca_file, environ=environ, **options)


def failure(server: LoopbackServer, environ: dict[str, str], ca_file: str, **options: Any) -> Exception:
    with pytest.raises(claude_usage.ClaudeUsageError) as caught:
        fetch(server, environ, ca_file, **options)
    assert [] == secret_places(caught.value)
    return caught.value


@pytest.mark.parametrize(
    "name",
    ["pro_max.json", "extra_usage_on.json", "extra_usage_off.json", "with_limits.json", "enterprise_all_null.json", "unknown_keys.json"],
)
def test_realistic_bodies_parse(https_server: LoopbackServer, environ: dict[str, str], ca_file: str, name: str) -> None:
    """Each realistic body comes back as the UsageData it parses to."""
    https_server.answer = respond(200, fixture_body(name))
    assert UsageData.from_json(fixture_body(name)) == fetch(https_server, environ, ca_file)


def test_request_carries_exactly_the_documented_headers(https_server: LoopbackServer, environ: dict[str, str], ca_file: str) -> None:
    """One GET with the bearer token, the beta header, JSON, identity encoding and an honest User-Agent."""
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    fetch(https_server, environ, ca_file)
    assert 1 == https_server.request_count
    request = https_server.requests[0]
    assert ("GET", "/api/oauth/usage") == (request.method, request.target)
    expected = {
        "authorization": f"Bearer {ACCESS_TOKEN}",
        "anthropic-beta": "oauth-2025-04-20",
        "accept": "application/json",
        "accept-encoding": "identity",
        "user-agent": f"claude-usage-python/{claude_usage.__version__}",
    }
    assert expected == {name: request.headers.get(name) for name in expected}


def test_client_reuses_its_connection(https_server: LoopbackServer, environ: dict[str, str], ca_file: str) -> None:
    """A UsageClient polls over one kept-alive connection, reading the credentials afresh each time."""
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    with UsageClient(api_url=https_server.url, verify=ca_file, environ=environ) as client:
        results = [client.get_usage() for _ in range(3)]
    assert (3, 1) == (https_server.request_count, https_server.connections)
    assert results[0] == results[2]


@pytest.mark.parametrize(
    ("status", "body", "error_type", "kind"),
    [
        (401, UNAUTHORIZED_BODY, UnauthorizedError, "Unauthorized"),
        (403, SCOPE_BODY, InsufficientScopeError, "InsufficientScope"),
        (403, b'{"type":"error","error":{"type":"permission_error","message":"nope"}}', ForbiddenError, "Forbidden"),
        (429, RATE_LIMIT_BODY, RateLimitedError, "RateLimited"),
        (500, b'{"type":"error","error":{"type":"api_error","message":"Internal"}}', ServerError, "Server"),
        (503, b"", ServerError, "Server"),
        (418, b"teapot", UnexpectedStatusError, "UnexpectedStatus"),
    ],
)
def test_error_statuses_map_to_typed_errors(
    https_server: LoopbackServer, environ: dict[str, str], ca_file: str, status: int, body: bytes, error_type: type, kind: str
) -> None:
    """Each status becomes its own ApiError subclass with a stable kind and a hint."""
    https_server.answer = respond(status, body)
    error = failure(https_server, environ, ca_file)
    assert (error_type, kind, True) == (type(error), error.kind, bool(error.hint))  # type: ignore[attr-defined]


def test_scope_error_is_catchable_as_forbidden(https_server: LoopbackServer, environ: dict[str, str], ca_file: str) -> None:
    """The scope 403 is both an InsufficientScopeError and a ForbiddenError."""
    https_server.answer = respond(403, SCOPE_BODY)
    assert True is isinstance(failure(https_server, environ, ca_file), ForbiddenError)


def test_scope_hint_names_the_environment_token(https_server: LoopbackServer, ca_file: str) -> None:
    """When the token came from CLAUDE_CODE_OAUTH_TOKEN, the hint says so."""
    https_server.answer = respond(403, SCOPE_BODY)
    error = failure(https_server, {"CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-TEST-setup-token"}, ca_file)
    assert True is ("CLAUDE_CODE_OAUTH_TOKEN" in error.hint)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("header", "expected"),
    [({"Retry-After": "3600"}, 3600.0), ({"Retry-After": "0"}, 0.0), ({"Retry-After": "soon"}, None), ({}, None)],
)
def test_retry_after_is_parsed(https_server: LoopbackServer, environ: dict[str, str], ca_file: str, header: dict[str, str], expected: float | None) -> None:
    """429 carries Retry-After as seconds, or None when missing or garbage."""
    https_server.answer = respond(429, RATE_LIMIT_BODY, header)
    assert expected == failure(https_server, environ, ca_file).retry_after  # type: ignore[attr-defined]


def test_retry_after_http_date_is_relative_to_now() -> None:
    """An HTTP-date Retry-After becomes the seconds from now until then."""
    assert 90.0 == parse_retry_after("Wed, 21 Oct 2015 07:29:30 GMT", now=1445412480.0)


def test_context_trusts_only_the_configured_ca(https_server: LoopbackServer, environ: dict[str, str], ca_file: str) -> None:
    """After a request the TLS context still holds just the CA given by verify=, not certifi's roots."""
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    with UsageClient(api_url=https_server.url, verify=ca_file, environ=environ) as client:
        client.get_usage()
        context = client._transport._session.get_adapter(https_server.url)._ssl_context  # type: ignore[union-attr,attr-defined]
        assert 1 == context.cert_store_stats()["x509_ca"]


def hashed_directory(directory: Path, *pem_files: str) -> str:
    """``directory`` holding each PEM under its OpenSSL subject-hash name, as c_rehash would."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "these tests need the openssl command (Debian: apt-get install openssl)"
    directory.mkdir()
    for pem in pem_files:
        subject_hash = subprocess.run(
            [openssl, "x509", "-noout", "-subject_hash", "-in", pem], capture_output=True, text=True, check=True
        ).stdout.strip()
        shutil.copy(pem, directory / f"{subject_hash}.0")
    return str(directory)


def test_hashed_ca_directory_verifies(https_server: LoopbackServer, environ: dict[str, str], ca_file: str, tmp_path: Path) -> None:
    """A hashed CA directory as verify= (how the system store is read) trusts exactly the CAs in it."""
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    trusted = hashed_directory(tmp_path / "trusted", ca_file)
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    untrusted = hashed_directory(tmp_path / "untrusted", str(other))
    assert 48.0 == fetch(https_server, environ, trusted).five_hour.utilization  # type: ignore[union-attr]
    error = failure(https_server, environ, untrusted)
    assert (NetworkError, 1) == (type(error), https_server.request_count)


@pytest.mark.parametrize(
    ("names", "hashed"),
    [
        ([], False),
        (["README", "ca-certificates.crt"], False),
        (["930ac5d2.r0"], False),  # a CRL's name, not a certificate's
        (["930AC5D2.0"], False),
        (["README", "930ac5d2.0"], True),
        (["5ad8a5d6.1"], True),
    ],
)
def test_default_trust_store_takes_the_system_directory_only_when_hashed(
    names: list[str], hashed: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The system's CA directory is used when it holds hash-named entries, else certifi's bundle."""
    import certifi

    for name in names:
        (tmp_path / name).write_text("")
    real = ssl.get_default_verify_paths()
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: real._replace(openssl_capath=str(tmp_path)))
    assert (str(tmp_path) if hashed else certifi.where()) == default_trust_store()


def test_default_trust_store_ignores_ssl_cert_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SSL_CERT_DIR naming a hashed directory does not change the default store."""
    before = default_trust_store()
    (tmp_path / "930ac5d2.0").write_text("")
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    assert before == default_trust_store()


def test_server_slower_than_the_timeout(https_server: LoopbackServer, environ: dict[str, str], ca_file: str) -> None:
    """A server that never answers gives a NetworkError once the timeout passes."""
    release = threading.Event()
    https_server.answer = never_answer(release)
    try:
        error = failure(https_server, environ, ca_file, timeout=0.5)
    finally:
        release.set()
    assert NetworkError is type(error)


def test_trickling_server_cannot_stretch_the_deadline(https_server: LoopbackServer, environ: dict[str, str], ca_file: str) -> None:
    """Headers sent a byte at a time still end the call at the deadline (not per read)."""
    https_server.answer = trickle_headers(interval=0.05)
    assert NetworkError is type(failure(https_server, environ, ca_file, timeout=0.5))


def test_connection_reset(https_server: LoopbackServer, environ: dict[str, str], ca_file: str) -> None:
    """A reset before the headers is a NetworkError."""
    https_server.answer = reset_before_headers()
    assert NetworkError is type(failure(https_server, environ, ca_file))


@pytest.mark.parametrize("declare_length", [True, False])
def test_huge_body_is_refused(https_server: LoopbackServer, environ: dict[str, str], ca_file: str, declare_length: bool) -> None:
    """A 5 MiB body is a ParseError, whether or not its length was declared."""
    https_server.answer = huge_body(declare_length=declare_length)
    assert ParseError is type(failure(https_server, environ, ca_file))


def test_compressed_body_is_refused(https_server: LoopbackServer, environ: dict[str, str], ca_file: str) -> None:
    """A gzip body is refused rather than decompressed."""
    https_server.answer = gzip_bomb()
    assert ParseError is type(failure(https_server, environ, ca_file))


def test_html_with_status_200_is_a_parse_error(https_server: LoopbackServer, environ: dict[str, str], ca_file: str) -> None:
    """An HTML page served as 200 is a ParseError, not a crash."""
    https_server.answer = respond(200, b"<html><body>Sign in</body></html>", content_type="text/html")
    assert ParseError is type(failure(https_server, environ, ca_file))


ODD_BODY = b'{"five_hour":{"utilization":null,"resets_at":null},"seven_day":{"utilization":64.0,"resets_at":null}}'
ODD_PROBLEM = "five_hour.utilization: null"


@pytest.mark.parametrize("cache", [False, True])
def test_odd_body_gives_what_it_has(
    https_server: LoopbackServer, environ: dict[str, str], ca_file: str, tmp_path: Path, cache: bool
) -> None:
    """By default a body with an odd window comes back with the rest and its problem, with or without a cache."""
    https_server.answer = respond(200, ODD_BODY)
    cache_environ = {**environ, "CLAUDE_USAGE_CACHE_DIR": str(tmp_path / "cache")}
    data = fetch(https_server, cache_environ, ca_file, cache=cache)
    assert (None, 64.0, (ODD_PROBLEM,)) == (data.five_hour, data.seven_day.utilization if data.seven_day else None, data.problems)


@pytest.mark.parametrize("cache", [False, True])
def test_strict_client_raises_on_a_problem(
    https_server: LoopbackServer, environ: dict[str, str], ca_file: str, tmp_path: Path, cache: bool
) -> None:
    """strict=True turns the first problem into a ParseError, with or without a cache; a clean body still parses."""
    cache_environ = {**environ, "CLAUDE_USAGE_CACHE_DIR": str(tmp_path / "cache")}
    https_server.answer = respond(200, ODD_BODY)
    error = failure(https_server, cache_environ, ca_file, cache=cache, strict=True)
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    clean = fetch(https_server, environ, ca_file, strict=True)
    assert (ParseError, ODD_PROBLEM, True, UsageData.from_json(fixture_body("pro_max.json"))) == (
        type(error),
        error.message,  # type: ignore[attr-defined]
        "usage response" in error.hint,  # type: ignore[attr-defined]
        clean,
    )


def test_strict_client_refuses_cached_data_with_a_problem(
    https_server: LoopbackServer, environ: dict[str, str], ca_file: str, tmp_path: Path
) -> None:
    """Data a tolerant process cached is refused by a strict client, which sends no request of its own for it."""
    https_server.answer = respond(200, ODD_BODY)
    cache_environ = {**environ, "CLAUDE_USAGE_CACHE_DIR": str(tmp_path / "cache")}
    tolerant = fetch(https_server, cache_environ, ca_file, max_age=600)
    error = failure(https_server, cache_environ, ca_file, max_age=600, strict=True)
    again = fetch(https_server, cache_environ, ca_file, max_age=600)
    assert (1, ParseError, ODD_PROBLEM, tolerant) == (https_server.request_count, type(error), error.message, again)  # type: ignore[attr-defined]


def test_expired_credentials_send_nothing(https_server: LoopbackServer, tmp_path: Path, ca_file: str) -> None:
    """Expired credentials fail before any request reaches the server."""
    write_credentials(tmp_path, credential_document(expires_at_ms=1000))
    with pytest.raises(CredentialsExpiredError):
        fetch(https_server, {"HOME": str(tmp_path)}, ca_file)
    assert 0 == https_server.request_count


def test_unknown_certificate_authority_is_rejected(https_server: LoopbackServer, environ: dict[str, str], tmp_path: Path) -> None:
    """A server whose certificate our CA bundle does not vouch for gets nothing."""
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    error = failure(https_server, environ, str(other))
    assert (NetworkError, 0) == (type(error), https_server.request_count)


def test_environment_url_on_loopback_is_used(https_server: LoopbackServer, environ: dict[str, str], ca_file: str) -> None:
    """CLAUDE_USAGE_API_URL may point at a loopback test server."""
    environ["CLAUDE_USAGE_API_URL"] = https_server.url
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    get_usage(verify=ca_file, environ=environ)
    assert 1 == https_server.request_count


@pytest.mark.parametrize(
    "url",
    ["http://usage.example.com/x", "ftp://127.0.0.1/x", "https://user:pass@127.0.0.1/x", "not a url"],
)
def test_api_url_argument_is_checked(url: str) -> None:
    """api_url must be https, or http on loopback, and carry no credentials."""
    with pytest.raises(ConfigurationError):
        UsageClient(api_url=url, environ={})


def test_plain_http_on_loopback_is_allowed(http_server: LoopbackServer, environ: dict[str, str], ca_file: str) -> None:
    """A loopback http:// URL works for local development."""
    http_server.answer = respond(200, fixture_body("pro_max.json"))
    assert UsageData.from_json(fixture_body("pro_max.json")) == fetch(http_server, environ, ca_file)


def test_verification_cannot_be_turned_off() -> None:
    """verify=False is refused: there is no insecure mode."""
    with pytest.raises(ConfigurationError):
        UsageClient(verify=False, environ={})


def test_server_echoing_the_token_is_redacted(https_server: LoopbackServer, environ: dict[str, str], ca_file: str) -> None:
    """A server message that quotes the token reaches the error text redacted."""
    echo = f'{{"type":"error","error":{{"type":"authentication_error","message":"bad token Bearer {ACCESS_TOKEN} ({ACCESS_TOKEN})"}}}}'
    https_server.answer = respond(401, echo)
    error = failure(https_server, environ, ca_file)
    assert "the token was refused (401): bad token [redacted] ([redacted])" == str(error)
