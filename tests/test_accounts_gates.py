"""check, wait, watch and doctor with several accounts (issue 17), against a real HTTPS server on
loopback that answers each account's token with that account's body and counts its requests."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from claude_usage import cli
from claude_usage.errors import CredentialsNotFoundError, RateLimitedError
from loopback_server import LoopbackServer, respond
from several_accounts import body_with, by_token, make_account, tokens
import test_cli
from test_cli import RATE_LIMIT_BODY, Terminal, at, in_turn, with_fake_notify_send

#: test_cli's environment (fake home, loopback API, test CA, own cache, fixed clock), as this module's fixture.
command_env = test_cli.command_env

HOME, WORK, LAB = "me@home.example", "me@work.example", "me@lab.example"


def assert_no_tokens(*texts: str | bytes) -> None:
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        assert [] == [secret for secret in tokens() if secret.encode() in data]


def invoke(argv: list[str], env: dict[str, str], stderr: io.StringIO | None = None, stdout: io.StringIO | None = None) -> tuple[int, str, str]:
    """cli.main in this process: (exit status, stdout, stderr), with no account's token in either."""
    out = io.StringIO() if stdout is None else stdout
    err = io.StringIO() if stderr is None else stderr
    status = cli.main(argv, environ=env, stdout=out, stderr=err)
    assert_no_tokens(out.getvalue(), err.getvalue())
    return status, out.getvalue(), err.getvalue()


def named(home: Path, *names: str) -> list[str]:
    """Each account made under ``home``, as the --config-dir options that name them."""
    return [option for name in names for option in ("--config-dir", str(make_account(home, name)))]


def answer_each(https_server: LoopbackServer, answers: dict[str, object]) -> dict[str, int]:
    """The server answers each account's token with its answer; returns the live request counts."""
    handler = by_token(answers)  # type: ignore[arg-type]
    https_server.answer = handler
    return handler.counts


# -- check -------------------------------------------------------------------------------------


def test_check_names_the_account_that_is_over(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    """Three accounts, one over: exit 20, its line after its label, one request per account."""
    counts = answer_each(
        https_server, {"home": respond(200, body_with(30, 40)), "work": respond(200, body_with(90, 40)), "lab": respond(200, body_with(10, 10))}
    )
    result = invoke(["check", "--max", "5h=80", *named(home, "home", "work", "lab")], command_env)
    expected = (20, "", f"claude-usage: {WORK}: 5-hour (5h) is at 90%, over its limit of 80% by 10 points; resets in 2h 14m\n")
    assert (expected, {"home": 1, "work": 1, "lab": 1}) == (result, counts)


def test_check_of_accounts_all_under_exits_0_quietly(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    answer_each(https_server, {"home": respond(200, body_with(30, 40)), "work": respond(200, body_with(50, 60))})
    assert (0, "", "") == invoke(["check", "--max", "5h=80", "--max", "7d=60", *named(home, "home", "work")], command_env)


def test_check_of_one_account_named_is_the_single_account_check(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    """One --config-dir: no label on the lines, and that account's own data judged."""
    counts = answer_each(https_server, {"home": respond(200, body_with(10, 10)), "work": respond(200, body_with(90, 40))})
    make_account(home, "home")
    result = invoke(["check", "--max", "5h=80", *named(home, "work")], command_env)
    expected = (20, "", "claude-usage: 5-hour (5h) is at 90%, over its limit of 80% by 10 points; resets in 2h 14m\n")
    assert (expected, {"home": 0, "work": 1}) == (result, counts)


def test_a_blocked_account_never_hides_the_others_verdicts(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    """work is rate limited: home over still exits 20; home under exits with the 429's status."""
    over = answer_each(https_server, {"home": respond(200, body_with(90, 40)), "work": respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})})
    status, out, err = invoke(["check", "--max", "5h=80", *named(home, "home", "work")], command_env)
    lines = err.splitlines()
    assert (20, "", 2, f"claude-usage: {HOME}: 5-hour (5h) is at 90%", f"claude-usage: {WORK}: rate limited") == (
        status, out, len(lines), lines[0][: len(f"claude-usage: {HOME}: 5-hour (5h) is at 90%")], lines[1][: len(f"claude-usage: {WORK}: rate limited")]
    )
    assert {"home": 1, "work": 1} == over
    # Another cache: home's data is new, work is still refused.
    other = {**command_env, "CLAUDE_USAGE_CACHE_DIR": command_env["CLAUDE_USAGE_CACHE_DIR"] + "-other"}
    answer_each(https_server, {"home": respond(200, body_with(30, 40)), "work": respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})})
    status, _, err = invoke(["check", "--max", "5h=80", *named(home, "home", "work")], other)
    assert (RateLimitedError.exit_code, True) == (status, err.startswith(f"claude-usage: {WORK}: rate limited"))


