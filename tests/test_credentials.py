"""Credential resolution: the environment override, the file's location, and the pre-checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_usage.credentials import CredentialSource, locate_credentials, open_credentials
from claude_usage.errors import (
    ConfigurationError,
    CredentialsExpiredError,
    CredentialsNotFoundError,
    ForbiddenError,
    InsufficientScopeError,
    NoHomeDirError,
    ParseError,
)
from conftest import ACCESS_TOKEN, credential_document, write_credentials

OTHER_TOKEN = "sk-ant-oat01-TEST-from-environment-0123456789"


def authorization_of(source: CredentialSource, environ: dict[str, str]) -> bytes:
    with open_credentials(source, environ=environ) as credential:
        return credential.authorization()


def test_environment_token_overrides_the_file(environ: dict[str, str]) -> None:
    """A non-empty CLAUDE_CODE_OAUTH_TOKEN is used instead of the stored login."""
    environ["CLAUDE_CODE_OAUTH_TOKEN"] = OTHER_TOKEN
    source = locate_credentials(environ=environ)
    assert CredentialSource("environment", "CLAUDE_CODE_OAUTH_TOKEN") == source
    assert b"Bearer " + OTHER_TOKEN.encode() == authorization_of(source, environ)


def test_empty_environment_token_falls_back_to_the_file(environ: dict[str, str], home: Path) -> None:
    """An empty CLAUDE_CODE_OAUTH_TOKEN counts as unset."""
    environ["CLAUDE_CODE_OAUTH_TOKEN"] = ""
    source = locate_credentials(environ=environ, platform="linux")
    assert CredentialSource("file", str(home / ".claude" / ".credentials.json")) == source
    assert b"Bearer " + ACCESS_TOKEN.encode() == authorization_of(source, environ)


@pytest.mark.parametrize("bad", ["sk-ant-oat01-TEST\r\nX-Injected: 1", "sk-ant-oat01-TEST with space", "sk-ant-oat01-TESTé"])
def test_malformed_environment_token_is_a_parse_error(bad: str) -> None:
    """An environment token outside the RFC 6750 alphabet is refused, and not quoted."""
    environ = {"CLAUDE_CODE_OAUTH_TOKEN": bad}
    with pytest.raises(ParseError) as caught:
        open_credentials(locate_credentials(environ=environ), environ=environ)
    assert False is ("TEST" in str(caught.value))


def test_config_dir_locates_the_file(tmp_path: Path) -> None:
    """CLAUDE_CONFIG_DIR, when set, holds .credentials.json directly."""
    config = tmp_path / "config"
    config.mkdir()
    (config / ".credentials.json").write_text(json.dumps(credential_document()))
    environ = {"CLAUDE_CONFIG_DIR": str(config)}
    source = locate_credentials(environ=environ, platform="linux")
    assert str(config / ".credentials.json") == source.location
    assert b"Bearer " + ACCESS_TOKEN.encode() == authorization_of(source, environ)


def test_empty_config_dir_means_home(home: Path) -> None:
    """An empty CLAUDE_CONFIG_DIR is ignored."""
    environ = {"CLAUDE_CONFIG_DIR": "", "HOME": str(home)}
    assert str(home / ".claude" / ".credentials.json") == locate_credentials(environ=environ, platform="linux").location


def test_config_dir_that_does_not_exist_is_not_logged_in(tmp_path: Path) -> None:
    """A CLAUDE_CONFIG_DIR pointing nowhere means no stored login."""
    environ = {"CLAUDE_CONFIG_DIR": str(tmp_path / "missing")}
    with pytest.raises(CredentialsNotFoundError):
        open_credentials(locate_credentials(environ=environ, platform="linux"), environ=environ)


@pytest.mark.parametrize("environ", [{}, {"HOME": ""}])
def test_no_home_is_its_own_error(environ: dict[str, str]) -> None:
    """Without HOME (and CLAUDE_CONFIG_DIR) there is nowhere to look."""
    with pytest.raises(NoHomeDirError) as caught:
        locate_credentials(environ=environ, platform="linux")
    assert "NoHomeDir" == caught.value.kind


def test_expired_token_is_refused_before_any_request(tmp_path: Path) -> None:
    """expiresAt in the past (by the injected clock) raises CredentialsExpiredError."""
    write_credentials(tmp_path, credential_document(expires_at_ms=1_700_000_000_000))
    environ = {"HOME": str(tmp_path)}
    source = locate_credentials(environ=environ, platform="linux")
    with pytest.raises(CredentialsExpiredError):
        open_credentials(source, environ=environ, clock=lambda: 1_700_000_000.001)
    with open_credentials(source, environ=environ, clock=lambda: 1_699_999_999.0) as credential:
        assert 1_700_000_000_000 == credential.info.expires_at_ms


def test_missing_profile_scope_is_refused_before_any_request(tmp_path: Path) -> None:
    """A token whose scopes lack user:profile raises InsufficientScopeError, also a ForbiddenError."""
    write_credentials(tmp_path, credential_document(scopes=["user:inference"]))
    environ = {"HOME": str(tmp_path)}
    with pytest.raises(InsufficientScopeError) as caught:
        open_credentials(locate_credentials(environ=environ, platform="linux"), environ=environ)
    assert True is isinstance(caught.value, ForbiddenError)
    assert "InsufficientScope" == caught.value.kind


def test_absent_scopes_are_not_checked(tmp_path: Path) -> None:
    """Without a scopes field nothing can be said before the request, so nothing is refused."""
    document = credential_document()
    del document["claudeAiOauth"]["scopes"]  # type: ignore[attr-defined]
    write_credentials(tmp_path, document)
    environ = {"HOME": str(tmp_path)}
    with open_credentials(locate_credentials(environ=environ, platform="linux"), environ=environ) as credential:
        assert None is credential.info.scopes


def test_keychain_mode_must_be_known() -> None:
    """An unknown CLAUDE_USAGE_KEYCHAIN value is a configuration error."""
    with pytest.raises(ConfigurationError):
        locate_credentials(environ={"HOME": "/h", "CLAUDE_USAGE_KEYCHAIN": "sometimes"}, platform="linux")


def test_file_mode_reads_the_file_on_macos() -> None:
    """keychain="file" skips the Keychain on macOS."""
    source = locate_credentials(environ={"HOME": "/h"}, keychain="file", platform="darwin")
    assert CredentialSource("file", "/h/.claude/.credentials.json") == source


def test_source_key_is_not_derived_from_the_token() -> None:
    """The cache key names the source, never the token."""
    source = locate_credentials(environ={"CLAUDE_CODE_OAUTH_TOKEN": OTHER_TOKEN})
    assert "environment:CLAUDE_CODE_OAUTH_TOKEN" == source.key
