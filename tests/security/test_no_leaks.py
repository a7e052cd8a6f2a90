"""Item 3: no token is reachable from anything the library hands back or emits.

Checked: every exception of every credential failure (network and status failures are checked
in test_faults.py with the same walk), a server that echoes the token back, ``repr``/``str`` of
every public object, everything reachable from what a call leaves behind, log records at DEBUG
for the root logger with http.client's global debuglevel raised, the command's stdout and stderr
on every exit path, and every file the library and the command write.
"""

from __future__ import annotations

import gc
import http.client
import json
import logging
import subprocess
import sys
import traceback
import types
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import claude_usage
from claude_usage import ClaudeUsageError, UsageClient, UsageData, get_usage
from claude_usage import _native
from claude_usage.credentials import locate_credentials
from conftest import ACCESS_TOKEN, REFRESH_TOKEN, SECRETS, credential_document, fixture_body, secret_places, write_credentials
from loopback_server import Answer, LoopbackServer, Request, redirect, reset_before_headers, respond
from security.probes import child_environment, record

USAGE = fixture_body("pro_max.json")
TESTS = str(Path(__file__).resolve().parents[1])
SECRET_BYTES = tuple(secret.encode() for secret in SECRETS)


def fragments(secret: str, size: int = 12) -> tuple[str, ...]:
    """Every ``size``-character piece of the secret part of a token (after ``sk-ant-xxx01-``)."""
    material = secret.split("-", 3)[3]
    return tuple(sorted({material[i : i + size] for i in range(len(material) - size + 1)}))


TOKEN_FRAGMENTS = fragments(ACCESS_TOKEN) + fragments(REFRESH_TOKEN)


def holds_secret(text: str | bytes) -> bool:
    """True if the text holds a whole token or any 12-character piece of one."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return any(piece.encode() in data for piece in TOKEN_FRAGMENTS)


# -- exceptions ---------------------------------------------------------------------------------

CREDENTIAL_FAILURES: list[tuple[str, Callable[[Path], dict[str, str]]]] = [
    ("file missing", lambda home: {"HOME": str(home / "nobody")}),
    ("not logged in (mcpOAuth only)", lambda home: {"HOME": str(_write(home, {"mcpOAuth": {"x": {"accessToken": ACCESS_TOKEN}}}))}),
    ("empty accessToken", lambda home: {"HOME": str(_write(home, credential_document(access_token="")))}),
    ("expired", lambda home: {"HOME": str(_write(home, credential_document(expires_at_ms=1000)))}),
    ("lacks user:profile", lambda home: {"HOME": str(_write(home, credential_document(scopes=["user:inference"])))}),
    ("token with CR LF", lambda home: {"HOME": str(_write(home, credential_document(access_token=ACCESS_TOKEN + "\r\nX-Evil: 1")))}),
    ("token with a space", lambda home: {"HOME": str(_write(home, credential_document(access_token=ACCESS_TOKEN + " x")))}),
    ("token not ASCII", lambda home: {"HOME": str(_write(home, credential_document(access_token=ACCESS_TOKEN + "é")))}),
    ("expiresAt a string", lambda home: {"HOME": str(_write_text(home, json.dumps(credential_document()).replace('"expiresAt": ', '"expiresAt": "x", "_": ')))}),
    ("truncated JSON", lambda home: {"HOME": str(_write_text(home, json.dumps(credential_document())[:-40]))}),
    ("trailing garbage", lambda home: {"HOME": str(_write_text(home, json.dumps(credential_document()) + " " + ACCESS_TOKEN))}),
    ("2 MiB file", lambda home: {"HOME": str(_write_text(home, json.dumps(credential_document()) + " " * (2 * 1024 * 1024)))}),
    ("directory at the path", lambda home: {"HOME": str(_directory_at_path(home))}),
    ("HOME unset", lambda home: {}),
    ("CLAUDE_CODE_OAUTH_TOKEN with a space", lambda home: {"HOME": str(home), "CLAUDE_CODE_OAUTH_TOKEN": ACCESS_TOKEN + " " + REFRESH_TOKEN}),
    ("CLAUDE_CODE_OAUTH_TOKEN not ASCII", lambda home: {"HOME": str(home), "CLAUDE_CODE_OAUTH_TOKEN": ACCESS_TOKEN + "\u00e9"}),
]


def _write(home: Path, document: object) -> Path:
    write_credentials(home, document)
    return home


def _write_text(home: Path, text: str) -> Path:
    path = write_credentials(home)
    path.write_text(text)
    return home


def _directory_at_path(home: Path) -> Path:
    (home / ".claude" / ".credentials.json").mkdir(parents=True)
    return home


CREDENTIAL_VARIABLES = ("HOME", "CLAUDE_CONFIG_DIR", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_USAGE_API_URL", "CLAUDE_USAGE_CA_BUNDLE")


def credential_failure(environment: dict[str, str], url: str, ca_file: str, monkeypatch: pytest.MonkeyPatch) -> ClaudeUsageError:
    """The error get_usage() raises with ``environment`` as the process environment (the default, as an application calls it)."""
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return failure_of(url, ca_file)


def failure_of(url: str, ca_file: str, **options: Any) -> ClaudeUsageError:
    """Catch in a frame that holds nothing secret: the traceback keeps the catching frame's locals."""
    try:
        get_usage(api_url=url, verify=ca_file, **options)
    except ClaudeUsageError as error:
        return error
    raise AssertionError("get_usage() succeeded")


