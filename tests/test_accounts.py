"""Several accounts: naming, discovery and labels; every view of the default command with two and
three accounts on the loopback server; and cache entries that never mix two tokens."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from loopback_server import LoopbackServer, respond
from several_accounts import ACCOUNTS, body_with, by_token, make_account, token_of, tokens
import test_cli
from test_cli import at, invoke, run

from claude_usage import cli
from claude_usage import profiles as accounts_module
from claude_usage.profiles import ACCOUNTS_VARIABLE, Account, account_environ, configured_dirs, discover, label
from claude_usage.cache import TOKEN_KEY_FILE, token_account_key
from claude_usage.client import UsageClient
from claude_usage.errors import ConfigurationError


command_env = test_cli.command_env  # the command's fixture: loopback API, fake home, fixed clock


def assert_no_tokens(*texts: str | bytes) -> None:
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        for secret in tokens():
            assert secret.encode() not in data


@pytest.fixture
def two(command_env: dict[str, str], https_server: LoopbackServer, home: Path) -> dict[str, str]:
    """The default profile and a work account, each answered with its own numbers."""
    for name in ("home", "work"):
        make_account(home, name)
    https_server.answer = by_token({"home": respond(200, body_with(11.0, 21.0)), "work": respond(200, body_with(62.0, 72.0))})
    return {**command_env, ACCOUNTS_VARIABLE: os.pathsep.join(str(home / ACCOUNTS[name][0]) for name in ("home", "work"))}


@pytest.fixture
def three(two: dict[str, str], https_server: LoopbackServer, home: Path) -> dict[str, str]:
    make_account(home, "lab")
    assert isinstance(https_server.answer, type(by_token({})))
    https_server.answer.answers["lab"] = respond(200, body_with(93.0, 33.0))
    https_server.answer.counts["lab"] = 0
    return {**two, ACCOUNTS_VARIABLE: two[ACCOUNTS_VARIABLE] + os.pathsep + str(home / ".claude_lab")}


# -- naming accounts --------------------------------------------------------------------------


def test_config_dirs_come_from_arguments_else_the_variable(home: Path) -> None:
    environ = {"HOME": str(home), ACCOUNTS_VARIABLE: f"~/.claude-work{os.pathsep}{os.pathsep}/abs/b{os.pathsep}/abs/b/"}
    assert [f"{home}/.claude-work", "/abs/b"] == configured_dirs([], environ)
    assert ["/x"] == configured_dirs(["/x", "/x/"], environ)
    assert [] == configured_dirs([], {"HOME": str(home)})


@pytest.mark.parametrize("entry", ["relative/dir", "./x", "~other/x"])
def test_relative_config_dir_is_a_configuration_error(entry: str, home: Path) -> None:
    with pytest.raises(ConfigurationError, match="not an absolute directory"):
        configured_dirs([entry], {"HOME": str(home)})


def test_account_environment_drops_what_would_read_another_login(home: Path) -> None:
    environ = {
        "HOME": str(home),
        "USER": "me",
        "CLAUDE_CODE_OAUTH_TOKEN": token_of("home"),
        "CLAUDE_CONFIG_DIR": "/elsewhere",
        "CLAUDE_SECURESTORAGE_CONFIG_DIR": "/storage",
    }
    assert {"HOME": str(home), "USER": "me", "CLAUDE_CONFIG_DIR": "/w"} == account_environ(environ, "/w")
    # ~/.claude named is the default profile: no CLAUDE_CONFIG_DIR, so the plain Keychain item.
    assert {"HOME": str(home), "USER": "me"} == account_environ(environ, f"{home}/.claude/")


def test_labels_email_else_display_name_else_directory(home: Path) -> None:
    work = make_account(home, "work", email="w@example.com", display_name="Worker")
    environ = {"HOME": str(home)}
    assert "w@example.com" == label(str(work), environ)
    assert "Worker" == label(str(work), environ, emails=False)
    (work / ".claude.json").write_text(json.dumps({"oauthAccount": {"displayName": "Only Name"}}))
    assert "Only Name" == label(str(work), environ)
    for broken in ("{", "[]", json.dumps({"oauthAccount": "x"}), json.dumps({"oauthAccount": {"emailAddress": 7}})):
        (work / ".claude.json").write_text(broken)
        assert str(work) == label(str(work), environ)


def test_default_profile_label_comes_from_the_home_directory(home: Path) -> None:
    make_account(home, "home", email="h@example.com")
    assert "h@example.com" == label(str(home / ".claude"), {"HOME": str(home)})


def test_label_file_that_is_a_fifo_does_not_block(home: Path) -> None:
    work = home / ".claude-work"
    work.mkdir()
    os.mkfifo(work / ".claude.json")
    assert str(work) == label(str(work), {"HOME": str(home)})


def test_label_strips_terminal_escapes(home: Path) -> None:
    work = make_account(home, "work", email="evil\x1b]0;owned\x07@example.com")
    assert "\x1b" not in label(str(work), {"HOME": str(home)})


def test_two_directories_of_one_account_are_told_apart(home: Path) -> None:
    make_account(home, "home", email="same@example.com")
    make_account(home, "work", email="same@example.com")
    found = accounts_module.accounts([str(home / ".claude"), str(home / ".claude-work")], environ={"HOME": str(home)})
    assert [f"same@example.com ({home}/.claude)", f"same@example.com ({home}/.claude-work)"] == [a.label for a in found]


def test_discovery_on_linux_finds_directories_with_a_login(home: Path) -> None:
    for name in ("home", "work", "lab"):
        make_account(home, name)
    (home / ".claude-empty").mkdir()  # no login: not an account
    (home / ".claude-file").write_text("not a directory")
    (home / ".claudette").mkdir()  # another prefix
    (home / ".claudette" / ".credentials.json").write_text("{}")
    found = discover(environ={"HOME": str(home)}, platform="linux")
    assert [str(home / ".claude"), str(home / ".claude-work"), str(home / ".claude_lab")] == [a.config_dir for a in found]
    assert ["me@home.example", "me@work.example", "me@lab.example"] == [a.label for a in found]
    assert [("file", str(home / d / ".credentials.json")) for d in (".claude", ".claude-work", ".claude_lab")] == [
        (a.source.kind, a.source.location) for a in found
    ]


def test_discovery_opens_no_login(home: Path) -> None:
    make_account(home, "work")
    login = home / ".claude-work" / ".credentials.json"
    login.unlink()
    os.mkfifo(login)  # opening it to read would block until a writer came: discovery must not
    login.unlink()
    login.symlink_to(home / "nowhere")  # a dangling link is no login either
    assert [str(home / ".claude")] == [a.config_dir for a in discover(environ={"HOME": str(home)}, platform="linux")]
    login.unlink()
    login.write_text("garbage, not a login")  # found all the same: discovery never parses it
    assert [str(home / ".claude"), str(home / ".claude-work")] == [
        a.config_dir for a in discover(environ={"HOME": str(home)}, platform="linux")
    ]


def test_accounts_command_lists_what_it_would_use(two: dict[str, str], home: Path) -> None:
    status, out, _ = invoke(["accounts", "--json"], two)
    assert 0 == status
    document = json.loads(out)
    assert document["configured"] is True
    assert [
        {
            "account": "me@home.example",
            "config_dir": str(home / ".claude"),
            "email": "me@home.example",
            "login": {"kind": "file", "location": str(home / ".claude" / ".credentials.json")},
        },
        {
            "account": "me@work.example",
            "config_dir": str(home / ".claude-work"),
            "email": "me@work.example",
            "login": {"kind": "file", "location": str(home / ".claude-work" / ".credentials.json")},
        },
    ] == document["accounts"]


def test_accounts_command_discovers_and_says_how_to_name_them(command_env: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    for name in ("home", "work"):
        make_account(home, name)
    status, out, _ = invoke(["accounts", "--label-email", "never"], command_env)
    assert 0 == status
    assert "found on this machine" in out
    assert "@" not in out
    assert f"export {ACCOUNTS_VARIABLE}='{home}/.claude{os.pathsep}{home}/.claude-work'" in out
    assert 0 == https_server.request_count


def test_accounts_command_with_nothing_found_exits_3(command_env: dict[str, str], home: Path) -> None:
    (home / ".claude" / ".credentials.json").unlink()
    status, out, _ = invoke(["accounts"], command_env)
    assert (3, True) == (status, "no Claude Code login was found" in out)


# -- the default command, several accounts ----------------------------------------------------


def test_default_view_shows_each_account_under_its_label(three: dict[str, str], https_server: LoopbackServer) -> None:
    status, out, err = invoke([], three)
    assert 0 == status, err
    blocks = out.split("\n\n")
    assert ["me@home.example", "me@work.example", "me@lab.example"] == [block.splitlines()[0] for block in blocks if block.strip()]
    for block, (five, seven) in zip(blocks, ((11, 21), (62, 72), (93, 33)), strict=False):
        assert f"{five}%" in block.splitlines()[1], block
        assert f"{seven}%" in block, block
    assert {"home": 1, "work": 1, "lab": 1} == https_server.answer.counts  # type: ignore[union-attr]
    assert_no_tokens(out, err)


def test_statusline_is_one_line_per_account(two: dict[str, str]) -> None:
    status, out, _ = invoke(["--statusline"], two)
    assert 0 == status
    lines = out.splitlines()
    assert 2 == len(lines)
    assert lines[0].startswith("me@home.example: 5h 11%")
    assert lines[1].startswith("me@work.example: 5h 62%")


def test_format_has_the_account_field(two: dict[str, str]) -> None:
    status, out, _ = invoke(["--format", "{account} {five_hour}/{seven_day}"], two)
    assert (0, "me@home.example 11/21\nme@work.example 62/72\n") == (status, out)


def test_format_account_field_of_a_single_login(command_env: dict[str, str], home: Path) -> None:
    (home / ".claude.json").write_text(json.dumps({"oauthAccount": {"emailAddress": "solo@example.com"}}))
    assert (0, "solo@example.com 48\n") == invoke(["--format", "{account} {five_hour}"], command_env)[:2]


def test_json_of_several_accounts(two: dict[str, str], home: Path) -> None:
    status, out, _ = invoke(["--json"], two)
    assert 0 == status
    document = json.loads(out)
    assert ["me@home.example", "me@work.example"] == [entry["account"] for entry in document["accounts"]]
    assert [str(home / ".claude"), str(home / ".claude-work")] == [entry["config_dir"] for entry in document["accounts"]]
    assert [11.0, 62.0] == [entry["five_hour"]["utilization"] for entry in document["accounts"]]
    assert all(entry["stale"] is False and "fetched_at" in entry for entry in document["accounts"])


def test_one_configured_account_gives_the_usual_document(two: dict[str, str], home: Path) -> None:
    status, out, _ = invoke(["--json", "--config-dir", str(home / ".claude-work")], two)
    assert (0, 62.0) == (status, json.loads(out)["five_hour"]["utilization"])


def test_arguments_win_over_the_variable(two: dict[str, str], home: Path, https_server: LoopbackServer) -> None:
    status, out, _ = invoke(["--format", "{account}", "--config-dir", str(home / ".claude-work")], two)
    assert (0, "me@work.example\n") == (status, out)
    assert {"home": 0, "work": 1} == https_server.answer.counts  # type: ignore[union-attr]


@pytest.mark.parametrize("failure", ["blocked", "logged_out"])
def test_one_failing_account_never_hides_the_others(
    failure: str, three: dict[str, str], https_server: LoopbackServer, home: Path
) -> None:
    answer = https_server.answer
    assert isinstance(answer, type(by_token({})))
    if failure == "blocked":
        answer.answers["work"] = respond(429, b"{}", {"Retry-After": "600"})
        code = 8
    else:
        (home / ".claude-work" / ".credentials.json").unlink()
        code = 3
    status, out, err = invoke(["--json"], three)
    entries = json.loads(out)["accounts"]
    assert code == status
    assert [11.0, 93.0] == [entries[0]["five_hour"]["utilization"], entries[2]["five_hour"]["utilization"]]
    assert code == entries[1]["error"]["exit_code"]
    assert "me@work.example: " in err
    status, out, _ = invoke(["--statusline"], three)
    lines = out.splitlines()
    assert (code, 3) == (status, len(lines))
    assert lines[1].startswith("me@work.example: ? (")
    assert lines[2].startswith("me@lab.example: 5h 93%")
    status, out, _ = invoke([], three)
    assert "me@work.example\nUnavailable: " in out
    assert_no_tokens(out, err)


def test_each_account_has_its_own_cache(three: dict[str, str], https_server: LoopbackServer, home: Path) -> None:
    assert 0 == invoke(["--statusline"], three)[0]
    assert 0 == invoke(["--json"], three)[0]  # within --max-age: nothing sent
    assert {"home": 1, "work": 1, "lab": 1} == https_server.answer.counts  # type: ignore[union-attr]
    # Only the account named alone is refreshed by a forced request; the others stay cached.
    assert 0 == invoke(["--no-cache", "--config-dir", str(home / ".claude_lab"), "--statusline"], at(three, 10))[0]
    assert 0 == invoke(["--statusline"], three)[0]
    assert {"home": 1, "work": 1, "lab": 2} == https_server.answer.counts  # type: ignore[union-attr]


def test_a_blocked_account_is_backed_off_on_its_own(two: dict[str, str], https_server: LoopbackServer) -> None:
    answer = https_server.answer
    assert isinstance(answer, type(by_token({})))
    answer.answers["work"] = respond(429, b"{}", {"Retry-After": "600"})
    for seconds in (0, 10, 20):
        invoke(["--statusline", "--no-cache"], at(two, seconds))
    # home asked every time; work once, then held back by its own block.
    assert {"home": 3, "work": 1} == answer.counts


def test_stdin_numbers_go_only_to_the_account_claude_code_runs_as(two: dict[str, str], home: Path, tmp_path: Path) -> None:
    assert 0 == invoke(["--json"], two)[0]  # fill both caches
    session = tmp_path / "session.json"
    session.write_text(json.dumps({"rate_limits": {"five_hour": {"used_percentage": 99.0}}}))
    # Claude Code runs the status line with its own CLAUDE_CONFIG_DIR: the work account's.
    environ = {**two, "CLAUDE_CONFIG_DIR": str(home / ".claude-work")}
    out, err = io.StringIO(), io.StringIO()
    with open(session, "rb") as stdin:
        status = cli.main(["--format", "{account} {five_hour}"], environ=environ, stdout=out, stderr=err, stdin=stdin.fileno())
    assert (0, "me@home.example 11\nme@work.example 99\n") == (status, out.getvalue())


def test_real_process_shows_two_accounts(two: dict[str, str]) -> None:
    done = run(["--statusline"], two)
    assert 0 == done.returncode, done.stderr
    assert ["me@home.example", "me@work.example"] == [line.split(":")[0] for line in done.stdout.splitlines()]
    assert_no_tokens(done.stdout, done.stderr)


# -- tokens from the environment --------------------------------------------------------------


def test_switching_the_token_within_max_age_shows_each_tokens_own_data(
    command_env: dict[str, str], https_server: LoopbackServer, tmp_path: Path
) -> None:
    https_server.answer = by_token({"home": respond(200, body_with(11.0, 21.0)), "work": respond(200, body_with(62.0, 72.0))})
    first = {**command_env, "CLAUDE_CODE_OAUTH_TOKEN": token_of("home")}
    second = {**command_env, "CLAUDE_CODE_OAUTH_TOKEN": token_of("work")}
    seen = [json.loads(invoke(["--json"], environ)[1])["five_hour"]["utilization"] for environ in (first, second, first, second)]
    assert [11.0, 62.0, 11.0, 62.0] == seen
    assert {"home": 1, "work": 1} == https_server.answer.counts  # each token's entry served the second time
    cache = tmp_path / "cache"
    for path in cache.iterdir():
        assert_no_tokens(path.read_bytes())


def test_token_key_file_is_private_and_hides_the_token(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    first = token_account_key(token_of("home"), str(directory))
    assert first is not None and first.startswith("environment:")
    assert first == token_account_key(token_of("home"), str(directory))
    assert first != token_account_key(token_of("work"), str(directory))
    key = directory / TOKEN_KEY_FILE
    assert 0o600 == stat.S_IMODE(key.stat().st_mode)
    assert 32 == len(key.read_bytes())
    # Another user's key (here: another key altogether) gives other names: nothing to precompute.
    assert first != token_account_key(token_of("home"), str(tmp_path / "other"))
    import hashlib

    assert hashlib.sha256(token_of("home").encode()).hexdigest() not in first


@pytest.mark.parametrize("damage", ["short", "open_to_others", "directory", "symlink"])
def test_unusable_token_key_is_replaced(damage: str, tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    key = directory / TOKEN_KEY_FILE
    if damage == "short":
        key.write_bytes(b"x" * 5)
    elif damage == "open_to_others":
        key.write_bytes(b"k" * 32)
        key.chmod(0o644)
    elif damage == "directory":
        key.mkdir()
    else:
        (tmp_path / "elsewhere").write_bytes(b"k" * 32)
        key.symlink_to(tmp_path / "elsewhere")
    made = token_account_key(token_of("home"), str(directory))
    assert made is not None
    assert stat.S_ISREG(key.lstat().st_mode)
    assert 32 == len(key.read_bytes()) and b"k" * 32 != key.read_bytes()
    assert made == token_account_key(token_of("home"), str(directory))
    assert [TOKEN_KEY_FILE] == sorted(p.name for p in directory.iterdir())  # no temporary left


def test_racing_processes_agree_on_one_key(tmp_path: Path) -> None:
    import multiprocessing

    with multiprocessing.get_context("forkserver").Pool(8) as pool:
        for round_ in range(10):  # a fresh directory each round: the race is over making the key
            directory = str(tmp_path / f"cache-{round_}")
            names = pool.starmap(token_account_key, [(token_of("home"), directory)] * 16)
            assert (1, False) == (len(set(names)), None in names)


def test_no_usable_cache_directory_means_no_cache_for_a_token(
    command_env: dict[str, str], https_server: LoopbackServer, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    environ = {**command_env, "CLAUDE_CODE_OAUTH_TOKEN": token_of("home"), "CLAUDE_USAGE_CACHE_DIR": str(blocker / "cache")}
    https_server.answer = by_token({"home": respond(200, body_with(11.0, 21.0))})
    assert 0 == invoke(["--json"], environ)[0]
    assert 0 == invoke(["--json"], environ)[0]
    assert {"home": 2} == https_server.answer.counts


def test_client_with_config_dir(home: Path, https_server: LoopbackServer, ca_file: str) -> None:
    make_account(home, "work")
    https_server.answer = by_token({"work": respond(200, body_with(62.0, 72.0))})
    environ = {"HOME": str(home), "CLAUDE_CODE_OAUTH_TOKEN": token_of("home"), "CLAUDE_USAGE_CA_BUNDLE": ca_file}
    with UsageClient(https_server.url, environ=environ, config_dir=str(home / ".claude-work")) as client:
        assert 62.0 == client.get_usage().five_hour.utilization  # type: ignore[union-attr]
        assert f"file:{home}/.claude-work/.credentials.json" == client.account_key()
        assert "config_dir=" in repr(client)
    from claude_usage import get_usage

    assert 62.0 == get_usage(api_url=https_server.url, environ=environ, config_dir=home / ".claude-work").five_hour.utilization  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError):
        UsageClient(environ=environ, config_dir="relative")


def test_public_accounts_function(home: Path) -> None:
    import claude_usage

    make_account(home, "work")
    found = claude_usage.accounts(environ={"HOME": str(home)})
    assert all(isinstance(account, Account) for account in found)
    assert [str(home / ".claude"), str(home / ".claude-work")] == [account.config_dir for account in found]


def test_a_single_login_does_not_load_the_accounts_module(command_env: dict[str, str]) -> None:
    """Without accounts named, the cached status line decides so without importing profiles;
    with them, it does (so the check can fail)."""
    from test_cli import imported_modules

    run([], command_env)
    alone = run(["--statusline"], at(command_env, 10), "-X", "importtime")
    named = run(["--statusline", "--config-dir", command_env["HOME"] + "/.claude"], at(command_env, 10), "-X", "importtime")
    assert (False, True) == ("claude_usage.profiles" in imported_modules(alone.stderr), "claude_usage.profiles" in imported_modules(named.stderr))
