"""Shared set-up for the benchmarks: a test CA, a fake home with a credential file, clean environments.

Imported by the pytest-benchmark modules (through conftest.py), the whole-process harness and the
scaling probe, so every case runs against the same files and the same server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures"
# Visibly fake tokens, as in the tests.
ACCESS_TOKEN = "sk-ant-oat01-TEST-bench-" + "a1B2c3D4" * 8
REFRESH_TOKEN = "sk-ant-ort01-TEST-bench-" + "z9Y8x7W6" * 8
BODY_NAME = "pro_max.json"  # a realistic ~460-byte body
LIMITS_BODY_NAME = "with_limits.json"

# Variables that silently change what TLS trusts or where requests go; cleared for every case, so
# neither side of a comparison is redirected by this machine's global settings.
TLS_AND_PROXY_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "SSLKEYLOGFILE",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
    "no_proxy",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CONFIG_DIR",
    "CLAUDE_USAGE_API_URL",
    "CLAUDE_USAGE_CA_BUNDLE",
    "CLAUDE_USAGE_CACHE_DIR",
    "XDG_CACHE_HOME",
)


# In-process pairs whose cost moves with the minute take turns: each side measured for a short
# while, then the next, TURNS times over; run.py pairs each turn of ours with the same turn of
# the baseline, so a slow minute on a shared machine hits both sides of a ratio alike.
TURNS = 5
TURN_SECONDS = 0.2


def taking_turns(*sides: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Parametrize a benchmark over ``side`` and ``turn`` (ids ``<side>-<turn>``), the sides alternating."""
    import pytest

    cases = [(side, turn) for turn in range(TURNS) for side in sides]

    def mark(test: Callable[..., None]) -> Callable[..., None]:
        parametrized = pytest.mark.parametrize(("side", "turn"), cases, ids=[f"{side}-{turn}" for side, turn in cases])
        return pytest.mark.benchmark(max_time=TURN_SECONDS)(parametrized(test))  # type: ignore[no-any-return]

    return mark


def fixture_body(name: str = BODY_NAME) -> bytes:
    return (FIXTURES / name).read_bytes()


def credential_document() -> dict[str, object]:
    """A credential store shaped like Claude Code's, valid for the next eight hours."""
    return {
        "claudeAiOauth": {
            "accessToken": ACCESS_TOKEN,
            "refreshToken": REFRESH_TOKEN,
            "expiresAt": int((time.time() + 8 * 3600) * 1000),
            "scopes": ["user:inference", "user:profile", "user:sessions:claude_code"],
            "subscriptionType": "max",
            "rateLimitTier": "default_claude_max_5x",
        },
        "mcpOAuth": {"some-server": {"accessToken": "mcp-TEST"}},
    }


@dataclass(frozen=True)
class Workspace:
    """Files every case uses: CA and server certificate, a fake home, a cache directory.

    ``ca_file`` holds the test CA alone. A cold command also pays for loading its trust store,
    so the cold-command case gives each side its own default store with the test CA added:
    ``our_trust`` for the command (see ``_http.default_trust_store``), ``requests_trust`` for the
    one-liner (certifi's bundle, what ``requests.get`` loads when not told otherwise).
    """

    root: Path
    ca_file: Path
    server_cert: Path
    server_key: Path
    home: Path
    cache_dir: Path
    our_trust: Path
    requests_trust: Path

    @property
    def credential_file(self) -> Path:
        return self.home / ".claude" / ".credentials.json"


def make_workspace(root: Path) -> Workspace:
    """Create the CA (trustme), the server's certificate and the fake home under ``root``."""
    import trustme

    root.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    ca_file = root / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    issued = ca.issue_cert("127.0.0.1", "localhost")
    server_cert = root / "server-chain.pem"
    server_key = root / "server-key.pem"
    server_cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(server_key))
    home = root / "home"
    credential = home / ".claude" / ".credentials.json"
    credential.parent.mkdir(parents=True, exist_ok=True)
    credential.write_text(json.dumps(credential_document()))
    credential.chmod(0o600)
    cache_dir = root / "cache"
    cache_dir.mkdir(mode=0o700, exist_ok=True)
    import certifi

    from claude_usage._http import default_trust_store

    ca_pem = ca_file.read_bytes()
    our_trust = trust_store_plus(Path(default_trust_store()), ca_pem, root / "our-trust")
    requests_trust = trust_store_plus(Path(certifi.where()), ca_pem, root / "requests-trust")
    return Workspace(root, ca_file, server_cert, server_key, home, cache_dir, our_trust, requests_trust)


def trust_store_plus(store: Path, ca_pem: bytes, where: Path) -> Path:
    """``store`` (a hashed directory or a PEM bundle) with the test CA added, in the same form, at ``where``."""
    if not store.is_dir():
        bundle = where.with_suffix(".pem")
        bundle.write_bytes(store.read_bytes().rstrip(b"\n") + b"\n" + ca_pem)
        return bundle
    where.mkdir()
    for entry in store.iterdir():
        (where / entry.name).symlink_to(entry.resolve())
    (where / "claude-usage-bench-ca.pem").write_bytes(ca_pem)
    # The `<subject hash>.<n>` name is how OpenSSL finds an issuer in a directory.
    subject_hash = subprocess.run(
        ["openssl", "x509", "-noout", "-subject_hash", "-in", str(where / "claude-usage-bench-ca.pem")],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    n = 0
    while (where / f"{subject_hash}.{n}").exists():
        n += 1
    (where / f"{subject_hash}.{n}").symlink_to("claude-usage-bench-ca.pem")
    return where


def clean_environment(home: Path, **extra: str) -> dict[str, str]:
    """A child environment built from scratch: PATH, a UTF-8 locale, the fake HOME, and ``extra``."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def scrub_process_environment(home: Path) -> None:
    """Make this process's environment like a child's: no global CA or proxy overrides, the fake HOME."""
    for name in TLS_AND_PROXY_VARIABLES:
        os.environ.pop(name, None)
    os.environ["HOME"] = str(home)


class ServerProcess:
    """benchmarks/fast_server.py in its own process, so it never competes for this process's GIL."""

    def __init__(self, workspace: Workspace, body: bytes) -> None:
        body_file = workspace.root / "body.json"
        body_file.write_bytes(body)
        self._process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "fast_server.py"),
                str(workspace.server_cert),
                str(workspace.server_key),
                str(body_file),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=clean_environment(workspace.home),
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().decode().strip()
        if not line.isdigit():
            self.close()
            raise RuntimeError(f"the benchmark server did not start (said {line!r})")
        self.port = int(line)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/api/oauth/usage"

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()  # the server exits when its stdin closes
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