@pytest.mark.parametrize(("name", "environment"), CREDENTIAL_FAILURES, ids=[c[0] for c in CREDENTIAL_FAILURES])
def test_credential_failures_hold_no_token(
    name: str, environment: Callable[[Path], dict[str, str]], https_server: LoopbackServer, ca_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each credential failure is a ClaudeUsageError whose text, args, chain, pickle and traceback locals hold no token."""
    error = credential_failure(environment(tmp_path), https_server.url, ca_file, monkeypatch)
    assert ([], 0) == (secret_places(error, TOKEN_FRAGMENTS), https_server.request_count)


def echo(status: int, body: Callable[[str], object], *, raw: bool = False) -> Answer:
    """A server that puts the Authorization value it received into its answer."""

    def answer(conn: Any, request: Request) -> bool:
        received = request.headers.get("authorization", "")
        text = body(received)
        data = text if raw else json.dumps(text)
        return respond(status, data.encode() if isinstance(data, str) else data)(conn, request)

    return answer


def _error_body(message: str) -> object:
    return {"type": "error", "error": {"type": "authentication_error", "message": message}}


ECHOES: list[tuple[str, Answer]] = [
    ("401 message with the header", echo(401, lambda h: _error_body(f"invalid credentials: {h}"))),
    ("401 message with the bare token", echo(401, lambda h: _error_body(f"token {h.removeprefix('Bearer ')} revoked"))),
    ("403 message", echo(403, lambda h: _error_body(h))),
    ("418 message", echo(418, lambda h: _error_body(h))),
    ("500 message", echo(500, lambda h: {"error": {"message": h}})),
    ("200, token as a window", echo(200, lambda h: {"five_hour": h})),
    ("200, token as utilization", echo(200, lambda h: {"five_hour": {"utilization": h.removeprefix("Bearer "), "resets_at": None}})),
    ("200, token in invalid JSON", echo(200, lambda h: '{"five_hour": "' + h.removeprefix("Bearer "), raw=True)),
    ("200, token as resets_at", echo(200, lambda h: {"five_hour": {"utilization": 1, "resets_at": h}})),
]


@pytest.mark.parametrize(("name", "answer"), ECHOES, ids=[e[0] for e in ECHOES])
def test_echoed_token_does_not_reach_the_error(
    name: str, answer: Answer, https_server: LoopbackServer, environ: dict[str, str], ca_file: str
) -> None:
    """A server that echoes the token back cannot get it (or a piece of it) into the error's text, args, chain or pickle.

    strict=True, so that a field holding the token is an error too (tolerant parsing: the next test)."""
    https_server.answer = answer
    error = failure_of(https_server.url, ca_file, environ=environ, strict=True)
    assert [] == echo_places(error)


FIELD_ECHOES = [(name, answer) for name, answer in ECHOES if name.startswith("200, token as")]


@pytest.mark.parametrize(("name", "answer"), FIELD_ECHOES, ids=[e[0] for e in FIELD_ECHOES])
def test_echoed_token_does_not_reach_the_problems(
    name: str, answer: Answer, https_server: LoopbackServer, environ: dict[str, str], ca_file: str
) -> None:
    """Parsed tolerantly, a field holding the echoed token is a problem whose line holds no piece of it."""
    https_server.answer = answer
    problems = get_usage(api_url=https_server.url, verify=ca_file, environ=environ).problems
    assert (1, []) == (len(problems), [line for line in problems if holds_secret(line)])


def echo_places(error: ClaudeUsageError) -> list[str]:
    """Where an echoed token shows in the error, apart from traceback locals.

    The server's own body, with the token it echoes, is a local of the frames that read it; a
    formatter that prints locals shows it (SECURITY.md, limits). The messages are redacted.
    """
    return [place for place in secret_places(error, TOKEN_FRAGMENTS) if not place.endswith(".traceback")]


# -- public objects and what a call leaves behind -------------------------------------------


def public_objects(client: UsageClient, data: UsageData, home: Path) -> dict[str, object]:
    """One of each public type, after a successful call."""
    held = _native.read_file(str(home / ".claude" / ".credentials.json"))
    released = _native.read_file(str(home / ".claude" / ".credentials.json"))
    released.close()
    objects: dict[str, object] = {
        "UsageClient": client,
        "UsageData": data,
        "UsageData.to_dict()": data.to_dict(),
        "CredentialSource": client.credential_source(),
        "CredentialInfo": client.credential_info,
        "NativeCredential (held)": held,
        "NativeCredential (released)": released,
        "locate_credentials()": locate_credentials(environ={"HOME": str(home)}),
    }
    for name in ("five_hour", "seven_day", "extra_usage"):
        objects[f"UsageData.{name}"] = getattr(data, name)
    objects.update({f"UsageData.limits[{i}]": limit for i, limit in enumerate(data.limits)})
    for name in claude_usage.errors.__all__:
        cls = getattr(claude_usage, name)
        extra = {"status": 500} if "status" in cls.__init__.__code__.co_varnames else {}
        objects[name] = cls("message", **extra)
    return objects


def test_repr_and_str_of_public_objects_hold_no_token(
    https_server: LoopbackServer, environ: dict[str, str], ca_file: str, home: Path
) -> None:
    """repr() and str() of every public object, after a call and with a credential held, show no token."""
    https_server.answer = respond(200, fixture_body("with_limits.json"))
    with UsageClient(api_url=https_server.url, verify=ca_file, environ=environ) as client:
        data = client.get_usage()
        objects = public_objects(client, data, home)
        shown = {name: repr(obj) + str(obj) for name, obj in objects.items()}
    objects["NativeCredential (held)"].close()  # type: ignore[attr-defined]
    leaking = sorted(name for name, text in shown.items() if holds_secret(text))
    record("no leak: repr/str of public objects", f"{len(shown)} objects, {len(leaking)} show a token", "0", not leaking)
    assert [] == leaking


def reachable_secrets(roots: Iterable[object]) -> list[str]:
    """Types of the str/bytes reachable from ``roots`` (through instances, containers and frame locals) that hold a token.

    Modules, classes and functions are not followed: they lead to everything, the test's own
    constants included; nor are the test's frames (the one that caught an error holds the server).
    """
    module_dicts = {id(vars(m)) for m in list(sys.modules.values()) if m is not None and hasattr(m, "__dict__")}
    opaque = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType, types.MethodDescriptorType)
    seen: set[int] = set()
    pending = list(roots)
    found: list[str] = []
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (str, bytes, bytearray)):
            if holds_secret(obj):
                found.append(f"{type(obj).__name__} of length {len(obj)}")
        elif isinstance(obj, types.FrameType):
            if not obj.f_code.co_filename.startswith(TESTS):
                pending.extend(obj.f_locals.values())
        elif not isinstance(obj, opaque) and id(obj) not in module_dicts:
            pending.extend(gc.get_referents(obj))
    return found


ENDINGS: list[tuple[str, Answer]] = [
    ("200", respond(200, USAGE)),
    ("401", respond(401, b'{"type":"error","error":{"type":"authentication_error","message":"Invalid bearer token"}}')),
    ("429", respond(429, b'{"error":{"type":"rate_limit_error"}}', {"Retry-After": "60"})),
    ("500", respond(500, b"")),
    ("302", redirect("https://127.0.0.1:9/")),
    ("reset", reset_before_headers()),
    ("invalid JSON", respond(200, b"{")),
]


@pytest.mark.parametrize(("name", "answer"), ENDINGS, ids=[e[0] for e in ENDINGS])
def test_nothing_left_behind_reaches_a_token(
    name: str, answer: Answer, https_server: LoopbackServer, environ: dict[str, str], ca_file: str, tmp_path: Path
) -> None:
    """From the client (its session, pool and kept-alive connection), the result or the error, and the cache's files, no token is reachable."""
    https_server.answer = answer
    environ["CLAUDE_USAGE_CACHE_DIR"] = str(tmp_path / "cache")
    roots: list[object] = []
    with UsageClient(api_url=https_server.url, verify=ca_file, environ=environ, cache=True) as client:
        try:
            roots.append(client.get_usage())
        except ClaudeUsageError as error:
            roots.append(error)
        roots += [client, client.cache_result, client.credential_info]
        found = reachable_secrets(roots)
    cache_files = [path for path in (tmp_path / "cache").rglob("*") if path.is_file()]
    found += [str(path.relative_to(tmp_path)) for path in cache_files if holds_secret(path.read_bytes())]
    record(
        f"no leak: reachable after a call ending {name}",
        f"{len(found)} objects or cache files hold a token ({len(cache_files)} cache files)",
        "0",
        not found,
    )
    assert (True, []) == (len(cache_files) > 0, found)


# -- logs and http.client debug output -------------------------------------------------------


def test_debug_logs_and_http_debuglevel_hold_no_token(
    https_server: LoopbackServer,
    environ: dict[str, str],
    ca_file: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the root logger at DEBUG (urllib3 included) and http.client's debuglevel at 1 globally, nothing logged or printed holds a token."""
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    monkeypatch.setattr(http.client.HTTPSConnection, "debuglevel", 1)
    endings = Counter[str]()
    with caplog.at_level(logging.DEBUG):
        for _name, answer in ENDINGS:
            https_server.answer = answer
            try:
                get_usage(api_url=https_server.url, verify=ca_file, environ=environ)
                endings["ok"] += 1
            except ClaudeUsageError as error:
                endings[error.kind] += 1
                logging.getLogger("app").exception("usage failed: %s", error)  # how an application logs it
    printed = capfd.readouterr()
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {''.join(traceback.format_exception(*r.exc_info)) if r.exc_info else ''}"
        for r in caplog.records
    )
    leaking = [where for where, text in (("log records", logged), ("stdout", printed.out), ("stderr", printed.err)) if holds_secret(text)]
    urllib3_records = sum(r.name.startswith("urllib3") for r in caplog.records)
    record(
        "no leak: DEBUG logs + http.client debuglevel=1",
        f"{len(caplog.records)} records ({urllib3_records} urllib3), {len(printed.out) + len(printed.err)} chars printed, {len(leaking)} with a token",
        "0",
        not leaking,
    )
    assert ([], True, len(ENDINGS)) == (leaking, urllib3_records > 0, sum(endings.values()))


# -- the command: stdout, stderr and files, on every exit path --------------------------------

SCOPE_BODY = b'{"type":"error","error":{"type":"permission_error","message":"OAuth token does not meet scope requirement user:profile"}}'
ECHO_401 = echo(401, lambda h: _error_body(f"invalid credentials: {h}"))

# (name, answer or None, credential document or a marker, command-line arguments, expected exit status)
CLI_PATHS: list[tuple[str, Answer | None, object, list[str], int]] = [
    ("ok, default view", respond(200, USAGE), None, [], 0),
    ("ok, --json", respond(200, USAGE), None, ["--json"], 0),
    ("ok, --statusline", respond(200, USAGE), None, ["--statusline"], 0),
    ("ok, --format", respond(200, USAGE), None, ["--format", "{five_hour}% {plan} {seven_day_reset}"], 0),
    ("--help", None, None, ["--help"], 0),
    ("--version", None, None, ["--version"], 0),
    ("usage error", None, None, ["--no-such-option"], 2),
    ("not logged in", None, "missing", [], 3),
    ("expired", None, credential_document(expires_at_ms=1000), ["--json"], 4),
    ("insufficient scope", respond(403, SCOPE_BODY), None, ["--json"], 5),
    ("unauthorized", respond(401, b'{"type":"error","error":{"type":"authentication_error","message":"Invalid bearer token"}}'), None, [], 6),
    ("unauthorized, server echoes the token", ECHO_401, None, ["--json"], 6),
    ("forbidden", respond(403, b'{"type":"error","error":{"type":"permission_error","message":"no"}}'), None, [], 7),
    ("rate limited", respond(429, b'{"error":{"type":"rate_limit_error"}}', {"Retry-After": "60"}), None, ["--json"], 8),
    ("network", reset_before_headers(), None, [], 9),
    ("server", respond(500, b""), None, ["--json"], 10),
    ("unexpected status", respond(418, b""), None, [], 10),
    ("parse", respond(200, b"<html>"), None, [], 11),
    ("unreadable", None, "directory", [], 12),
    ("malformed credentials", None, credential_document(access_token=ACCESS_TOKEN + " x"), ["--json"], 11),
    ("configuration", None, "remote-url", [], 14),
]

cli_checked: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def command_row() -> Iterator[None]:
    """One table row for all the command's exit paths, written when the module's tests are done."""
    yield
    if cli_checked["paths"]:
        record(
            "no leak: command stdout/stderr + files written",
            f"{cli_checked['paths']} runs, {cli_checked['files']} files written, {cli_checked['leaks']} with a token",
            "0",
            cli_checked["leaks"] == 0,
        )


def run_command(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "claude_usage", *args], env=env, capture_output=True, text=True, timeout=60)


