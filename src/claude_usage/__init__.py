"""claude-usage: how much of your Claude plan you have used.

Heavy layers (HTTP, the native credential reader) load on first use, so importing this
package, or serving the command from its cache, stays cheap.
"""

from __future__ import annotations

from claude_usage import errors as _errors
from claude_usage._typing import TYPE_CHECKING
from claude_usage.errors import *  # noqa: F403  (errors are cheap to import and always wanted)

__version__ = "0.2.0"

_EXPORTS = {
    "get_usage": "claude_usage.client",
    "UsageClient": "claude_usage.client",
    "DEFAULT_API_URL": "claude_usage._endpoint",
    "UsageData": "claude_usage.models",
    "UsagePeriod": "claude_usage.models",
    "ExtraUsage": "claude_usage.models",
    "Limit": "claude_usage.models",
    "is_on_pace": "claude_usage.pace",
    "CredentialSource": "claude_usage.credentials",
    "locate_credentials": "claude_usage.credentials",
    "UsageCache": "claude_usage.cache",
    "CacheResult": "claude_usage.cache",
    "Observation": "claude_usage.cache",
    "accounts": "claude_usage.profiles",
    "Account": "claude_usage.profiles",
    "harden_process": "claude_usage.hardening",
    "security_status": "claude_usage.hardening",
    "SecurityStatus": "claude_usage.hardening",
}
__all__ = ["__version__", *sorted(_EXPORTS), *_errors.__all__]  # noqa: PLE0604  (lists of str)

if TYPE_CHECKING:
    from typing import Any

    # `X as X`: explicit re-exports, so `from claude_usage import UsageData` passes mypy --strict.
    from claude_usage.cache import CacheResult as CacheResult
    from claude_usage.cache import Observation as Observation
    from claude_usage.cache import UsageCache as UsageCache
    from claude_usage._endpoint import DEFAULT_API_URL as DEFAULT_API_URL
    from claude_usage.client import UsageClient as UsageClient
    from claude_usage.client import get_usage as get_usage
    from claude_usage.credentials import CredentialSource as CredentialSource
    from claude_usage.credentials import locate_credentials as locate_credentials
    from claude_usage.models import ExtraUsage as ExtraUsage
    from claude_usage.models import Limit as Limit
    from claude_usage.models import UsageData as UsageData
    from claude_usage.models import UsagePeriod as UsagePeriod
    from claude_usage.profiles import Account as Account
    from claude_usage.profiles import accounts as accounts
    from claude_usage.hardening import SecurityStatus as SecurityStatus
    from claude_usage.hardening import harden_process as harden_process
    from claude_usage.hardening import security_status as security_status
    from claude_usage.pace import is_on_pace as is_on_pace


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'claude_usage' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
