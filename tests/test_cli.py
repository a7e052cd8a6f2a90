"""The claude-usage command against a real HTTPS server on loopback: views, exit codes, cache, concurrency."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import termios
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_usage import KeychainInteractionRequiredError, UsageData, cli, client, windows
from claude_usage.cli import arguments
from claude_usage.cli.render import human_duration
from claude_usage.errors import ClaudeUsageError
from conftest import SECRETS, credential_document, fixture_body, write_credentials
from loopback_server import LoopbackServer, reset_before_headers, respond

T0 = 1_772_441_160  # 2026-03-02T08:46:00Z: pro_max.json's 5-hour window resets in 2h 14m
RATE_LIMIT_BODY = b'{"error":{"type":"rate_limit_error","message":"Rate limited. Please try again later."}}'
SCOPE_BODY = b'{"type":"error","error":{"type":"permission_error","message":"OAuth token does not meet scope requirement user:profile"}}'
FORBIDDEN_MODULES = ("requests", "urllib3", "ssl", "claude_usage._native", "claude_usage._lib", "claude_usage._http", "_cffi_backend", "sqlite3")
ENTERPRISE_WITH_EXTRA = {
    **json.loads(fixture_body("enterprise_all_null.json")),
    "extra_usage": {"is_enabled": True, "monthly_limit": 2000, "used_credits": 763, "utilization": None, "currency": "USD"},
}


class Terminal(io.StringIO):
    """A captured stdout that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def assert_no_secrets(*texts: str | bytes) -> None:
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        assert [] == [secret for secret in SECRETS if secret.encode() in data]


def assert_cache_has_no_secrets(directory: Path) -> None:
    """No file the command left behind (cache, lock, anything) holds a token's bytes."""
    for path in directory.rglob("*"):
        if path.is_file():
            assert_no_secrets(path.read_bytes())


@pytest.fixture
def command_env(home: Path, https_server: LoopbackServer, ca_file: str, tmp_path: Path) -> dict[str, str]:
    """The command's whole environment: fake home, loopback API, test CA, own cache, fixed clock."""
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    return {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CLAUDE_USAGE_API_URL": https_server.url,
        "CLAUDE_USAGE_CA_BUNDLE": ca_file,
        "CLAUDE_USAGE_CACHE_DIR": str(tmp_path / "cache"),
        "CLAUDE_USAGE_TEST_NOW": str(T0),
        "PYTHONIOENCODING": "utf-8",
    }


def invoke(argv: list[str], env: dict[str, str], stdout: io.StringIO | None = None) -> tuple[int, str, str]:
    """Run cli.main in this process; returns (exit status, stdout, stderr)."""
    out = stdout if stdout is not None else io.StringIO()
    err = io.StringIO()
    status = cli.main(argv, environ=env, stdout=out, stderr=err)
    assert_no_secrets(out.getvalue(), err.getvalue())
    return status, out.getvalue(), err.getvalue()