def test_a_logged_out_account_never_hides_the_others_verdicts(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    """lab has no credentials file: home and work are judged; exit 20 when one is over, else lab's status."""
    counts = answer_each(https_server, {"home": respond(200, body_with(30, 40)), "work": respond(200, body_with(90, 40))})
    options = named(home, "home", "work", "lab")
    (home / ".claude_lab" / ".credentials.json").unlink()
    over = invoke(["check", "--max", "5h=80", *options], command_env)
    under = invoke(["check", "--max", "5h=95", *options], at(command_env, 60))
    lab_line = f"claude-usage: {LAB}: "
    assert (20, True, CredentialsNotFoundError.exit_code, True) == (
        over[0],
        f"claude-usage: {WORK}: 5-hour (5h) is at 90%" in over[2] and lab_line in over[2],
        under[0],
        under[2].startswith(lab_line),
    )
    assert {"home": 1, "work": 1} == counts


def test_check_json_of_several_accounts(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    """accounts_document: per account its label, directory and check document (or its error),
    and "ok" at the top: false since one account failed."""
    answer_each(https_server, {"home": respond(200, body_with(30, 40)), "work": respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})})
    status, out, _ = invoke(["check", "--max", "5h=80", "--json", *named(home, "home", "work")], command_env)
    document = json.loads(out)
    home_doc, work_doc = document["accounts"]
    assert (RateLimitedError.exit_code, ["ok", "accounts"], False) == (status, list(document), document["ok"])
    assert (HOME, str(home / ".claude"), True, [("five_hour", 30.0, False)], False) == (
        home_doc["account"],
        home_doc["config_dir"],
        home_doc["ok"],
        [(window["window"], window["utilization"], window["over"]) for window in home_doc["windows"]],
        home_doc["stale"],
    )
    assert (WORK, str(home / ".claude-work"), "RateLimited", False) == (
        work_doc["account"], work_doc["config_dir"], work_doc["error"]["kind"], "windows" in work_doc
    )


