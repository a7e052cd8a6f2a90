"""Shared fixtures: fake credentials on disk, a trustme CA, and loopback HTTPS servers."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from loopback_server import LoopbackServer

# Fixtures that compile C while testing (the Keychain double, the wipe shim, a broken-wipe or plain-alloc
# module): their tests are marked `compiler`, so that the CI run which proves the wheel needs no
# compiler can deselect exactly these, and every other run still runs them.
COMPILER_FIXTURES = frozenset({"double_build", "shim", "broken_native", "plain_native", "memlock_probe"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if COMPILER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.compiler)


# Visibly fake; long enough that a stray copy cannot match by accident.
ACCESS_TOKEN = "sk-ant-oat01-TEST-access-" + "a1B2c3D4" * 8
REFRESH_TOKEN = "sk-ant-ort01-TEST-refresh-" + "z9Y8x7W6" * 8
FIXTURES = Path(__file__).parent / "fixtures"


def credential_document(
    *,
    access_token: str = ACCESS_TOKEN,
    expires_at_ms: int | None = None,
    scopes: list[str] | None = None,
    subscription_type: str | None = "max",
    rate_limit_tier: str | None = "default_claude_max_5x",
) -> dict[str, object]:
    """A credential store shaped like the one Claude Code writes."""
    oauth: dict[str, object] = {
        "accessToken": access_token,
        "refreshToken": REFRESH_TOKEN,
        "expiresAt": expires_at_ms if expires_at_ms is not None else int((time.time() + 8 * 3600) * 1000),
        "scopes": scopes if scopes is not None else ["user:inference", "user:profile", "user:sessions:claude_code"],
    }
    if subscription_type is not None:
        oauth["subscriptionType"] = subscription_type
    if rate_limit_tier is not None:
        oauth["rateLimitTier"] = rate_limit_tier
    return {"claudeAiOauth": oauth, "mcpOAuth": {"some-server": {"accessToken": "mcp-TEST"}}}


def write_credentials(home: Path, document: object | None = None) -> Path:
    """Write ``~/.claude/.credentials.json`` (mode 0600) under ``home``."""
    path = home / ".claude" / ".credentials.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(credential_document() if document is None else document))
    path.chmod(0o600)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home directory holding a valid credential file."""
    write_credentials(tmp_path)
    return tmp_path


@pytest.fixture
def environ(home: Path) -> dict[str, str]:
    """An environment that points only at the fake home (nothing inherited)."""
    return {"HOME": str(home)}


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test CA's certificate as a PEM file, for ``verify=``."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost", "::1").configure_cert(context)
    return context


@pytest.fixture
def https_server(server_context: ssl.SSLContext) -> Iterator[LoopbackServer]:
    with LoopbackServer(server_context) as server:
        yield server


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


def fixture_body(name: str) -> bytes:
    """A realistic response body from tests/fixtures/."""
    return (FIXTURES / name).read_bytes()


SECRETS = (ACCESS_TOKEN, REFRESH_TOKEN)


def secret_places(error: BaseException, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """Where in an exception (text, args, attributes, chain, pickle, traceback locals) a secret shows."""
    import pickle
    import traceback

    places: list[str] = []
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        views = {
            "str": str(current),
            "repr": repr(current),
            "args": repr(current.args),
            "dict": repr(vars(current)) if hasattr(current, "__dict__") else "",
            "traceback": "".join(
                traceback.TracebackException.from_exception(current, capture_locals=True).format()
            ),
        }
        try:
            views["pickle"] = pickle.dumps(current).decode("latin-1")
        except Exception as exc:  # an unpicklable error is a finding of its own
            views["pickle"] = f"unpicklable: {type(exc).__name__}"
            places.append(f"{type(current).__name__}.pickle-failed")
        for view, text in views.items():
            if any(secret in text for secret in secrets):
                places.append(f"{type(current).__name__}.{view}")
        pending.extend((current.__cause__, current.__context__))
    return places
