"""Several Claude Code accounts in one fake home, and a loopback answer that tells them apart.

Each account is a config directory holding its own login (its own visibly fake token) and a
``.claude.json`` naming it; :func:`by_token` answers each token with that account's scripted
answer, so a test can see which account's data landed under which label, and count requests per
account.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

from conftest import REFRESH_TOKEN, credential_document, fixture_body
from loopback_server import Answer, Request, respond

#: ``name -> (config directory under the home, email address)``; "home" is the default profile.
ACCOUNTS = {
    "home": (".claude", "me@home.example"),
    "work": (".claude-work", "me@work.example"),
    "lab": (".claude_lab", "me@lab.example"),
}


def token_of(name: str) -> str:
    return f"sk-ant-oat01-TEST-{name}-" + "q7R8s9T0" * 8


def tokens() -> tuple[str, ...]:
    """Every account's secrets, for assert_no_secrets-style searches."""
    return (*(token_of(name) for name in ACCOUNTS), REFRESH_TOKEN)


def make_account(home: Path, name: str, *, email: str | None = None, display_name: str | None = None) -> Path:
    """The config directory of account ``name`` with its login and its ``.claude.json``."""
    directory_name, default_email = ACCOUNTS[name]
    directory = home / directory_name
    directory.mkdir(parents=True, exist_ok=True)
    login = directory / ".credentials.json"
    login.write_text(json.dumps(credential_document(access_token=token_of(name))))
    login.chmod(0o600)
    profile = {"oauthAccount": {"emailAddress": email or default_email, "displayName": display_name or name.title()}}
    # The default profile's .claude.json lives in the home directory, the others' in theirs.
    (home if name == "home" else directory).joinpath(".claude.json").write_text(json.dumps(profile))
    return directory


def body_with(five_hour: float, seven_day: float) -> bytes:
    """pro_max.json with the two windows' utilization set, so each account's numbers are its own."""
    body = json.loads(fixture_body("pro_max.json"))
    body["five_hour"]["utilization"] = five_hour
    body["seven_day"]["utilization"] = seven_day
    return json.dumps(body).encode()


class ByToken:
    """An answer per account, chosen by the request's bearer token; counts requests per account."""

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers
        self.counts = dict.fromkeys(answers, 0)
        self._lock = threading.Lock()

    def __call__(self, conn: socket.socket, request: Request) -> bool:
        authorization = request.headers.get("authorization", "")
        for name, answer in self.answers.items():
            if authorization == f"Bearer {token_of(name)}":
                with self._lock:
                    self.counts[name] += 1
                return answer(conn, request)
        return respond(401, b'{"error": {"type": "authentication_error", "message": "unknown token"}}')(conn, request)


def by_token(answers: dict[str, Answer]) -> ByToken:
    return ByToken(answers)