def test_check_json_is_ok_when_every_account_is_under(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    answer_each(https_server, {"home": respond(200, body_with(30, 40)), "work": respond(200, body_with(20, 40))})
    status, out, _ = invoke(["check", "--max", "5h=80", "--json", *named(home, "home", "work")], command_env)
    document = json.loads(out)
    assert (0, True, [True, True]) == (status, document["ok"], [account["ok"] for account in document["accounts"]])


def test_check_strict_applies_to_each_account(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    """A window no account reports is no failure, but with --strict it fails the gate (20)."""
    answer_each(https_server, {"home": respond(200, body_with(30, 40)), "work": respond(200, body_with(20, 40))})
    options = ["check", "--max", "seven_day_opus=50", *named(home, "home", "work")]
    lenient, strict = invoke(options, command_env), invoke([*options, "--strict"], command_env)
    line = "7-day Opus (seven_day_opus): not reported by the server, so neither over nor under\n"
    expected_err = f"claude-usage: {HOME}: {line}claude-usage: {WORK}: {line}"
    assert [(0, "", expected_err), (20, "", expected_err)] == [lenient, strict]


def test_each_account_is_served_by_its_own_cache_entry(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    """A second run within the max age sends nothing; past it, one request per account again."""
    counts = answer_each(https_server, {"home": respond(200, body_with(30, 40)), "work": respond(200, body_with(90, 40))})
    options = ["check", "--max", "5h=80", *named(home, "home", "work")]
    seen = []
    for seconds in (0, 60, 200):
        assert 20 == invoke(options, at(command_env, seconds))[0]
        seen.append(dict(counts))
    assert [{"home": 1, "work": 1}, {"home": 1, "work": 1}, {"home": 2, "work": 2}] == seen


# -- wait --------------------------------------------------------------------------------------


def test_wait_ends_when_every_account_is_under(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    """home is over until its 5-hour reset: one sleep to 11:00 plus the margin (the fake clock),
    then both accounts are read again (their cache entries have aged) and the wait ends."""
    counts = answer_each(
        https_server,
        {"home": in_turn(respond(200, body_with(48, 40)), respond(200, body_with(3, 40))), "work": respond(200, body_with(10, 40))},
    )
    status, out, err = invoke(["wait", "--max", "5h=40", *named(home, "home", "work")], command_env, stderr=Terminal())
    progress = (
        f"claude-usage: {HOME}: 5-hour (5h) is at 48%, over its limit of 40% by 8 points; resets in 2h 14m\n"
        "claude-usage: waiting 2h 15m before checking again\n"
    )
    assert (0, "", progress, {"home": 2, "work": 2}) == (status, out, err, counts)


def test_wait_returns_at_once_when_every_account_is_under(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    counts = answer_each(https_server, {"home": respond(200, body_with(30, 40)), "work": respond(200, body_with(10, 40))})
    assert ((0, "", ""), {"home": 1, "work": 1}) == (invoke(["wait", "--max", "5h=40", *named(home, "home", "work")], command_env), counts)


def test_wait_sleeps_to_the_earliest_reset_and_times_out_naming_the_account_still_over(
    command_env: dict[str, str], home: Path, https_server: LoopbackServer
) -> None:
    """home's 5-hour window resets first, work's 7-day one in days: the first sleep is to home's
    reset; home is then under, and work's reset lies past --timeout: exit 24 naming work only."""
    counts = answer_each(
        https_server,
        {"home": in_turn(respond(200, body_with(48, 40)), respond(200, body_with(3, 40))), "work": respond(200, body_with(10, 70))},
    )
    argv = ["wait", "--max", "5h=40", "--max", "7d=60", "--timeout", "10800", *named(home, "home", "work")]
    status, out, err = invoke(argv, command_env, stderr=Terminal())
    lines = err.splitlines()
    assert (24, "", "claude-usage: waiting 2h 15m before checking again", {"home": 2, "work": 2}) == (status, out, lines[2], counts)
    assert re.fullmatch(rf"claude-usage: timed out after 10800 s; {WORK} still over: seven_day at 70% \(hint: .+\)", lines[-1])


def test_wait_does_not_end_on_an_accounts_stale_data(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    """home's cached 3% is stale behind a rate-limit block: it may have filled since, so the wait
    goes on (and times out naming it), while work's fresh data is under."""
    options = named(home, "home", "work")
    answer_each(https_server, {"home": respond(200, body_with(3, 40)), "work": respond(200, body_with(3, 40))})
    invoke(options, command_env)
    answer_each(https_server, {"home": respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"}), "work": respond(200, body_with(3, 40))})
    status, _, err = invoke(["wait", "--max", "5h=40", "--timeout", "600", *options], at(command_env, 200))
    assert (24, True) == (status, err.startswith(f"claude-usage: timed out after 600 s; {HOME} has no fresh data: rate limited"))


def test_wait_ends_with_the_error_of_an_account_without_data(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    """A logged-out account can never be judged under: its error (and exit status) ends the wait."""
    answer_each(https_server, {"home": respond(200, body_with(30, 40))})
    options = named(home, "home", "work")
    (home / ".claude-work" / ".credentials.json").unlink()
    status, _, err = invoke(["wait", "--max", "5h=40", *options], command_env)
    assert (CredentialsNotFoundError.exit_code, True) == (status, err.startswith(f"claude-usage: {WORK}: "))


# -- watch -------------------------------------------------------------------------------------


def start_watch(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "claude_usage", "watch", *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_watch_off_a_terminal_prints_a_line_per_account_per_interval(
    command_env: dict[str, str], home: Path, https_server: LoopbackServer, tmp_path: Path
) -> None:
    """Each interval one status line per account after its label; --notify names the account
    that crossed; SIGTERM exits 0."""
    answer_each(https_server, {"home": respond(200, body_with(30, 40)), "work": respond(200, body_with(90, 40))})
    env, sent = with_fake_notify_send(command_env, tmp_path)
    watcher = start_watch(["--interval", "60", "--notify", "80", *named(home, "home", "work")], env)
    assert watcher.stdout is not None
    lines = [watcher.stdout.readline().decode() for _ in range(4)]
    watcher.terminate()
    _, err = watcher.communicate(timeout=60)
    assert_no_tokens(*lines, err)
    expected = [
        f"{HOME}: 5h 30% (2h 14m) | 7d 40% (3d 21h)\n",
        f"{WORK}: 5h 90% (2h 14m) | 7d 40% (3d 21h)\n",
        f"{HOME}: 5h 30% (2h 13m) | 7d 40% (3d 21h)\n",
        f"{WORK}: 5h 90% (2h 13m) | 7d 40% (3d 21h)\n",
    ]
    assert (expected, 0, b"", f"claude-usage|{WORK}: 5-hour is at 90% (over 80%)\n") == (lines, watcher.returncode, err, sent.read_text())


def test_watch_off_a_terminal_gives_a_failing_account_its_line(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    """A rate-limited account without data is a "?" line of its own; the other's line goes on."""
    answer_each(https_server, {"home": respond(200, body_with(30, 40)), "work": respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})})
    watcher = start_watch(["--interval", "60", *named(home, "home", "work")], command_env)
    assert watcher.stdout is not None
    lines = [watcher.stdout.readline().decode() for _ in range(2)]
    watcher.terminate()
    watcher.communicate(timeout=60)
    assert [f"{HOME}: 5h 30% (2h 14m) | 7d 40% (3d 21h)\n", f"{WORK}: ? (rate limited (429))\n"] == lines


class Frames(Terminal):
    """A terminal that ends the watch (as Ctrl-C does) once it has shown ``frames`` frames."""

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.left = frames

    def write(self, text: str) -> int:
        written = super().write(text)
        if text.startswith("\x1b[H"):
            self.left -= 1
            if self.left == 0:
                raise KeyboardInterrupt
        return written


def test_watch_on_a_terminal_shows_each_account_under_its_heading(
    command_env: dict[str, str], home: Path, https_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # the test process keeps its own SIGTERM handler
    answer_each(https_server, {"home": respond(200, body_with(30, 40)), "work": respond(200, body_with(90, 40))})
    screen = Frames(2)
    status, out, _ = invoke(["watch", *named(home, "home", "work")], {**command_env, "NO_COLOR": "1"}, stdout=screen)
    frame = out.split("\x1b[H")[1].replace("\x1b[K", "")
    blocks = [block.splitlines() for block in frame.split("\n\n")]
    five_hours = [re.search(r"\d+%  resets in \S+ \S+", block[1]) for block in blocks[:2]]
    assert (0, [(HOME, "data from 0s ago"), (WORK, "data from 0s ago")], ["30%  resets in 2h 14m", "90%  resets in 2h 14m"], ["Ctrl-C to quit", "\x1b[J"]) == (
        status,
        [(block[0], block[-1]) for block in blocks[:2]],
        [found and found.group() for found in five_hours],
        blocks[2],
    )


# -- doctor ------------------------------------------------------------------------------------


def steps(checks: list[dict[str, object]]) -> dict[object, object]:
    return {check["step"]: check["status"] for check in checks}


def test_doctor_gives_each_account_its_own_section(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    """Each account's login, cache entry and block are its own: work's block, lab's missing
    login; what they share is checked once. Exit 1: lab's doctor failed."""
    answer_each(https_server, {"home": respond(200, body_with(30, 40)), "work": respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})})
    options = named(home, "home", "work", "lab")
    invoke([*options], command_env)  # fills home's entry and puts work behind a block
    (home / ".claude_lab" / ".credentials.json").unlink()
    status, out, _ = invoke(["doctor", "--json", *options], at(command_env, 60))
    document = json.loads(out)
    sections = {account["account"]: steps(account["checks"]) for account in document["accounts"]}
    shared = steps(document["checks"])
    assert (1, False, [True, True, False]) == (status, document["ok"], [account["ok"] for account in document["accounts"]])
    assert ("ok", "warning", "ok") == (sections[HOME]["rate-limit block"], sections[WORK]["rate-limit block"], sections[LAB]["rate-limit block"])
    assert ("ok", "ok", "failed") == (sections[HOME]["credential file"], sections[WORK]["credential file"], sections[LAB]["credential file"])
    assert (False, True, True) == ("memory" in sections[HOME], "memory" in shared, "trust store" in shared)


def test_doctor_text_has_a_heading_per_account(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    answer_each(https_server, {"home": respond(200, body_with(30, 40)), "work": respond(200, body_with(30, 40))})
    status, out, _ = invoke(["doctor", *named(home, "home", "work")], command_env)
    headings = [line for line in out.splitlines() if line and not line.startswith(("ok ", "warning ", "failed ", " "))]
    assert (0, [HOME, WORK, "every account"], True) == (
        status,
        headings,
        f"ok       credential file: {home}/.claude-work/.credentials.json, mode 0600" in out,
    )


def test_doctor_of_one_account_named_is_the_single_account_doctor(command_env: dict[str, str], home: Path) -> None:
    """The same steps, in the same order, as without --config-dir; the directory is that account's."""
    plain = json.loads(invoke(["doctor", "--json"], command_env)[1])
    status, out, _ = invoke(["doctor", "--json", *named(home, "work")], command_env)
    one = json.loads(out)
    directory = {check["step"]: check["detail"] for check in one["checks"]}["configuration directory"]
    assert (0, [check["step"] for check in plain["checks"]], True) == (
        status, [check["step"] for check in one["checks"]], directory.startswith(f"CLAUDE_CONFIG_DIR={home}/.claude-work;")
    )
