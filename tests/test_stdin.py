"""Claude Code's status-line stdin: read within its bounds, shown, bridged into the shared cache,
and what it saves of the rate budget. Real processes and real pipes; time from the fake clock."""

from __future__ import annotations

import io
import json
import os
import pty
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from claude_usage import Observation, UsageClient, cli
from claude_usage.cache import UsageCache, cache_key
from conftest import fixture_body
from loopback_server import LoopbackServer, respond
from test_cli import FORBIDDEN_MODULES, T0, assert_no_secrets, at, command_env, imported_modules, invoke

__all__ = ["command_env"]  # the fixture, shared with test_cli

FIVE_HOUR_RESET = 1_772_449_200  # 2026-03-02T11:00:00Z, the 5-hour reset of pro_max.json (to the second)
SEVEN_DAY_RESET = 1_772_776_800  # 2026-03-06T06:00:00Z
#: Parts of stdin that must never reach the cache or the output (only the numbers may).
PRIVATE = ("SESSION-1234-private", "/home/someone/project-private", "transcript-private.jsonl")


def session_json(five_hour: float = 50.5, seven_day: float = 71.0, **extra: Any) -> bytes:
    """A status-line document as Claude Code writes it (2.1.80+, a subscriber after the first response)."""
    document = {
        "session_id": PRIVATE[0],
        "transcript_path": f"/home/someone/.claude/{PRIVATE[2]}",
        "cwd": PRIVATE[1],
        "model": {"id": "claude-opus-4-5", "display_name": "Opus"},
        "workspace": {"current_dir": PRIVATE[1], "project_dir": PRIVATE[1]},
        "version": "2.1.90",
        "cost": {"total_cost_usd": 1.2345, "total_duration_ms": 45000},
        "context_window": {"used_percentage": 42.4, "context_window_size": 200000},
        "rate_limits": {
            "five_hour": {"used_percentage": five_hour, "resets_at": FIVE_HOUR_RESET},
            "seven_day": {"used_percentage": seven_day, "resets_at": SEVEN_DAY_RESET},
        },
        **extra,
    }
    return json.dumps(document).encode()


def feed(argv: list[str], env: dict[str, str], stdin: bytes | int, *python_options: str) -> subprocess.CompletedProcess[str]:
    """The real command with ``stdin``: bytes through a pipe that is then closed, or a descriptor."""
    done = subprocess.run(
        [sys.executable, *python_options, "-m", "claude_usage", *argv],
        env=env,
        input=stdin if isinstance(stdin, bytes) else None,
        stdin=None if isinstance(stdin, bytes) else stdin,
        capture_output=True,
        timeout=60,  # only detects a hang: the bound itself is 0.1 s
    )
    text = subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())
    assert_no_secrets(text.stdout, text.stderr)
    return text


def cache_file(env: dict[str, str]) -> Path:
    (path,) = Path(env["CLAUDE_USAGE_CACHE_DIR"]).glob("usage-*.json")
    return path


# -- shown and bridged -------------------------------------------------------------------------


