"""claude-usage: how much of your Claude plan you have used.

Heavy layers (HTTP, the native credential reader) load on first use, so importing this
package, or serving the command from its cache, stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from claude_usage import errors as _errors
from claude_usage.errors import *  # noqa: F403  (errors are cheap to import and always wanted)

__version__ = "0.1.0"

_EXPORTS = {
    "get_usage": "claude_usage.client",
    "UsageClient": "claude_usage.client",
    "DEFAULT_API_URL": "claude_usage.client",
    "UsageData": "claude_usage.models",
    "UsagePeriod": "claude_usage.models",
    "ExtraUsage": "claude_usage.models",
    "Limit": "claude_usage.models",
    "is_on_pace": "claude_usage.pace",
    "CredentialSource": "claude_usage.credentials",
    "locate_credentials": "claude_usage.credentials",
}
__all__ = ["__version__", *sorted(_EXPORTS), *_errors.__all__]

if TYPE_CHECKING:
    from claude_usage.client import DEFAULT_API_URL, UsageClient, get_usage
    from claude_usage.credentials import CredentialSource, locate_credentials
    from claude_usage.models import ExtraUsage, Limit, UsageData, UsagePeriod
    from claude_usage.pace import is_on_pace


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'claude_usage' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
