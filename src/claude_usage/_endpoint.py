"""Where the usage request goes: the default URL, and which others a caller or the environment may name.

Import-light (its two imports load on use), so the command's cache hit can key on the URL.
"""

from __future__ import annotations

from claude_usage._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_API_URL = "https://api.anthropic.com/api/oauth/usage"
API_URL_VARIABLE = "CLAUDE_USAGE_API_URL"


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1``; names that merely resolve there do not count."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_api_url(api_url: str | None, environ: Mapping[str, str]) -> str:
    """The argument may name any HTTPS URL; the environment may only name a loopback one."""
    if api_url is None:
        from_environment = environ.get(API_URL_VARIABLE)
        if not from_environment:
            return DEFAULT_API_URL
        url, origin, remote_ok = from_environment, API_URL_VARIABLE, False
    else:
        url, origin, remote_ok = api_url, "api_url", True
    from urllib.parse import urlsplit

    from claude_usage.errors import ConfigurationError

    parts = urlsplit(url)
    loopback = is_loopback_host(parts.hostname)
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"{origin} must not carry credentials in the URL")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{origin} must be an http(s) URL, not {url!r}")
    if not loopback and not remote_ok:
        raise ConfigurationError(
            f"{origin} may only point at a loopback address (localhost, 127.0.0.0/8, ::1)"
        )
    if not loopback and parts.scheme != "https":
        raise ConfigurationError(f"{origin} must use https for a non-loopback host")
    return url