def test_statusline_shows_stdins_windows_without_a_request(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """With a fresh cache, --statusline shows stdin's 5-hour and 7-day numbers and sends nothing more."""
    invoke([], command_env)  # the server's 48% and 64%
    done = feed(["--statusline"], at(command_env, 10), session_json(50.5, 71.0))
    assert (0, "5h 50% (2h 13m) | 7d 71% (3d 21h)\n", "", 1) == (done.returncode, done.stdout, done.stderr, https_server.request_count)


def test_observation_is_bridged_for_every_other_reader(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """After one fed render, a reader without stdin (tmux, a dashboard) sees stdin's numbers, marked
    as Claude Code's with their time; the other windows stay the server's, and age is the server data's."""
    invoke([], command_env)
    feed(["--statusline"], at(command_env, 10), session_json(50.0, 65.0))
    status, out, _ = invoke(["--json"], at(command_env, 20))
    document = json.loads(out)
    server = {"source": "server", "observed_at": "2026-03-02T08:46:00+00:00"}
    observed = {"source": "claude_code", "observed_at": "2026-03-02T08:46:10+00:00"}
    assert (
        0,
        {"utilization": 50.0, "resets_at": "2026-03-02T11:00:00+00:00"},
        {"utilization": 65.0, "resets_at": "2026-03-06T06:00:00+00:00"},
        {"five_hour": observed, "seven_day": observed, "seven_day_sonnet": server},
        20,
        1,
    ) == (
        status,
        document["five_hour"],
        document["seven_day"],
        document["sources"],
        document["age_seconds"],
        https_server.request_count,
    )


def test_library_readers_see_the_observation(command_env: dict[str, str], https_server: LoopbackServer, ca_file: str) -> None:
    """get_usage(max_age=...)-style readers of the same cache get the bridged numbers without a request."""
    invoke([], command_env)
    feed(["--statusline"], at(command_env, 10), session_json(50.0, 65.0))
    with UsageClient(environ=command_env, cache=True, clock=lambda: T0 + 30, verify=ca_file) as client:
        usage = client.get_usage(max_age=600)
        assert (50.0, 65.0, 2.0, 1) == (
            usage.five_hour.utilization if usage.five_hour else None,
            usage.seven_day.utilization if usage.seven_day else None,
            usage.seven_day_sonnet.utilization if usage.seven_day_sonnet else None,
            https_server.request_count,
        )


def test_library_observe_feeds_the_cache(command_env: dict[str, str], https_server: LoopbackServer, ca_file: str) -> None:
    """UsageClient.observe, as another status-line tool would call it: no credential read, no
    request; the next reader of the cache (the command) shows the numbers."""
    invoke([], command_env)
    rate_limits = json.loads(session_json(61.0, 72.0))["rate_limits"]
    with UsageClient(environ=command_env, cache=True, clock=lambda: T0 + 5, verify=ca_file) as client:
        taken = client.observe(Observation.from_rate_limits(rate_limits, T0 + 5))
    assert ({"five_hour", "seven_day"}, "61 72\n", 1) == (
        taken,
        invoke(["--format", "{five_hour} {seven_day}"], at(command_env, 10))[1],
        https_server.request_count,
    )


def test_cache_keeps_only_the_numbers_and_stays_private(command_env: dict[str, str]) -> None:
    """The bridged file is 0600 and holds none of stdin's paths, session id, model or cost."""
    invoke([], command_env)
    feed(["--statusline"], at(command_env, 10), session_json())
    path = cache_file(command_env)
    text = path.read_text()
    assert (0o600, [], [], []) == (
        stat.S_IMODE(path.stat().st_mode),
        [part for part in PRIVATE if part in text],
        [word for word in ("Opus", "1.2345", "42.4", "total_cost") if word in text],
        sorted(name for name in os.listdir(path.parent) if name.endswith(".tmp")),
    )


def test_an_older_reading_does_not_overwrite_newer_data(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """An idle session's old numbers (lower than the server's for the same reset, or of a window that
    has already reset) leave the cache as it is; a later, higher reading replaces it."""
    invoke([], command_env)  # the server: 5-hour 48%, 7-day 64%
    feed(["--statusline"], at(command_env, 10), session_json(30.0, 60.0))  # lower: older than the server's
    before = json.loads(invoke(["--json"], at(command_env, 20))[1])
    passed = session_json(rate_limits={"five_hour": {"used_percentage": 99, "resets_at": T0 - 60}})
    shown_passed = feed(["--format", "{five_hour}"], at(command_env, 30), passed).stdout
    feed(["--statusline"], at(command_env, 40), session_json(55.0, 66.0))
    after = json.loads(invoke(["--json"], at(command_env, 50))[1])
    assert (48.0, 64.0, "server", "48\n", 55.0, 66.0, "claude_code") == (
        before["five_hour"]["utilization"],
        before["seven_day"]["utilization"],
        before["sources"]["five_hour"]["source"],
        shown_passed,
        after["five_hour"]["utilization"],
        after["seven_day"]["utilization"],
        after["sources"]["five_hour"]["source"],
    )


def test_a_window_that_has_reset_is_no_news(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """stdin's numbers for a window whose reset has passed (an idle session) are not taken, even
    where the server reported nothing for that window."""
    body = json.loads(fixture_body("pro_max.json"))
    body["five_hour"] = None
    https_server.answer = respond(200, json.dumps(body))
    invoke([], command_env)
    passed = session_json(rate_limits={"five_hour": {"used_percentage": 99, "resets_at": T0 - 60}})
    done = feed(["--format", "{five_hour}"], at(command_env, 10), passed)
    assert (0, "-\n", None) == (done.returncode, done.stdout, json.loads(cache_file(command_env).read_text())["data"]["five_hour"])


def test_observation_older_than_the_fetch_is_not_taken(tmp_path: Path) -> None:
    """UsageCache.observe compares the observation's time with the window's: older is refused."""
    from test_cache import KEY, SOURCE, Clock, Server, make_cache, document

    clock = Clock(T0 + 100)
    cache = make_cache(tmp_path, clock)
    cache.get(KEY, SOURCE, Server())  # fetched at T0 + 100
    older = Observation({"five_hour": (90.0, FIVE_HOUR_RESET, T0 + 50)})
    newer = Observation({"five_hour": (90.0, FIVE_HOUR_RESET, T0 + 150)})
    taken_older = cache.observe(KEY, SOURCE, older)
    held = document(tmp_path)["data"]["five_hour"]  # type: ignore[index]
    taken_newer = cache.observe(KEY, SOURCE, newer)
    written = document(tmp_path)
    assert (set(), 48.0, {"five_hour"}, 90.0, {"five_hour": {"source": "claude_code", "observed_at": T0 + 150}}) == (
        taken_older,
        held["utilization"],
        taken_newer,
        written["data"]["five_hour"]["utilization"],  # type: ignore[index]
        written["observed"],
    )


def test_observation_before_any_fetch_is_not_taken(tmp_path: Path) -> None:
    """Without cached data there is nothing to attach the numbers to (the next request brings all)."""
    cache = UsageCache(tmp_path, clock=lambda: T0)
    assert (set(), []) == (
        cache.observe(cache_key("file:x", "https://example"), "file:x", Observation({"five_hour": (1.0, None, T0)})),
        os.listdir(tmp_path),
    )


def test_older_cache_files_still_load(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """A file written before observations were bridged (no "observed") is a hit, all windows the server's."""
    invoke([], command_env)
    path = cache_file(command_env)
    document = json.loads(path.read_text())
    del document["observed"]
    path.write_text(json.dumps(document))
    out = json.loads(invoke(["--json"], at(command_env, 10))[1])
    assert ("server", 1) == (out["sources"]["five_hour"]["source"], https_server.request_count)


@pytest.mark.parametrize(
    ("rate_limits", "expected"),
    [
        (
            {"five_hour": {"used_percentage": 23, "resets_at": 1738425600}, "seven_day": {"used_percentage": 41.2, "resets_at": 1738857600.5}},
            {"five_hour": (23.0, 1738425600.0, 5.0), "seven_day": (41.2, 1738857600.5, 5.0)},
        ),
        # Unknown windows and other keys are left out; so are windows whose numbers are not numbers.
        (
            {"spend_limit": {"used_percentage": 1}, "seven_day_opus": {"used_percentage": 3, "resets_at": None},
             "five_hour": {"used_percentage": "23"}, "seven_day": {"used_percentage": True}, "seven_day_sonnet": []},
            {"seven_day_opus": (3.0, None, 5.0)},
        ),
        # Milliseconds, negative percentages and non-finite numbers are not epoch seconds / percentages.
        (
            {"five_hour": {"used_percentage": 1, "resets_at": 1738425600000}, "seven_day": {"used_percentage": -1, "resets_at": 1},
             "seven_day_sonnet": {"used_percentage": float("nan"), "resets_at": 1}},
            {},
        ),
        ("not an object", {}),
        (None, {}),
    ],
)
def test_rate_limits_are_parsed_tolerantly(rate_limits: Any, expected: dict[str, Any]) -> None:
    assert expected == Observation.from_rate_limits(rate_limits, 5.0).windows


# -- the --format fields -----------------------------------------------------------------------


TEMPLATE = "{model} | ctx {context}% | {session_cost} | 5h {five_hour}% | 7d {seven_day}% | sonnet {seven_day_sonnet}%"


def test_format_fields_from_stdin(command_env: dict[str, str]) -> None:
    """{model}, {context} and {session_cost} come from stdin; each '-' without it."""
    invoke([], command_env)
    plain = invoke(["--format", TEMPLATE], at(command_env, 10))[1]
    fed = feed(["--format", TEMPLATE], at(command_env, 10), session_json(52.4, 71.0)).stdout
    assert (
        "Opus | ctx 42% | $1.23 | 5h 52% | 7d 71% | sonnet 2%\n",
        "- | ctx -% | - | 5h 48% | 7d 64% | sonnet 2%\n",
    ) == (fed, plain)


def test_context_from_the_current_usage_and_escapes_dropped(command_env: dict[str, str]) -> None:
    """Without used_percentage, the context is the current usage over the window's size; control
    characters of stdin's model name never reach the terminal."""
    invoke([], command_env)
    stdin = session_json(
        model={"display_name": "Opus\x1b[2J"},
        context_window={"context_window_size": 200000, "current_usage": {"input_tokens": 1000, "cache_read_input_tokens": 49000}},
    )
    assert "Opus[2J 25\n" == feed(["--format", "{model} {context}"], at(command_env, 10), stdin).stdout


# -- bad stdin: ignored, within the bound ------------------------------------------------------


BAD_INPUTS = {
    "empty": b"",
    "binary garbage": bytes(range(256)) * 64,
    "huge": b'{"rate_limits": {"five_hour": {"used_percentage": 99, "resets_at": 1772449200}}, "pad": "' + b"x" * (2 << 20) + b'"}',
    "a JSON array": b"[1, 2, 3]",
    "JSON of another shape": b'{"rate_limits": "soon", "model": 3, "cost": [1], "context_window": {"used_percentage": "x"}}',
    "a truncated document": session_json()[:-20],
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_stdin_is_ignored(command_env: dict[str, str], https_server: LoopbackServer, name: str) -> None:
    """Each behaves as without stdin: the server's numbers, no error, no extra request, cache unchanged."""
    invoke([], command_env)
    before = cache_file(command_env).read_bytes()
    done = feed(["--format", "{five_hour} {model} {context} {session_cost}"], at(command_env, 10), BAD_INPUTS[name])
    assert (0, "48 - - -\n", "", 1, before) == (
        done.returncode, done.stdout, done.stderr, https_server.request_count, cache_file(command_env).read_bytes(),
    )


@pytest.mark.parametrize("device", [os.devnull, "/dev/zero"])
def test_devices_are_not_read(command_env: dict[str, str], https_server: LoopbackServer, device: str) -> None:
    """/dev/null (what cron and tmux give) and an endless device are not read: the reader is not imported."""
    invoke([], command_env)
    with open(device, "rb") as null:
        done = feed(["--statusline"], at(command_env, 10), null.fileno(), "-X", "importtime")
    assert (0, "5h 48% (2h 13m) | 7d 64% (3d 21h)\n", 1, False) == (
        done.returncode,
        done.stdout,
        https_server.request_count,
        "claude_usage.cli.stdin" in imported_modules(done.stderr),
    )


def test_a_file_on_stdin_is_read(command_env: dict[str, str], tmp_path: Path) -> None:
    """`claude-usage --statusline < session.json` works like Claude Code's pipe (a test aid for users)."""
    invoke([], command_env)
    path = tmp_path / "session.json"
    path.write_bytes(session_json(50.5, 71.0))
    with path.open("rb") as file:
        assert "5h 50% (2h 13m) | 7d 71% (3d 21h)\n" == feed(["--statusline"], at(command_env, 10), file.fileno()).stdout


def test_a_socket_on_stdin_is_read(command_env: dict[str, str]) -> None:
    """Node (Claude Code) may hand its child a socket pair rather than a pipe."""
    import socket

    invoke([], command_env)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.sendall(session_json(50.5, 71.0))
        ours.shutdown(socket.SHUT_WR)
        done = feed(["--statusline"], at(command_env, 10), theirs.fileno())
    assert "5h 50% (2h 13m) | 7d 71% (3d 21h)\n" == done.stdout


@pytest.mark.parametrize("written", [b"", session_json()])
def test_a_pipe_left_open_is_given_up_on(command_env: dict[str, str], https_server: LoopbackServer, written: bytes) -> None:
    """A writer that never closes (with or without data) costs the bound, then the command goes
    on as without stdin; the generous timeout only detects a hang."""
    invoke([], command_env)
    reader, writer = os.pipe()
    try:
        os.write(writer, written)
        done = feed(["--statusline"], at(command_env, 10), reader)
    finally:
        os.close(reader)
        os.close(writer)
    assert (0, "5h 48% (2h 13m) | 7d 64% (3d 21h)\n", 1) == (done.returncode, done.stdout, https_server.request_count)


def test_a_terminal_on_stdin_is_not_read(command_env: dict[str, str]) -> None:
    """A person's terminal is neither read nor waited for: the stdin reader is not even imported."""
    invoke([], command_env)
    leader, follower = pty.openpty()
    try:
        done = feed(["--statusline"], at(command_env, 10), follower, "-X", "importtime")
    finally:
        os.close(leader)
        os.close(follower)
    assert (0, set()) == (done.returncode, imported_modules(done.stderr) & {"claude_usage.cli.stdin", "select"})


# -- what it costs -----------------------------------------------------------------------------


def test_fed_statusline_imports_no_http_or_native_code(command_env: dict[str, str]) -> None:
    """A status line fed by stdin with a fresh cache (bridging included) stays off requests, urllib3,
    ssl and the C module, and (extra usage being off) off the models and dataclasses too."""
    invoke([], command_env)
    done = feed(["--statusline"], at(command_env, 10), session_json(50.0, 70.0), "-X", "importtime")
    imported = imported_modules(done.stderr)
    heavy = {*FORBIDDEN_MODULES, "claude_usage.models", "dataclasses"}
    assert (0, set(), True) == (done.returncode, imported & heavy, "claude_usage.cli.stdin" in imported)


def render(env: dict[str, str], stdin: bytes | None) -> int:
    """One status-line render in this process; stdin, when given, through a real pipe closed after writing."""
    out, err = io.StringIO(), io.StringIO()
    if stdin is None:
        return cli.main(["--statusline"], environ=env, stdout=out, stderr=err, stdin=-1)
    reader, writer = os.pipe()
    try:
        os.write(writer, stdin)
        os.close(writer)
        return cli.main(["--statusline"], environ=env, stdout=out, stderr=err, stdin=reader)
    finally:
        os.close(reader)


def an_hour_of_renders(env: dict[str, str], fed: bool, start: int = 0) -> list[int]:
    """3,600 renders, one a second by the fake clock; stdin's 5-hour percentage creeps up."""
    return [render(at(env, start + second), session_json(48.0 + second / 360, 64.0) if fed else None) for second in range(3600)]


def test_an_hour_of_renders_with_stdin_costs_at_most_four_requests(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """From an empty cache: the first render fetches, then the rest is refreshed every --rest-max-age (900 s)."""
    statuses = an_hour_of_renders(command_env, fed=True)
    assert ({0}, 4) == (set(statuses), https_server.request_count)


def test_an_hour_of_renders_without_stdin_keeps_todays_rate(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Without stdin nothing changes: one request per --max-age (180 s), 20 in the hour."""
    statuses = an_hour_of_renders(command_env, fed=False)
    assert ({0}, 20) == (set(statuses), https_server.request_count)


def test_renders_cost_nothing_while_the_cache_holds_the_rest(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """When another reader has just fetched, a session's renders send no request for --rest-max-age."""
    invoke([], command_env)
    statuses = [render(at(command_env, second), session_json(48.0, 64.0)) for second in range(1, 900)]
    assert ({0}, 1) == (set(statuses), https_server.request_count)


def test_without_both_windows_on_stdin_the_usual_max_age_holds(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Only the 5-hour window on stdin does not keep the 7-day current: the rest is refreshed at --max-age."""
    invoke([], command_env)
    only_five = session_json(rate_limits={"five_hour": {"used_percentage": 50, "resets_at": FIVE_HOUR_RESET}})
    render(at(command_env, 200), only_five)
    assert 2 == https_server.request_count


def test_rest_max_age_option(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """--rest-max-age sets how long the rest lasts while stdin keeps both windows current: past
    --max-age but under it, nothing is sent; past it, the rest is fetched."""
    invoke([], command_env)
    counts = []
    for second in (250, 400):
        reader, writer = os.pipe()
        os.write(writer, session_json(50.0, 70.0))
        os.close(writer)
        try:
            argv = ["--statusline", "--rest-max-age", "300"]
            cli.main(argv, environ=at(command_env, second), stdout=io.StringIO(), stderr=io.StringIO(), stdin=reader)
        finally:
            os.close(reader)
        counts.append(https_server.request_count)
    assert [1, 2] == counts


LIGHT_CASES = {
    "pro_max": json.loads(fixture_body("pro_max.json")),
    "extra usage off": {**json.loads(fixture_body("pro_max.json")), "extra_usage": None},
    "only 7-day, no reset time": {"seven_day": {"utilization": 64, "resets_at": None}},
    "a passed reset, Z form": {"five_hour": {"utilization": 100.0, "resets_at": "2026-03-02T08:00:00Z"}, "seven_day": None},
    "an offset": {"five_hour": {"utilization": 12.5, "resets_at": "2026-03-02T12:00:00.5+01:00"}},
}


@pytest.mark.parametrize("name", list(LIGHT_CASES))
@pytest.mark.parametrize("stale", [False, True])
def test_light_statusline_matches_the_full_one(name: str, stale: bool) -> None:
    """The model-free --statusline prints exactly what the one built from UsageData prints."""
    from datetime import datetime, timezone

    from claude_usage.cache import CacheResult
    from claude_usage.cli import render
    from claude_usage.errors import NetworkError

    result = CacheResult(LIGHT_CASES[name], T0 - 75, T0, NetworkError("down") if stale else None)
    style = render.Style(False, True, 80)
    usage = result.usage
    assert usage is not None
    full = render.statusline(usage, render.fields(usage, result, datetime.fromtimestamp(T0, timezone.utc), style), style)
    assert full == render.light_statusline(result, style)


@pytest.mark.parametrize(
    "data",
    [
        {**json.loads(fixture_body("pro_max.json")), "extra_usage": {"is_enabled": True, "monthly_limit": 2000, "used_credits": 7}},
        {"five_hour": {"utilization": "48", "resets_at": None}},
        {"five_hour": {"utilization": 48, "resets_at": "tomorrow"}},
        {"seven_day_opus": {"utilization": 3, "resets_at": None}},
    ],
)
def test_light_statusline_leaves_what_needs_the_models(data: dict[str, Any]) -> None:
    """Extra usage that is on, odd shapes and accounts without 5-hour/7-day windows take the full path."""
    from claude_usage.cache import CacheResult
    from claude_usage.cli import render

    assert render.light_statusline(CacheResult(data, T0, T0), render.Style(False, True, 80)) is None