def files_written(home: Path) -> list[Path]:
    """Every file under the home except the credential file the test wrote."""
    credentials = home / ".claude" / ".credentials.json"
    return [path for path in home.rglob("*") if path.is_file() and path != credentials]


@pytest.mark.parametrize(("name", "answer", "document", "args", "status"), CLI_PATHS, ids=[p[0] for p in CLI_PATHS])
def test_command_output_and_files_hold_no_token(
    name: str, answer: Answer | None, document: object, args: list[str], status: int, https_server: LoopbackServer, ca_file: str, tmp_path: Path
) -> None:
    """On this exit path the command's stdout, stderr and every file it wrote hold no token."""
    home = tmp_path / "home"
    if document == "directory":
        _directory_at_path(home)
    elif document != "missing":
        write_credentials(home, None if document == "remote-url" else document)
    https_server.answer = answer or respond(200, USAGE)
    api_url = "https://usage.attacker.example/api/oauth/usage" if document == "remote-url" else https_server.url
    env = child_environment(home, CLAUDE_USAGE_API_URL=api_url, CLAUDE_USAGE_CA_BUNDLE=ca_file, COLUMNS="100")
    done = run_command(args, env)
    written = files_written(home)
    leaking = [where for where, text in (("stdout", done.stdout), ("stderr", done.stderr)) if holds_secret(text)]
    leaking += [str(path.relative_to(home)) for path in written if holds_secret(path.read_bytes())]
    cli_checked["paths"] += 1
    cli_checked["files"] += len(written)
    cli_checked["leaks"] += len(leaking)
    assert (status, []) == (done.returncode, leaking), done.stderr[-2000:]