def run(argv: list[str], env: dict[str, str], *python_options: str) -> subprocess.CompletedProcess[str]:
    """Run the real command (``python -m claude_usage``) in a child process."""
    done = subprocess.run(
        [sys.executable, *python_options, "-m", "claude_usage", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_no_secrets(done.stdout, done.stderr)
    return done


def at(env: dict[str, str], seconds: float) -> dict[str, str]:
    """The same environment with the clock moved ``seconds`` past T0."""
    return {**env, "CLAUDE_USAGE_TEST_NOW": str(T0 + seconds)}


# -- views -------------------------------------------------------------------------------------

def test_default_view(command_env: dict[str, str]) -> None:
    """Bars, percentages, reset times, pace and plan, one line per window."""
    expected = (
        "5-hour        ████████▋░░░░░░░░░  48%  resets in 2h 14m   55% of time, on pace\n"
        "7-day         ███████████▌░░░░░░  64%  resets in 3d 21h   45% of time, over pace\n"
        "7-day Sonnet  ▍░░░░░░░░░░░░░░░░░   2%  resets in 3d 22h   44% of time, on pace\n"
        "Plan          Max 5x\n"
    )
    assert (0, expected, "") == invoke([], command_env)


def test_default_view_of_limits_and_extra_usage(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Per-model limits entries get their own lines; enabled extra usage shows spent of limit."""
    body = json.loads(fixture_body("with_limits.json"))
    body["extra_usage"] = {"is_enabled": True, "monthly_limit": 2000, "used_credits": 763.0, "utilization": 38.15}
    https_server.answer = respond(200, json.dumps(body))
    _, out, _ = invoke([], {**command_env, "CLAUDE_USAGE_TEST_NOW": "1784040000"})  # 2026-07-14T14:40:00Z
    labels = [line[:13].rstrip() for line in out.splitlines()]
    assert (["5-hour", "7-day", "7-day Opus", "7-day Sonnet", "Extra usage", "Plan"], "Extra usage   $7.63 of $20.00, 38%") == (
        labels,
        out.splitlines()[4],
    )


def test_extra_usage_in_another_currency(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Amounts use the currency's minor unit (JPY has none) and its symbol."""
    https_server.answer = respond(200, fixture_body("unknown_keys.json"))
    _, out, _ = invoke([], command_env)
    (line,) = [line for line in out.splitlines() if line.startswith("Extra usage")]
    assert "Extra usage     ¥1,250 of ¥10,000, 12%" == line


def test_enterprise_body(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """All windows null: the view says so and still shows extra usage."""
    https_server.answer = respond(200, json.dumps(ENTERPRISE_WITH_EXTRA))
    expected = "No usage windows reported for this account\nExtra usage  $7.63 of $20.00, 38%\nPlan         Max 5x\n"
    assert (0, expected) == invoke([], command_env)[:2]


def test_json_schema(command_env: dict[str, str]) -> None:
    """--json is the body's to_dict() plus fetched_at, age_seconds, stale and problems."""
    invoke([], command_env)
    status, out, _ = invoke(["--json"], at(command_env, 42))
    expected = {
        **UsageData.from_json(fixture_body("pro_max.json")).to_dict(),
        "fetched_at": "2026-03-02T08:46:00+00:00",
        "age_seconds": 42,
        "stale": False,
        "problems": [],
        "sources": {
            key: {"source": "server", "observed_at": "2026-03-02T08:46:00+00:00"} for key in ("five_hour", "seven_day", "seven_day_sonnet")
        },
    }
    assert (0, expected, 1) == (status, json.loads(out), len(out.splitlines()))


def test_format_template(command_env: dict[str, str]) -> None:
    """--format fills every documented field; missing values print as '-'."""
    template = "{five_hour}|{five_hour_reset}|{five_hour_elapsed}|{five_hour_pace}|{seven_day_pace}|{seven_day_opus}|{extra_used}|{plan}|{stale}|{age}|{fetched_at}|{five_hour:>4}"
    expected = "48|2h 14m|55|on pace|over pace|-|-|Max 5x||0s|2026-03-02T08:46:00+00:00|  48\n"
    assert (0, expected) == invoke(["--format", template], command_env)[:2]


def test_format_bar_field(command_env: dict[str, str]) -> None:
    """{five_hour_bar} is a 10-cell bar."""
    assert (0, "[████▊░░░░░]\n") == invoke(["--format", "[{five_hour_bar}]"], command_env)[:2]


@pytest.mark.parametrize("template", ["{nope}", "{five_hour.real}", "{five_hour[0]}", "{}", "{five_hour:{plan}}", "{five_hour:d}", "{five_hour"])
def test_bad_template_is_a_usage_error_and_sends_nothing(command_env: dict[str, str], https_server: LoopbackServer, template: str) -> None:
    """Unknown fields, lookups and malformed templates exit 2 before any request."""
    status, out, err = invoke(["--format", template], command_env)
    assert (2, "", True, 0) == (status, out, err.startswith("claude-usage: "), https_server.request_count)


def test_statusline_preset(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """--statusline prints one short line with both windows and extra usage."""
    https_server.answer = respond(200, fixture_body("extra_usage_on.json"))
    assert (0, "5h 100% (7h 14m) | 7d 71% (3d 21h) | extra $7.63/$50.00\n") == invoke(["--statusline"], command_env)[:2]


def test_colour_only_on_a_terminal_without_no_color(command_env: dict[str, str]) -> None:
    """ANSI colour appears on a terminal, not with NO_COLOR set, not on a pipe."""
    invoke([], command_env)
    on_terminal = invoke([], command_env, Terminal())[1]
    no_color = invoke([], {**command_env, "NO_COLOR": "1"}, Terminal())[1]
    piped = invoke([], command_env)[1]
    assert (True, False, False) == ("\033[" in on_terminal, "\033[" in no_color, "\033[" in piped)


def test_colour_on_a_real_pseudo_terminal(command_env: dict[str, str]) -> None:
    """The real command colours its output when its stdout is a pty, and not with NO_COLOR."""
    seen = []
    for extra in ({}, {"NO_COLOR": ""}):
        leader, follower = pty.openpty()
        try:
            process = subprocess.run(
                [sys.executable, "-m", "claude_usage"], env={**command_env, **extra}, stdout=follower, stderr=subprocess.PIPE, timeout=60
            )
            os.close(follower)
            output = b""
            while True:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
        finally:
            os.close(leader)
        assert_no_secrets(output)
        seen.append((process.returncode, b"\033[" in output))
    assert [(0, True), (0, False)] == seen


def test_narrow_terminal(command_env: dict[str, str]) -> None:
    """With COLUMNS=40 every line fits and the bars shrink."""
    _, out, _ = invoke([], {**command_env, "COLUMNS": "40"})
    assert (True, "5-hour        █▉░░  48% 2h 14m on pace") == (all(len(line) <= 40 for line in out.splitlines()), out.splitlines()[0])


def test_ascii_fallback_when_the_encoding_cannot_show_blocks(command_env: dict[str, str]) -> None:
    """The real command with an ASCII stdout draws '#'/'-' bars and prints only ASCII."""
    done = run([], {**command_env, "PYTHONIOENCODING": "ascii"})
    assert (0, True, "5-hour        #########---------  48%") == (done.returncode, done.stdout.isascii(), done.stdout.splitlines()[0][:37])


def test_terminal_escapes_from_the_server_are_not_printed(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """A window key or model name carrying control characters is shown without them."""
    body = json.loads(fixture_body("pro_max.json"))
    body["seven_day_\033]0;owned\007x"] = {"utilization": 5, "resets_at": None}
    body["limits"] = [{"kind": "weekly_scoped", "group": "weekly", "percent": 1, "scope": {"model": {"display_name": "Op\033[2Jus"}}}]
    https_server.answer = respond(200, json.dumps(body))
    assert "\033" not in invoke([], command_env, Terminal())[1].replace("\033[0m", "").replace("\033[3", "")


# -- errors and exit codes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "code", "kind"),
    [
        (401, b'{"type":"error","error":{"type":"authentication_error","message":"Invalid bearer token"}}', 6, "Unauthorized"),
        (403, SCOPE_BODY, 5, "InsufficientScope"),
        (403, b'{"type":"error","error":{"type":"permission_error","message":"nope"}}', 7, "Forbidden"),
        (429, RATE_LIMIT_BODY, 8, "RateLimited"),
        (500, b"", 10, "Server"),
        (418, b"", 10, "UnexpectedStatus"),
        (200, b"<html>hello</html>", 11, "Parse"),
    ],
)
def test_server_errors_exit_with_their_codes(
    command_env: dict[str, str], https_server: LoopbackServer, status: int, body: bytes, code: int, kind: str
) -> None:
    """Each failure has its own exit status, one stderr line with a hint, and a JSON error on stdout."""
    https_server.answer = respond(status, body)
    exit_status, out, err = invoke(["--json"], command_env)
    error = json.loads(out)["error"]
    assert (code, kind, code, 1) == (exit_status, error["kind"], error["exit_code"], len(err.splitlines()))
    assert re.fullmatch(r"claude-usage: .+ \(hint: .+\)\n", err)


def test_network_failure_exits_9(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """A reset connection is a network error."""
    https_server.answer = reset_before_headers()
    assert 9 == invoke([], command_env)[0]


def test_local_errors_exit_with_their_codes(command_env: dict[str, str], home: Path, tmp_path: Path) -> None:
    """Not logged in 3, no HOME 3, expired 4, scope 5, unreadable 12, configuration 14, usage 2."""
    credentials = home / ".claude" / ".credentials.json"
    codes = {}
    credentials.unlink()
    codes["not found"] = invoke([], command_env)[0]
    codes["no home"] = invoke([], {k: v for k, v in command_env.items() if k != "HOME"})[0]
    write_credentials(home, credential_document(expires_at_ms=1000))
    codes["expired"] = invoke([], command_env)[0]
    write_credentials(home, credential_document(scopes=["user:inference"]))
    codes["scope"] = invoke([], command_env)[0]
    credentials.unlink()
    credentials.mkdir()
    codes["unreadable"] = invoke([], command_env)[0]
    codes["configuration"] = invoke([], {**command_env, "CLAUDE_USAGE_API_URL": "https://example.com/usage"})[0]
    codes["usage"] = invoke(["--max-age", "-1"], command_env)[0]
    expected = {"not found": 3, "no home": 3, "expired": 4, "scope": 5, "unreadable": 12, "configuration": 14, "usage": 2}
    assert expected == codes


@pytest.mark.parametrize(
    ("error", "code"),
    [(KeychainInteractionRequiredError("locked"), 13), (ClaudeUsageError("other"), 1)],
)
def test_exit_code_follows_the_error_class(error: ClaudeUsageError, code: int) -> None:
    """Kinds not listed take their parent's code (Keychain*), else 1."""
    assert code == cli.exit_code(error)


def test_real_process_exit_status_and_streams(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """The real command exits 8 on a 429, with the error on stderr and as JSON on stdout."""
    https_server.answer = respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})
    done = run(["--json"], command_env)
    expected = {"kind": "RateLimited", "message": "rate limited (429); retry after 3600 s", "exit_code": 8, "retry_after": 3600}
    assert (8, expected) == (done.returncode, {k: v for k, v in json.loads(done.stdout)["error"].items() if k != "hint"})


def test_help_and_version(command_env: dict[str, str]) -> None:
    """--help shows examples and exit codes; --version the version."""
    help_status, help_text, _ = invoke(["--help"], command_env)
    assert (0, True, True) == (help_status, "examples:" in help_text, "8 rate limited" in help_text)
    assert (0, f"claude-usage {cli.__version__}\n") == invoke(["--version"], command_env)[:2]


def test_help_names_every_format_field(command_env: dict[str, str]) -> None:
    """Every field --format accepts is in --help: {W...} once per suffix, the others by name."""
    from claude_usage.cli.render import FORMAT_FIELDS

    help_text = invoke(["--help"], command_env)[1]
    named = set(re.findall(r"\{(\w+)\}", help_text.split("--format fields")[1].split("exit codes")[0]))
    windows_ = [key for key, _label, _alias, _hours in windows.WINDOWS]
    shown = {name.replace("W", key, 1) for name in named if name.startswith("W") for key in windows_} | {
        name for name in named if not name.startswith("W")
    }
    assert set(FORMAT_FIELDS) == shown


def test_remote_api_url_from_the_environment_is_refused_before_the_cache(command_env: dict[str, str]) -> None:
    """CLAUDE_USAGE_API_URL naming a remote host exits 14 without touching the cache (no entry, no lock)."""
    cache_dir = Path(command_env["CLAUDE_USAGE_CACHE_DIR"])
    assert 0 == invoke([], command_env)[0]  # fills the cache
    before = sorted(path.name for path in cache_dir.iterdir())
    status, out, err = invoke([], {**command_env, "CLAUDE_USAGE_API_URL": "https://example.com/api/oauth/usage"})
    assert (14, "", True, before) == (status, out, "loopback" in err, sorted(path.name for path in cache_dir.iterdir()))


def test_command_exits_without_teardown_yet_flushes(command_env: dict[str, str]) -> None:
    """The entry point skips interpreter teardown (atexit) but its piped output still arrives whole."""
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('teardown ran'))\n"
        "sys.argv = ['claude-usage', '--version']\n"
        "from claude_usage.cli import run\n"
        "run()\n"
        "print('run() returned')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=command_env, capture_output=True, text=True, timeout=60)
    assert (0, f"claude-usage {cli.__version__}\n", "") == (done.returncode, done.stdout, done.stderr)


def test_console_script_is_the_quick_exit_entry_point() -> None:
    """The installed claude-usage script calls cli.run, not cli.main."""
    from importlib.metadata import entry_points

    (script,) = [entry for entry in entry_points(group="console_scripts") if entry.name == "claude-usage"]
    assert "claude_usage.cli:run" == script.value


# -- cache behaviour through the command -------------------------------------------------------


def test_stale_data_on_failure(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """When the request fails, older data is printed marked stale (exit 0) and the error goes to stderr."""
    invoke([], command_env)
    https_server.answer = respond(500, b"")
    status, out, err = invoke(["--json"], at(command_env, 600))
    document = json.loads(out)
    assert (0, True, 600, 48.0) == (status, document["stale"], document["age_seconds"], document["five_hour"]["utilization"])
    assert err.startswith("claude-usage: showing data from 10m ago: the server failed (500)")


def test_stale_data_in_the_default_view(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """The default view ends with a stale line giving the data's age."""
    invoke([], command_env)
    https_server.answer = respond(500, b"")
    assert "Stale: data from 10m ago" == invoke([], at(command_env, 600))[1].splitlines()[-1]


def test_strict_fails_instead_of_serving_stale_data(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """--strict exits with the error's code and prints no data."""
    invoke([], command_env)
    https_server.answer = respond(500, b"")
    status, out, _ = invoke(["--strict"], at(command_env, 600))
    assert (10, "") == (status, out)


def test_max_age(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Data 100 s old is fresh for the default 180 s, not for --max-age 60."""
    invoke([], command_env)
    invoke([], at(command_env, 100))
    after_default = https_server.request_count
    invoke(["--max-age", "60"], at(command_env, 100))
    assert (1, 2) == (after_default, https_server.request_count)


def test_no_cache_and_force(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """--no-cache asks again but honours a block; --force asks even during one."""
    invoke([], command_env)
    invoke(["--no-cache"], at(command_env, 1))
    fresh_forced = https_server.request_count
    https_server.answer = respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})
    invoke(["--no-cache"], at(command_env, 2))
    blocked = invoke(["--no-cache"], at(command_env, 3))
    after_block = https_server.request_count
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    forced = invoke(["--force", "--json"], at(command_env, 4))
    assert (2, 3, (0, True), 4, (0, False)) == (
        fresh_forced,
        after_block,
        (blocked[0], "Stale" in blocked[1]),
        https_server.request_count,
        (forced[0], json.loads(forced[1])["stale"]),
    )


CORRUPTIONS = {
    "corrupt JSON": b'{"version": 1, "data": {',
    "truncated": None,  # the real file cut in half
    "zero bytes": b"",
    "wrong version": None,  # the real file with version 999
    "directory": None,
}


@pytest.mark.parametrize("damage", sorted(CORRUPTIONS))
def test_command_survives_a_damaged_cache(command_env: dict[str, str], https_server: LoopbackServer, damage: str) -> None:
    """The command fetches afresh past a damaged cache file and leaves a valid one behind."""
    invoke([], command_env)
    cache_dir = Path(command_env["CLAUDE_USAGE_CACHE_DIR"])
    (path,) = cache_dir.glob("*.json")
    original = path.read_bytes()
    if damage == "directory":
        path.unlink()
        (path / "inside").mkdir(parents=True)
    elif damage == "truncated":
        path.write_bytes(original[: len(original) // 2])
    elif damage == "wrong version":
        path.write_bytes(original.replace(b'"version":1', b'"version":999'))
    else:
        path.write_bytes(CORRUPTIONS[damage] or b"")
    status, out, _ = invoke(["--json"], at(command_env, 1))
    assert (0, 48.0, 2) == (status, json.loads(out)["five_hour"]["utilization"], https_server.request_count)
    assert 1 == json.loads(path.read_bytes())["version"]
    assert_cache_has_no_secrets(cache_dir)


def test_xdg_cache_home_is_the_default_location(command_env: dict[str, str], tmp_path: Path) -> None:
    """Without CLAUDE_USAGE_CACHE_DIR the cache lands in $XDG_CACHE_HOME/claude-usage, mode 0700."""
    env = {k: v for k, v in command_env.items() if k != "CLAUDE_USAGE_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    invoke([], env)
    directory = tmp_path / "xdg" / "claude-usage"
    assert (0o700, 1) == (stat.S_IMODE(directory.stat().st_mode), len(list(directory.glob("*.json"))))


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A directory outside pytest's private tmp tree, so an unprivileged uid can reach it."""
    path = Path(tempfile.mkdtemp(prefix="claude-usage-uid-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def invoke_as_nobody(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """cli.main in a forked child that has dropped to uid/gid 65534 (no exec: the interpreter may
    live where that uid cannot read it). Without root, the caller is unprivileged already."""
    if os.geteuid() != 0:
        return invoke(argv, env)
    import claude_usage._http  # noqa: F401  (loaded before the fork; the child may not read site-packages)

    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            out, err = io.StringIO(), io.StringIO()
            status = cli.main(argv, environ=env, stdout=out, stderr=err)
            os.write(writer, json.dumps([status, out.getvalue(), err.getvalue()]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        reported = pipe.read()
    _, wait_status = os.waitpid(pid, 0)
    assert 0 == os.waitstatus_to_exitcode(wait_status)
    status, out, err = json.loads(reported)
    assert_no_secrets(out, err)
    return status, out, err


@pytest.mark.parametrize("layout", ["cannot create", "not ours"])
def test_unwritable_cache_directory_as_an_unprivileged_user(
    command_env: dict[str, str], https_server: LoopbackServer, ca_file: str, world_readable_dir: Path, layout: str
) -> None:
    """As uid 65534 (or the unprivileged tester) a cache directory it cannot use still gets an answer."""
    home = world_readable_dir / "home"
    write_credentials(home)
    shutil.copy(ca_file, world_readable_dir / "ca.pem")
    (world_readable_dir / "ca.pem").chmod(0o644)
    locked = world_readable_dir / "locked"
    locked.mkdir(mode=0o755)
    if os.geteuid() == 0:
        for path in [home, *home.rglob("*")]:
            os.chown(path, 65534, 65534)
    else:
        locked.chmod(0o555)
    env = {
        **command_env,
        "HOME": str(home),
        "CLAUDE_USAGE_CA_BUNDLE": str(world_readable_dir / "ca.pem"),
        "CLAUDE_USAGE_CACHE_DIR": str(locked / "cache" if layout == "cannot create" else locked),
    }
    results = [invoke_as_nobody(["--json"], env) for _ in range(2)]
    assert [(0, 48.0, "")] * 2 == [(status, json.loads(out)["five_hour"]["utilization"], err) for status, out, err in results]
    assert ([], 2) == (sorted(os.listdir(locked)), https_server.request_count)


# -- the fast path -----------------------------------------------------------------------------


def imported_modules(importtime_log: str) -> set[str]:
    return {line.rsplit("|", 1)[-1].strip() for line in importtime_log.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("argv", [["--json"], ["--statusline"], [], ["--help"], ["--version"], ["check", "--max", "5h=90"]])
def test_fast_path_imports_no_http_or_native_code(command_env: dict[str, str], argv: list[str]) -> None:
    """A cache hit (of the view or of check), --help and --version import neither requests,
    urllib3, ssl nor the C module."""
    run([], command_env)
    done = run(argv, at(command_env, 10), "-X", "importtime")
    assert (0, set()) == (done.returncode, imported_modules(done.stderr) & set(FORBIDDEN_MODULES))


def test_a_cache_miss_does_import_the_http_stack(command_env: dict[str, str]) -> None:
    """The import check sees the modules when a request is really sent (so it can fail)."""
    done = run(["--json"], command_env, "-X", "importtime")
    assert {"requests", "ssl", "claude_usage._native"} <= imported_modules(done.stderr)


# -- many processes at once --------------------------------------------------------------------


def run_many(count: int, env: dict[str, str], argv: list[str] | None = None) -> list[tuple[int, str, str]]:
    """Start ``count`` real commands at once and collect (status, stdout, stderr) of each."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "claude_usage", *(argv or ["--json"])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert_no_secrets(out, err)
        results.append((process.returncode, out, err))
    return results


def test_fifty_processes_send_one_request(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Fifty commands started at once on an empty cache cause exactly one request and print the same data."""
    results = run_many(50, command_env)
    assert (1, {0}, 1) == (https_server.request_count, {status for status, _, _ in results}, len({out for _, out, _ in results}))
    assert_cache_has_no_secrets(Path(command_env["CLAUDE_USAGE_CACHE_DIR"]))


def test_fifty_processes_share_a_rate_limit_block(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """On a 429 Retry-After 3600: one request, none until the block (plus margin) ends, then one."""
    https_server.answer = respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})
    first = run_many(50, command_env)
    after_first = https_server.request_count
    during = run_many(5, at(command_env, 3600 + 899))
    after_during = https_server.request_count
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    later = run_many(5, at(command_env, 3600 + 900 + 6))
    assert (1, 1, 2) == (after_first, after_during, https_server.request_count)
    assert ({8}, {8}, {0}, 1) == (
        {status for status, _, _ in first},
        {status for status, _, _ in during},
        {status for status, _, _ in later},
        len({out for _, out, _ in later}),
    )
    assert_cache_has_no_secrets(Path(command_env["CLAUDE_USAGE_CACHE_DIR"]))


def test_token_never_reaches_cache_lock_or_output(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Across success, failure, stale and error runs no cache file, lock file or stream holds a token."""
    scripts: list[tuple[Any, list[str]]] = [
        (respond(200, fixture_body("pro_max.json")), ["--json"]),
        (respond(401, b'{"type":"error","error":{"type":"authentication_error","message":"Invalid bearer token"}}'), ["--no-cache"]),
        (respond(500, b""), ["--force", "--statusline"]),
        (respond(429, RATE_LIMIT_BODY), ["--force", "--format", "{five_hour} {stale}"]),
    ]
    for seconds, (answer, argv) in enumerate(scripts):
        https_server.answer = answer
        invoke(argv, at(command_env, seconds * 1000))
        run(argv, at(command_env, seconds * 1000 + 1))
    cache_dir = Path(command_env["CLAUDE_USAGE_CACHE_DIR"])
    assert (True, True) == (any(cache_dir.glob("*.json")), any(cache_dir.glob("*.lock")))
    assert_cache_has_no_secrets(cache_dir)


def test_passed_reset_and_missing_reset_read_plainly(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """A reset time in the past reads "resets now"; a window without one "no reset time"."""
    body = json.loads(fixture_body("pro_max.json"))
    body["seven_day_sonnet"]["resets_at"] = None
    https_server.answer = respond(200, json.dumps(body))
    lines = invoke([], at(command_env, 3 * 3600))[1].splitlines()
    assert (True, True) == ("resets now        100% of time, on pace" in lines[0], lines[2].endswith("no reset time"))


def test_statusline_for_an_enterprise_body(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """The status line of an account without windows says so and shows extra usage."""
    https_server.answer = respond(200, json.dumps(ENTERPRISE_WITH_EXTRA))
    assert (0, "no usage windows | extra $7.63/$20.00\n") == invoke(["--statusline"], command_env)[:2]


# -- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--json", "--statusline"], "argument --statusline: not allowed with argument --json"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["extra"], "unrecognized arguments: extra"),
        (["--s"], "ambiguous option: --s could match --statusline, --strict"),
        (["--timeout"], "argument --timeout: expected one argument"),
        (["--max-age", "--json"], "argument --max-age: expected one argument"),
        (["--max-age", "nan"], "argument --max-age: must be a finite number of seconds >= 0: 'nan'"),
        (["--max-age=x"], "argument --max-age: not a number of seconds: 'x'"),
        (["--timeout", "0"], "argument --timeout: must be a finite number of seconds >= 0.001: '0'"),
        (["--color", "red"], "argument --color: invalid choice: 'red' (choose from 'auto', 'always', 'never')"),
        (["--json=1"], "argument --json: ignored explicit argument '1'"),
    ],
)
def test_command_line_mistakes_exit_2_under_the_usage_line(command_env: dict[str, str], https_server: LoopbackServer, argv: list[str], message: str) -> None:
    """Each mistake exits 2 with the usage line and one error line, and sends nothing."""
    status, out, err = invoke(argv, command_env)
    assert (2, "", True, f"claude-usage: error: {message}", 0) == (
        status,
        out,
        err.startswith("usage: claude-usage [-h] [--json | --format TEMPLATE | --statusline]"),
        err.splitlines()[-1],
        https_server.request_count,
    )


def test_values_after_equals_signs_and_abbreviated_options(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """--opt=value and unambiguous prefixes work as with argparse."""
    invoke([], command_env)
    status, out, _ = invoke(["--max-age=60", "--form={five_hour}"], at(command_env, 100))
    assert (0, "48\n", 2) == (status, out, https_server.request_count)


@pytest.mark.parametrize("command", sorted(arguments.COMMANDS))
def test_help_lists_every_option(command_env: dict[str, str], command: str) -> None:
    """Each command's --help is made from the table: its usage line, each option, then examples."""
    status, help_text, _ = invoke([command, "-h"] if command else ["-h"], command_env)
    expected = [f"  {option.flag}" for option in arguments.COMMANDS[command][2]] + ["  -h, --help"]
    usage = f"usage: claude-usage {command} [-h]".replace("  ", " ")
    assert (0, True, [], True) == (status, help_text.startswith(usage), [line for line in expected if line not in help_text], "examples:" in help_text)


@pytest.mark.parametrize(
    ("seconds", "expected"), [(0, "<1m"), (59, "<1m"), (60, "1m"), (8040, "2h 14m"), (273600, "3d 4h"), (-5, "<1m")]
)
def test_human_duration(seconds: float, expected: str) -> None:
    """Durations read like "2h 14m" and "3d 4h"."""
    assert expected == human_duration(seconds)


# -- the cache hit's cost ----------------------------------------------------------------------


def test_json_cache_hit_loads_nothing_heavy(command_env: dict[str, str]) -> None:
    """A --json cache hit imports no models, dataclasses, typing, argparse, hashlib or datetime
    beyond what `python -c "import json"` imports (each costs more than the rest of the hit)."""
    run([], command_env)
    done = run(["--json"], at(command_env, 10), "-X", "importtime")
    floor = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import json"], env=command_env, capture_output=True, text=True, check=True
    )
    heavy = {"claude_usage.models", "dataclasses", "inspect", "typing", "argparse", "hashlib", "datetime", "shutil"}
    extra = imported_modules(done.stderr) - imported_modules(floor.stderr)
    assert (0, set(), 10) == (done.returncode, extra & heavy, json.loads(done.stdout)["age_seconds"])


# -- check -------------------------------------------------------------------------------------


def in_turn(*answers: Any) -> Any:
    """An answer that plays ``answers`` one request after another, repeating the last."""
    played: list[int] = []

    def answer(conn: Any, request: Any) -> bool:
        played.append(1)
        return bool(answers[min(len(played), len(answers)) - 1](conn, request))

    return answer


def usage_body(five_hour: float, resets_at: str | None = "2026-03-02T11:00:00.521744+00:00") -> bytes:
    body = json.loads(fixture_body("pro_max.json"))
    body["five_hour"] = {"utilization": five_hour, "resets_at": resets_at}
    return json.dumps(body).encode()


def test_check_under_every_limit_exits_0_quietly(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Every named window at or under its limit: exit 0, nothing printed; aliases and keys both work."""
    assert ((0, "", ""), 1) == (invoke(["check", "--max", "5h=48", "--max", "seven_day=64.5"], command_env), https_server.request_count)


def test_check_over_a_limit_exits_20_and_says_by_how_much_and_when_it_resets(command_env: dict[str, str]) -> None:
    """stderr names the window, its use, the limit, the excess and the time to the reset."""
    expected = (
        20,
        "",
        "claude-usage: 5-hour (5h) is at 48%, over its limit of 40% by 8 points; resets in 2h 14m\n"
        "claude-usage: 7-day (7d) is at 64%, over its limit of 50.5% by 13.5 points; resets in 3d 21h\n",
    )
    assert expected == invoke(["check", "--max", "5h=40", "--max=7d=50.5%", "--max", "seven_day_sonnet=2"], command_env)


def test_check_json(command_env: dict[str, str]) -> None:
    """--json: ok, and each window's verdict, with the cache's fields."""
    status, out, _ = invoke(["check", "--max", "5h=40", "--max", "seven_day_opus=10", "--json"], command_env)
    document = json.loads(out)
    expected_windows = [
        {"window": "five_hour", "name": "5h", "label": "5-hour", "max": 40.0, "utilization": 48.0, "reported": True, "over": True, "resets_at": "2026-03-02T11:00:00.521744+00:00"},
        {"window": "seven_day_opus", "name": "seven_day_opus", "label": "7-day Opus", "max": 10.0, "utilization": None, "reported": False, "over": False, "resets_at": None},
    ]
    assert (20, False, expected_windows, 0, False) == (status, document["ok"], document["windows"], document["age_seconds"], document["stale"])


def test_check_of_a_window_the_server_did_not_report(command_env: dict[str, str]) -> None:
    """Neither over nor under: said on stderr, exit 0; --strict makes it a failure (20)."""
    message = "claude-usage: 7-day Opus (seven_day_opus): not reported by the server, so neither over nor under\n"
    assert [(0, "", message), (20, "", message)] == [
        invoke(["check", "--max", "seven_day_opus=50", *strict], command_env) for strict in ([], ["--strict"])
    ]


def test_check_of_per_model_limits_by_display_name(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """A model's display name (any case) names its `limits` entry; a null flat key falls back to it."""
    https_server.answer = respond(200, fixture_body("with_limits.json"))
    env = {**command_env, "CLAUDE_USAGE_TEST_NOW": "1784040000"}  # 2026-07-14T14:40:00Z
    results = [invoke(["check", "--max", limit], env)[:2] for limit in ("opus=50", "Opus=60", "seven_day_opus=50")]
    assert [(20, ""), (0, ""), (20, "")] == results


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check"], "claude-usage: error: the following arguments are required: --max"),
        (["check", "--max", "5h"], "claude-usage: error: argument --max: expected WINDOW=PERCENT (e.g. 5h=80), not '5h'"),
        (["check", "--max", "5h=-1"], "claude-usage: error: argument --max: must be a finite percentage >= 0: '-1'"),
        (["check", "--max", "5h=80", "--format", "x"], "claude-usage: error: unrecognized arguments: --format"),
    ],
)
def test_check_command_line_mistakes_exit_2(command_env: dict[str, str], https_server: LoopbackServer, argv: list[str], message: str) -> None:
    """Mistakes exit 2 under check's own usage line, before any request."""
    status, out, err = invoke(argv, command_env)
    assert (2, "", True, message, 0) == (
        status, out, err.startswith("usage: claude-usage check [-h] --max WINDOW=PERCENT"), err.splitlines()[-1], https_server.request_count
    )


def test_check_of_an_unknown_window_is_a_usage_error(command_env: dict[str, str]) -> None:
    """A name that is no window, alias or model in the data exits 2 and lists the known names."""
    status, out, err = invoke(["check", "--max", "sevenday=50", "--json"], command_env)
    assert (2, "UnknownWindow", True) == (status, json.loads(out)["error"]["kind"], err.startswith("claude-usage: unknown window 'sevenday'; known: 5h, 7d, five_hour"))


def test_check_shares_the_cache_and_exits_with_the_error_of_a_failed_request(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """check is served from the cache the default view filled; with no data, a 401 exits 6."""
    invoke([], command_env)
    served = invoke(["check", "--max", "5h=90"], at(command_env, 60))[0]
    https_server.answer = respond(401, b'{"type":"error","error":{"type":"authentication_error","message":"Invalid bearer token"}}')
    failed = invoke(["check", "--max", "5h=90"], {**at(command_env, 60), "CLAUDE_USAGE_CACHE_DIR": command_env["CLAUDE_USAGE_CACHE_DIR"] + "-other"})[0]
    assert (0, 6, 2) == (served, failed, https_server.request_count)


def test_check_in_a_real_process(command_env: dict[str, str]) -> None:
    """The installed command's exit status is the gate's."""
    done = run(["check", "--max", "5h=40"], command_env)
    assert (20, "") == (done.returncode, done.stdout)


# -- wait --------------------------------------------------------------------------------------


def test_wait_returns_at_once_when_under(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    assert ((0, "", ""), 1) == (invoke(["wait", "--max", "5h=50"], command_env), https_server.request_count)


def test_wait_sleeps_until_the_reset_then_checks_again(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Over at 48%: one sleep to 11:00 plus the margin (fake clock), one more request, exit 0."""
    https_server.answer = in_turn(respond(200, usage_body(48.0)), respond(200, usage_body(3.0, "2026-03-02T16:00:00+00:00")))
    err = Terminal()
    status = cli.main(["wait", "--max", "5h=40"], environ=command_env, stdout=io.StringIO(), stderr=err)
    expected_progress = (
        "claude-usage: 5-hour (5h) is at 48%, over its limit of 40% by 8 points; resets in 2h 14m\n"
        "claude-usage: waiting 2h 15m before checking again\n"
    )
    assert (0, expected_progress, 2) == (status, err.getvalue(), https_server.request_count)


def test_wait_times_out_with_24(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """The reset is after the timeout: exit 24 once the timeout has passed, after one request."""
    status, out, err = invoke(["wait", "--max", "5h=40", "--timeout", "600"], command_env)
    assert (24, "", 1) == (status, out, https_server.request_count)
    assert re.fullmatch(r"claude-usage: timed out after 600 s; still over: five_hour at 48% \(hint: .+\)\n", err)


def test_wait_without_a_reset_time_rechecks_no_more_often_than_the_max_age(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """No reset time: a check every --max-age seconds (0, 180, ... 900 in 1000 s), through the cache."""
    https_server.answer = respond(200, usage_body(48.0, None))
    status = invoke(["wait", "--max", "5h=40", "--timeout", "1000"], command_env)[0]
    assert (24, 6) == (status, https_server.request_count)


def test_wait_as_a_library_call(command_env: dict[str, str], https_server: LoopbackServer, ca_file: str) -> None:
    """UsageClient.wait_until_under with an injected clock and sleep: the same schedule."""
    https_server.answer = in_turn(respond(200, usage_body(48.0)), respond(200, usage_body(3.0)))
    now = [float(T0)]
    with client.UsageClient(environ=command_env, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s), cache=True) as usage_client:
        result = usage_client.wait_until_under([("5h", 40.0)])
    # Slept once: from 08:46:00 to the reset at 11:00:00.52 plus the 60 s margin.
    five_hour = result.usage_or_raise().five_hour
    assert (3.0, 2, 2 * 3600 + 15 * 60) == (five_hour and five_hour.utilization, https_server.request_count, int(now[0] - T0))


# -- doctor ------------------------------------------------------------------------------------


def doctor(env: dict[str, str], *extra: str) -> tuple[int, dict[str, tuple[str, str | None]]]:
    """doctor --json: (exit status, {step: (status, fix)})."""
    status, out, _ = invoke(["doctor", "--json", *extra], env)
    return status, {check["step"]: (check["status"], check["fix"]) for check in json.loads(out)["checks"]}


def test_doctor_when_all_is_well(command_env: dict[str, str], home: Path) -> None:
    """Every step ok (the test clock's variable is the one warning), and the text form says the same."""
    status, checks = doctor(command_env)
    warnings = {step: found for step, found in checks.items() if found[0] != "ok"}
    expected = {"overrides": ("warning", "unset CLAUDE_USAGE_TEST_NOW (tests only)")}
    text_status, text, _ = invoke(["doctor"], command_env)
    assert (0, expected, 0, True) == (status, warnings, text_status, f"ok       credential file: {home}/.claude/.credentials.json, mode 0600" in text)


def test_doctor_reports_the_memory_protection_and_a_disabled_hardening(command_env: dict[str, str]) -> None:
    """The guarded allocator's state is a step of its own; CLAUDE_USAGE_NO_HARDENING is a warning with its fix."""
    _, checks = doctor(command_env)
    status, disabled = doctor({**command_env, "CLAUDE_USAGE_NO_HARDENING": "1"})
    assert (
        ("ok", None),
        0,
        ("warning", "unset CLAUDE_USAGE_NO_HARDENING once debugging is done"),
    ) == (checks["memory"], status, disabled["process hardening"])


def test_doctor_names_each_failure_with_its_fix(command_env: dict[str, str], home: Path, tmp_path: Path) -> None:
    """Missing file, bad mode, expired token, missing scope, unusable cache directory."""
    credentials = home / ".claude" / ".credentials.json"
    found = {}
    credentials.unlink()
    status, checks = doctor(command_env)
    found["missing"] = (status, checks["credential file"], checks["login"][0])
    write_credentials(home)
    credentials.chmod(0o644)
    status, checks = doctor(command_env)
    found["mode"] = (status, checks["credential file"])
    write_credentials(home, credential_document(expires_at_ms=1000))
    status, checks = doctor(command_env)
    found["expired"] = (status, checks["login"])
    write_credentials(home, credential_document(scopes=["user:inference"]))
    status, checks = doctor(command_env)
    found["scope"] = (status, checks["login"][0], "inference-only" in (checks["login"][1] or ""))
    write_credentials(home)
    (tmp_path / "not-a-directory").write_text("")
    status, checks = doctor({**command_env, "CLAUDE_USAGE_CACHE_DIR": str(tmp_path / "not-a-directory")})
    found["cache"] = (status, checks["cache"])
    expected = {
        "missing": (1, ("failed", "run `claude` and log in"), "failed"),
        "mode": (0, ("warning", f"chmod 600 {credentials}")),
        "expired": (1, ("failed", "run `claude` to log in again (it refreshes the token)")),
        "scope": (1, "failed", True),
        "cache": (1, ("failed", "make it a directory you own and can write (mode 0700), or set CLAUDE_USAGE_CACHE_DIR")),
    }
    assert expected == found


def test_doctor_reports_a_rate_limit_block_and_does_not_break_it(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """An active block: when it ends, the error the cache recorded, and --online sends nothing."""
    https_server.answer = respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})
    invoke([], command_env)
    status, out, _ = invoke(["doctor", "--json", "--online"], at(command_env, 60))
    checks = {check["step"]: check for check in json.loads(out)["checks"]}
    assert (0, "warning", "no request is sent for another 1h 14m", "warning", "not sent: a rate-limit block is active", 1) == (
        status,
        checks["rate-limit block"]["status"],
        checks["rate-limit block"]["detail"],
        checks["last error"]["status"],
        checks["request"]["detail"],
        https_server.request_count,
    )


def test_doctor_online_reports_the_servers_answer(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """--online sends one request; a scope refusal is a failure with the scope fix."""
    https_server.answer = respond(403, SCOPE_BODY)
    status, checks = doctor(command_env, "--online")
    assert (1, "failed", 1) == (status, checks["request"][0], https_server.request_count)


def test_doctor_shows_no_secret(command_env: dict[str, str]) -> None:
    """The token from the environment and a proxy password stay out of the report."""
    env = {**command_env, "CLAUDE_CODE_OAUTH_TOKEN": SECRETS[0], "HTTPS_PROXY": "http://user:hunter2@proxy.example:3128"}
    status, out, err = invoke(["doctor"], env)
    assert (0, False, True) == (status, "hunter2" in out + err, "HTTPS_PROXY=http://***@proxy.example:3128" in out)


# -- watch -------------------------------------------------------------------------------------


def start_watch(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "claude_usage", "watch", *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_watch_off_a_terminal_prints_a_line_per_interval(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """One status line per interval (the fake clock moves on at each) and SIGTERM exits 0; the
    data is read again through the cache as the fake hours pass (more than one request)."""
    watcher = start_watch(["--interval", "60"], command_env)
    assert watcher.stdout is not None
    lines = [watcher.stdout.readline().decode() for _ in range(4)]
    watcher.terminate()
    _, err = watcher.communicate(timeout=60)
    assert_no_secrets(*lines, err)
    expected = [
        "5h 48% (2h 14m) | 7d 64% (3d 21h)\n",
        "5h 48% (2h 13m) | 7d 64% (3d 21h)\n",
        "5h 48% (2h 12m) | 7d 64% (3d 21h)\n",
        "5h 48% (2h 11m) | 7d 64% (3d 21h)\n",
    ]
    assert (expected, 0, b"", True) == (lines, watcher.returncode, err, https_server.request_count >= 2)


def read_until(fd: int, wanted: bytes, limit: int = 1 << 20) -> bytes:
    """Bytes from a pseudo-terminal's master until ``wanted`` has appeared (or the child is gone)."""
    seen = b""
    while wanted not in seen and len(seen) < limit:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_watch_on_a_terminal_redraws_in_place_and_restores_it_after_ctrl_c(command_env: dict[str, str]) -> None:
    """Alternate screen and hidden cursor, the default view ticking each second, following a
    resize, then Ctrl-C: the cursor and the screen come back and the exit status is 0."""
    pid, master = pty.fork()
    if pid == 0:  # the child: the pseudo-terminal is its controlling terminal
        os.execve(sys.executable, [sys.executable, "-m", "claude_usage", "watch"], command_env)
    first = read_until(master, b"resets in 2h 13m")
    # A resize: the next frames follow the new width (compact wording, shorter bars).
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    narrow = read_until(master, b" 48% 2h 1")
    os.write(master, b"\x03")
    rest = read_until(master, b"\x1b[?1049l")
    _, wait_status = os.waitpid(pid, 0)
    os.close(master)
    assert_no_secrets(first, narrow, rest)
    screen = first.decode("utf-8", "replace")
    assert (True, True, True, True, True, 0) == (
        screen.startswith("\x1b[?1049h\x1b[?25l\x1b[H5-hour"),
        "resets in 2h 14m" in screen and "resets in 2h 13m" in screen,
        "Ctrl-C to quit" in screen,
        b" 48% 2h 1" in narrow,
        rest.endswith(b"\x1b[?25h\x1b[?1049l"),
        os.waitstatus_to_exitcode(wait_status),
    )


def with_fake_notify_send(env: dict[str, str], tmp_path: Path) -> tuple[dict[str, str], Path]:
    """``env`` with a notify-send first on PATH that appends "title|text" lines to the returned file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sent = tmp_path / "notifications"
    fake = bin_dir / "notify-send"
    fake.write_text(f'#!/bin/sh\nprintf "%s|%s\\n" "$1" "$2" >> {sent}\n')
    fake.chmod(0o755)
    return {**env, "PATH": f"{bin_dir}:{env['PATH']}"}, sent


def test_watch_notifies_once_per_crossing(command_env: dict[str, str], https_server: LoopbackServer, tmp_path: Path) -> None:
    """--notify 80: nothing at 48%, one notify-send when the 5-hour window reads 85%, none while it stays over."""
    https_server.answer = in_turn(respond(200, usage_body(48.0)), respond(200, usage_body(85.0)))
    env, sent = with_fake_notify_send(command_env, tmp_path)
    watcher = start_watch(["--interval", "60", "--notify", "80"], env)
    assert watcher.stdout is not None
    lines = [watcher.stdout.readline().decode() for _ in range(8)]
    watcher.terminate()
    watcher.communicate(timeout=60)
    assert (["5h 48%", "5h 85%"], "claude-usage|5-hour is at 85% (over 80%)\n") == (
        sorted({line[:6] for line in lines}),
        sent.read_text(),
    )


def test_watch_does_not_retry_a_refused_token_every_interval(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """A 401 (which the cache does not back off) is retried once per cache max age (180 s), not
    once per 60 s interval: three error lines or more per request after the first."""
    https_server.answer = respond(401, b'{"type":"error","error":{"type":"authentication_error","message":"Invalid bearer token"}}')
    watcher = start_watch(["--interval", "60"], command_env)
    assert watcher.stderr is not None
    lines = [watcher.stderr.readline().decode() for _ in range(12)]
    watcher.terminate()
    rest = watcher.communicate(timeout=60)[1].decode()
    errors = sum("(401)" in line for line in lines + rest.splitlines())
    requests = https_server.request_count
    assert (True, True, 0) == (requests >= 2, errors >= 3 * (requests - 1), watcher.returncode)


def test_wait_does_not_end_on_stale_data(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Cached data says 3%, but it is stale behind a rate-limit block: wait keeps waiting (24)."""
    https_server.answer = respond(200, usage_body(3.0))
    invoke([], command_env)
    https_server.answer = respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})
    status, _, err = invoke(["wait", "--max", "5h=40", "--timeout", "600"], at(command_env, 200))
    assert (24, True) == (status, err.startswith("claude-usage: timed out after 600 s; no fresh data: rate limited"))


# -- a body with problems (issue 19): what is understood is shown, the rest is named -------------

# The 5-hour window is sent but not understood (a null utilization); the 7-day window is fine.
ODD_WINDOW = {
    "five_hour": {"utilization": None, "resets_at": None},
    "seven_day": {"utilization": 64.0, "resets_at": "2026-03-06T06:00:00.521764+00:00"},
}
ODD_WINDOW_STDERR = "claude-usage: not understood, left out: five_hour.utilization: null\n"
PARSE_HINT = "the usage response is not in a shape this version understands; upgrade claude-usage or report it"


@pytest.mark.parametrize(
    ("path", "expected"),
    [("five_hour", True), ("seven_day", False), ("seven_day_sonnet", True), ("extra_usage.monthly_limit", True), ("extra_usage", True), ("limits", False)],
)
def test_not_understood_matches_a_path_and_the_fields_under_it(path: str, expected: bool) -> None:
    """A path matches itself and its fields, never a longer key it is a prefix of (seven_day vs seven_day_sonnet)."""
    problems = ("five_hour.utilization: null", "seven_day_sonnet: array, expected an object or null", "extra_usage.monthly_limit: string, expected a number")
    assert expected == windows.not_understood(problems, path)


def with_bad_limit() -> dict[str, Any]:
    """with_limits.json with a `limits` entry that has no percent among the good ones."""
    body = json.loads(fixture_body("with_limits.json"))
    body["limits"].insert(2, {"kind": "weekly_scoped", "group": "weekly", "percent": None, "scope": {"model": {"display_name": "Haiku"}}})
    return dict(body)


def test_default_view_marks_a_window_not_understood_as_unknown(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """The window reads "unknown" (no bar) in its place, the rest as usual; stderr names the problem."""
    https_server.answer = respond(200, json.dumps(ODD_WINDOW))
    expected = (
        "5-hour  unknown\n"
        "7-day   ████████████▊░░░░░░░  64%  resets in 3d 21h   45% of time, over pace\n"
        "Plan    Max 5x\n"
    )
    assert (0, expected, ODD_WINDOW_STDERR) == invoke([], command_env)


def test_a_window_not_understood_is_not_an_account_without_windows(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Its "unknown" line counts as a window: no "No usage windows reported" line."""
    https_server.answer = respond(200, json.dumps({"five_hour": None, "seven_day": [1]}))
    expected = "7-day  unknown\nPlan   Max 5x\n"
    assert (0, expected, "claude-usage: not understood, left out: seven_day: array, expected an object or null\n") == invoke([], command_env)


def test_a_limits_entry_stands_in_for_a_window_not_understood(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """As for a null flat key, a `limits` entry with the same label fills the window's row (in its place)."""
    body = json.loads(fixture_body("with_limits.json"))
    body["seven_day"] = {"utilization": "41"}
    https_server.answer = respond(200, json.dumps(body))
    _, out, _ = invoke([], {**command_env, "CLAUDE_USAGE_TEST_NOW": "1784040000"})  # 2026-07-14T14:40:00Z
    assert ["5-hour", "7-day", "7-day Opus", "7-day Sonnet", "Plan"] == [line[:13].rstrip() for line in out.splitlines()]
    assert "7-day         ████████▎░░░░░░░░░░░  41%  resets in 2d 13h   63% of time, on pace" == out.splitlines()[1]


def test_a_limits_entry_not_understood_leaves_the_others(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """The bad entry is left out and named on stderr; the good entries around it are shown."""
    https_server.answer = respond(200, json.dumps(with_bad_limit()))
    status, out, err = invoke([], {**command_env, "CLAUDE_USAGE_TEST_NOW": "1784040000"})
    labels = [line[:13].rstrip() for line in out.splitlines()]
    assert (0, ["5-hour", "7-day", "7-day Opus", "7-day Sonnet", "Plan"], "claude-usage: not understood, left out: limits[2].percent: null\n") == (
        status,
        labels,
        err,
    )


def test_statusline_and_format_of_a_window_not_understood(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Its percent is "?" and its other fields "-"; the status line stays one line on stdout."""
    https_server.answer = respond(200, json.dumps(ODD_WINDOW))
    template = "{five_hour}|{five_hour_reset}|{five_hour_elapsed}|{five_hour_pace}|{five_hour_bar}|{seven_day}|{seven_day_opus}"
    assert [(0, "5h ? | 7d 64% (3d 21h)\n", ODD_WINDOW_STDERR), (0, "?|-|-|-|-|64|-\n", ODD_WINDOW_STDERR)] == [
        invoke(["--statusline"], command_env),
        invoke(["--format", template], command_env),
    ]


def test_a_coloured_statusline_of_a_window_not_understood(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Colour picks a level from the percent: "?" has none and is printed plain."""
    https_server.answer = respond(200, json.dumps(ODD_WINDOW))
    assert (0, "5h ? | 7d \033[33m64%\033[0m (3d 21h)\n") == invoke(["--statusline", "--color", "always"], command_env)[:2]


@pytest.mark.parametrize(
    ("extra_usage", "view", "fields", "problem"),
    [
        (
            {"is_enabled": True, "monthly_limit": "2000", "used_credits": 763.0, "utilization": None},
            "$7.63 of an unknown limit",
            "$7.63|?|?",
            "extra_usage.monthly_limit: string, expected a number",
        ),
        (
            {"is_enabled": True, "monthly_limit": 2000, "used_credits": [763], "utilization": 38.15},
            "unknown of $20.00, 38%",
            "?|$20.00|38",
            "extra_usage.used_credits: array, expected a number",
        ),
        ({"is_enabled": "yes", "monthly_limit": 2000}, "unknown", "?|?|?", "extra_usage.is_enabled: string, expected true, false or null"),
    ],
)
def test_extra_usage_not_understood_is_unknown(
    command_env: dict[str, str], https_server: LoopbackServer, extra_usage: dict[str, Any], view: str, fields: str, problem: str
) -> None:
    """A limit not understood is not "no limit", an amount not 0, an is_enabled not "off"."""
    https_server.answer = respond(200, json.dumps({**ODD_WINDOW, "five_hour": None, "extra_usage": extra_usage}))
    status, out, err = invoke([], command_env)
    (line,) = [line for line in out.splitlines() if line.startswith("Extra usage")]
    formatted = invoke(["--format", "{extra_used}|{extra_limit}|{extra_percent}"], command_env)[1]
    assert (0, f"Extra usage  {view}", f"{fields}\n", f"claude-usage: not understood, left out: {problem}\n") == (status, line, formatted, err)


def test_json_carries_the_problems_on_a_miss_and_on_a_hit(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """`problems` lists them as UsageData.problems does, whether the data was fetched or cached."""
    https_server.answer = respond(200, json.dumps(ODD_WINDOW))
    miss = invoke(["--json"], command_env)
    hit = invoke(["--json"], at(command_env, 10))
    documents = [json.loads(out) for _, out, _ in (miss, hit)]
    assert ([["five_hour.utilization: null"]] * 2, [None, 64.0], [ODD_WINDOW_STDERR] * 2, 1) == (
        [document["problems"] for document in documents],
        [documents[1]["five_hour"]["utilization"], documents[1]["seven_day"]["utilization"]],
        [miss[2], hit[2]],
        https_server.request_count,
    )


def test_json_cache_hit_with_problems_still_loads_nothing_heavy(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """The problems come from the cache file: the real --json hit imports no models or HTTP stack."""
    https_server.answer = respond(200, json.dumps(ODD_WINDOW))
    run([], command_env)
    done = run(["--json"], at(command_env, 10), "-X", "importtime")
    heavy = {"claude_usage.models", "dataclasses", "datetime", *FORBIDDEN_MODULES}
    stderr = [line + "\n" for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert (0, ["five_hour.utilization: null"], [ODD_WINDOW_STDERR], set(), 1) == (
        done.returncode,
        json.loads(done.stdout)["problems"],
        stderr,
        imported_modules(done.stderr) & heavy,
        https_server.request_count,
    )


def test_statusline_cache_hit_with_problems_stays_off_the_http_stack(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """The cached --statusline of a body with problems prints its one line without requests or ssl."""
    https_server.answer = respond(200, json.dumps(ODD_WINDOW))
    run([], command_env)
    done = run(["--statusline"], at(command_env, 10), "-X", "importtime")
    assert (0, "5h ? | 7d 64% (3d 21h)\n", set()) == (done.returncode, done.stdout, imported_modules(done.stderr) & set(FORBIDDEN_MODULES))


@pytest.mark.parametrize("cached", [False, True])
def test_strict_fails_on_problems(command_env: dict[str, str], https_server: LoopbackServer, cached: bool) -> None:
    """--strict exits 11 (Parse) with the first problem, fresh or cached; --json prints the error object."""
    https_server.answer = respond(200, json.dumps(with_bad_limit()))
    if cached:
        invoke([], command_env)
    env = at(command_env, 10)
    message = "limits[2].percent: null"
    error = {"error": {"kind": "Parse", "message": message, "hint": PARSE_HINT, "exit_code": 11}}
    plain = invoke(["--strict"], env)
    as_json = invoke(["--strict", "--json"], env)
    assert ((11, "", f"claude-usage: {message} (hint: {PARSE_HINT})\n"), (11, error), 1) == (
        plain,
        (as_json[0], json.loads(as_json[1])),
        https_server.request_count,
    )


def test_strict_help_names_problems(command_env: dict[str, str]) -> None:
    """The option table says what --strict refuses."""
    assert "--strict              fail instead of showing stale data or data with problems\n" in invoke(["-h"], command_env)[1]


def test_check_of_a_window_not_understood(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Neither over nor under, said so on stderr (exit 0; 20 when another window is over); --strict exits 11."""
    https_server.answer = respond(200, json.dumps(ODD_WINDOW))
    unknown = "claude-usage: 5-hour (5h): sent by the server but not understood, so neither over nor under\n"
    over = "claude-usage: 7-day (7d) is at 64%, over its limit of 50% by 14 points; resets in 3d 21h\n"
    strict = invoke(["check", "--max", "5h=10", "--strict"], command_env)
    as_json = json.loads(invoke(["check", "--max", "5h=10", "--json"], command_env)[1])
    assert [(0, "", unknown + ODD_WINDOW_STDERR), (20, "", unknown + over + ODD_WINDOW_STDERR), 11, (True, False, ["five_hour.utilization: null"])] == [
        invoke(["check", "--max", "5h=10"], command_env),
        invoke(["check", "--max", "5h=10", "--max", "7d=50"], command_env),
        strict[0],
        (as_json["ok"], as_json["windows"][0]["reported"], as_json["problems"]),
    ]


def test_doctor_warns_of_problems_in_the_cached_data(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """The cached data's problems are one warning (exit still 0); clean data gives none."""
    https_server.answer = respond(200, json.dumps(with_bad_limit()))
    invoke([], command_env)
    status, checks = doctor(command_env)
    text = invoke(["doctor"], command_env)[1]
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    invoke(["--no-cache"], at(command_env, 10))
    clean = doctor(at(command_env, 10))[1]
    fix = "upgrade claude-usage, or report the problem lines (they hold no value from the server)"
    assert (0, ("warning", fix), True, None) == (
        status,
        checks.get("data problems"),
        "warning  data problems: not understood, left out: limits[2].percent: null\n" in text,
        clean.get("data problems"),
    )


def test_watch_off_a_terminal_shows_a_window_not_understood(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """watch's status lines mark it "?" like --statusline (no float("?") ends the watch)."""
    https_server.answer = respond(200, json.dumps(ODD_WINDOW))
    watcher = start_watch(["--interval", "60"], command_env)
    assert watcher.stdout is not None
    lines = [watcher.stdout.readline().decode() for _ in range(2)]
    watcher.terminate()
    _, err = watcher.communicate(timeout=60)
    assert_no_secrets(*lines, err)
    assert (["5h ? | 7d 64% (3d 21h)\n"] * 2, 0) == (lines, watcher.returncode)


# -- the command hardens its process before it reads a login (SECURITY.md, "Memory") ---------------

HARDENING_CHILD = r"""
import sys
from claude_usage import cli
status = cli.main(sys.argv[1:])
loaded = "_cffi_backend" in sys.modules
dumpable = -1
if loaded:
    from claude_usage import _native
    dumpable = _native.process_dumpable()
print(status, loaded, dumpable)
"""


def command_process_state(env: dict[str, str]) -> list[str]:
    """Exit status, whether the native module was loaded, and PR_GET_DUMPABLE, from a real process."""
    done = subprocess.run(
        [sys.executable, "-c", HARDENING_CHILD, "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert_no_secrets(done.stdout, done.stderr)
    return done.stdout.splitlines()[-1].split()


@pytest.mark.skipif(sys.platform != "linux", reason="PR_GET_DUMPABLE is Linux's")
def test_command_hardens_itself_before_reading_the_login(command_env: dict[str, str]) -> None:
    """A cache miss reads the login: the process is undumpable by then. A cache hit reads none,
    loads no native code and leaves the process as it was."""
    assert (["0", "True", "0"], ["0", "False", "-1"]) == (
        command_process_state(command_env),
        command_process_state(command_env),
    )


@pytest.mark.skipif(sys.platform != "linux", reason="PR_GET_DUMPABLE is Linux's")
def test_no_hardening_variable_leaves_the_command_dumpable(command_env: dict[str, str]) -> None:
    assert ["0", "True", "1"] == command_process_state({**command_env, "CLAUDE_USAGE_NO_HARDENING": "1"})