def test_command_stale_data_path_holds_no_token(https_server: LoopbackServer, ca_file: str, tmp_path: Path) -> None:
    """Cached data shown after a failed refresh (the stale path), and the cache and lock files, hold no token."""
    home = tmp_path / "home"
    write_credentials(home)
    env = child_environment(home, CLAUDE_USAGE_API_URL=https_server.url, CLAUDE_USAGE_CA_BUNDLE=ca_file)
    https_server.answer = respond(200, USAGE)
    first = run_command(["--json"], env)
    https_server.answer = ECHO_401
    stale = run_command(["--no-cache"], env)
    strict = run_command(["--no-cache", "--strict", "--json"], env)
    written = files_written(home)
    outputs = [first.stdout, first.stderr, stale.stdout, stale.stderr, strict.stdout, strict.stderr]
    leaking = [i for i, text in enumerate(outputs) if holds_secret(text)] + [str(p) for p in written if holds_secret(p.read_bytes())]
    cli_checked["paths"] += 3
    cli_checked["files"] += len(written)
    cli_checked["leaks"] += len(leaking)
    assert ((0, 0, 6), True, []) == ((first.returncode, stale.returncode, strict.returncode), len(written) > 0, leaking)


def test_exceptions_summary(
    https_server: LoopbackServer, ca_file: str, tmp_path: Path, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """All credential failures and echoing servers together: no error holds a token or a piece of one (recorded in the table)."""
    leaking: list[str] = []
    walked = 0
    for index, (_, environment) in enumerate(CREDENTIAL_FAILURES):
        # Walked at once: traceback locals may hold os.environ, which the next case changes.
        error = credential_failure(environment(tmp_path / str(index)), https_server.url, ca_file, monkeypatch)
        leaking += [type(error).__name__] if secret_places(error, TOKEN_FRAGMENTS) else []
        walked += 1
    for _, answer in ECHOES:
        https_server.answer = answer
        error = failure_of(https_server.url, ca_file, environ=environ, strict=True)
        leaking += [type(error).__name__] if echo_places(error) else []
        walked += 1
    record(
        "no leak: exceptions (credential failures, echoing server)",
        f"{walked} errors walked, {len(leaking)} hold a token or a piece" + (f" ({', '.join(leaking)})" if leaking else ""),
        "0",
        not leaking,
    )
    assert (len(CREDENTIAL_FAILURES) + len(ECHOES), []) == (walked, leaking)
