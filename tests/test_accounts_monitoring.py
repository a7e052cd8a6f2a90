"""`metrics`, `serve` and `history` with several accounts, against the loopback server answering
each account's token with that account's own numbers (several_accounts.by_token)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import several_accounts
from loopback_server import LoopbackServer, never_answer, respond
from several_accounts import ByToken, body_with, by_token, make_account, token_of
from test_cli import RATE_LIMIT_BODY, T0, at, command_env, invoke, run
from test_metrics import OPENMETRICS, PROMTOOL, Served, samples

# Fixtures shared with test_cli, which pytest finds by their names in this module.
SHARED_FIXTURES = (command_env,)

#: Each account's (5-hour, 7-day) utilization, so a number under the wrong label shows.
NUMBERS = {"home": (10.0, 20.0), "work": (30.0, 40.0), "lab": (50.0, 60.0)}
EMAILS = {name: email for name, (_directory, email) in several_accounts.ACCOUNTS.items()}


def assert_no_tokens(*texts: str) -> None:
    for text in texts:
        for secret in several_accounts.tokens():
            assert secret not in text


class Accounts:
    """The three accounts in the fake home, their environment and the per-token answers."""

    def __init__(self, env: dict[str, str], dirs: dict[str, Path], upstream: ByToken) -> None:
        self.env = env
        self.dirs = dirs
        self.upstream = upstream

    def argv(self, *names: str) -> list[str]:
        return [argument for name in names for argument in ("--config-dir", str(self.dirs[name]))]


@pytest.fixture
def accounts(command_env: dict[str, str], home: Path, https_server: LoopbackServer, tmp_path: Path) -> Accounts:
    dirs = {name: make_account(home, name) for name in NUMBERS}
    upstream = by_token({name: respond(200, body_with(*numbers)) for name, numbers in NUMBERS.items()})
    https_server.answer = upstream
    return Accounts({**command_env, "CLAUDE_USAGE_STATE_DIR": str(tmp_path / "state")}, dirs, upstream)


def checked(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    status, out, err = invoke(argv, env)
    assert_no_tokens(out, err)
    return status, out, err


def used(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, window: str) -> float:
    return found[("claude_usage_window_used_ratio", (("account", EMAILS[name]), ("window", window)))]


def up(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return found[("claude_usage_up", (("account", EMAILS[name]),))]


# -- metrics -----------------------------------------------------------------------------------


@pytest.mark.parametrize("names", [("home", "work"), ("home", "work", "lab")])
def test_metrics_has_each_accounts_numbers_under_its_label(accounts: Accounts, names: tuple[str, ...]) -> None:
    status, out, err = checked(["metrics", *accounts.argv(*names)], accounts.env)
    found = samples(out)
    expected = {
        name: (1.0, NUMBERS[name][0] / 100, NUMBERS[name][1] / 100, 1.0, float(T0)) for name in names
    }
    assert (0, "", expected, {name: 1 for name in names}) == (
        status,
        err,
        {
            name: (
                up(found, name),
                used(found, name, "five_hour"),
                used(found, name, "seven_day"),
                found[("claude_usage_info", (("account", EMAILS[name]), ("plan", "max"), ("rate_limit_tier", "default_claude_max_5x"), ("version", _version())))],
                found[("claude_usage_last_success_timestamp_seconds", (("account", EMAILS[name]),))],
            )
            for name in names
        },
        {name: accounts.upstream.counts[name] for name in names},
    )
    # Every sample carries an account label, and only the accounts named.
    assert {dict(labels).get("account") for _name, labels in found} == {EMAILS[name] for name in names}


def _version() -> str:
    from claude_usage import __version__

    return __version__


@pytest.mark.parametrize("failure", ["blocked", "logged out"])
def test_one_account_failing_is_up_0_while_the_others_export(accounts: Accounts, failure: str, tmp_path: Path) -> None:
    """The failing account: up 0 and its error's kind; the others' numbers are all there; the
    file is written whole, and the exit status is the failing account's."""
    if failure == "blocked":
        accounts.upstream.answers["work"] = respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})
        kind, code = "RateLimited", 8
    else:
        (accounts.dirs["work"] / ".credentials.json").unlink()
        kind, code = "NotFound", 3
    target = tmp_path / "usage.prom"
    status, out, err = checked(["metrics", "--write", str(target), *accounts.argv("home", "work", "lab")], accounts.env)
    text = target.read_text()
    found = samples(text)
    assert (code, "", True) == (status, out, text.endswith("# EOF\n"))
    assert (0.0, 1.0, 1.0, 0.1, 0.5, False) == (
        up(found, "work"),
        found[("claude_usage_error_info", (("account", EMAILS["work"]), ("kind", kind)))],
        up(found, "home"),
        used(found, "home", "five_hour"),
        used(found, "lab", "five_hour"),
        any(dict(labels).get("account") == EMAILS["work"] and name == "claude_usage_window_used_ratio" for name, labels in found),
    )
    assert err.startswith(f"claude-usage: {EMAILS['work']}: "), err


def test_a_blocked_account_shows_its_block_and_is_not_asked_again(accounts: Accounts) -> None:
    """A 429 with Retry-After: that account's blocked_until is the block's end and the next run
    within it sends that account nothing, while the others are still read from their caches."""
    accounts.upstream.answers["work"] = respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})
    checked(["metrics", *accounts.argv("home", "work")], accounts.env)
    later = at(accounts.env, 600)  # past the default max age: home fetches again, work is blocked
    _, out, _ = checked(["metrics", *accounts.argv("home", "work")], later)
    found = samples(out)
    blocked = lambda name: found[("claude_usage_blocked_until_timestamp_seconds", (("account", EMAILS[name]),))]  # noqa: E731
    assert ({"home": 2, "work": 1}, True, 0.0) == (
        {name: accounts.upstream.counts[name] for name in ("home", "work")},
        blocked("work") >= T0 + 3600,  # the Retry-After, or more (the cache's backoff may add to it)
        blocked("home"),
    )


def test_requests_per_account_are_bounded_by_each_accounts_cache(accounts: Accounts) -> None:
    """Three runs within the max age: one request per account; past it, one more each."""
    argv = ["metrics", *accounts.argv("home", "work", "lab")]
    for seconds in (0, 10, 60):
        checked(argv, at(accounts.env, seconds))
    within = dict(accounts.upstream.counts)
    checked(argv, at(accounts.env, 600))
    assert ({"home": 1, "work": 1, "lab": 1}, {"home": 2, "work": 2, "lab": 2}) == (within, accounts.upstream.counts)


def test_account_label_with_several_accounts_is_a_usage_error(accounts: Accounts, https_server: LoopbackServer) -> None:
    status, out, err = checked(["metrics", "--account-label", "x", *accounts.argv("home", "work")], accounts.env)
    assert (2, "", 0) == (status, out, https_server.request_count)
    assert "--account-label names a single account" in err


def test_one_named_account_is_labelled_with_its_label_or_the_given_one(accounts: Accounts) -> None:
    own = samples(checked(["metrics", *accounts.argv("work")], accounts.env)[1])
    given = samples(checked(["metrics", "--account-label", "mine", *accounts.argv("work")], accounts.env)[1])
    assert ({EMAILS["work"]}, {"mine"}, 0.3) == (
        {dict(labels).get("account") for _name, labels in own},
        {dict(labels).get("account") for _name, labels in given},
        used(own, "work", "five_hour"),
    )


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian: apt-get install prometheus)")
@pytest.mark.parametrize("case", ["two", "three", "three, one blocked"])
def test_promtool_accepts_several_accounts(accounts: Accounts, case: str) -> None:
    """One HELP and TYPE per family and no duplicate series, in both formats, from the real command."""
    names = ("home", "work") if case == "two" else ("home", "work", "lab")
    if case.endswith("blocked"):
        accounts.upstream.answers["lab"] = respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})
    prometheus = run(["metrics", "--prometheus", *accounts.argv(*names)], accounts.env)
    openmetrics = run(["metrics", *accounts.argv(*names)], accounts.env)
    assert_no_tokens(prometheus.stdout, prometheus.stderr, openmetrics.stdout, openmetrics.stderr)
    assert PROMTOOL is not None
    linted = subprocess.run([PROMTOOL, "check", "metrics"], input=prometheus.stdout, capture_output=True, text=True, timeout=60)
    types = [line.split()[2] for line in prometheus.stdout.splitlines() if line.startswith("# TYPE")]
    series = [line.rsplit(" ", 1)[0] for line in openmetrics.stdout.splitlines() if not line.startswith("#")]
    assert (0, "", "", [], []) == (
        linted.returncode,
        linted.stdout,
        linted.stderr,
        [name for name in types if types.count(name) > 1],
        [line for line in series if series.count(line) > 1],
    )
    assert {EMAILS[name] for name in names} == {dict(labels)["account"] for _name, labels in samples(openmetrics.stdout)}


# -- serve -------------------------------------------------------------------------------------


@pytest.fixture
def stop_after() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.stop()


def test_serve_has_every_accounts_series_and_their_json_documents(accounts: Accounts, stop_after: list[Served]) -> None:
    """/metrics: each account's numbers under its label; /usage.json: the accounts document of
    their --json documents, as `claude-usage --json` with the same accounts prints it; each
    account's data fetched once however many scrapes."""
    server = Served(accounts.env, *accounts.argv("home", "work"))
    stop_after.append(server)
    found = samples(server.get("/metrics", OPENMETRICS)[2])
    for _ in range(5):
        server.get("/metrics")
    status, content_type, body = server.get("/usage.json")
    expected = json.loads(checked(["--json", *accounts.argv("home", "work")], accounts.env)[1])
    assert_no_tokens(body)
    assert (1.0, 1.0, 0.1, 0.3, 0.4) == (
        up(found, "home"),
        up(found, "work"),
        used(found, "home", "five_hour"),
        used(found, "work", "five_hour"),
        used(found, "work", "seven_day"),
    )
    assert (200, "application/json", expected, {"home": 1, "work": 1, "lab": 0}) == (
        status,
        content_type,
        json.loads(body),
        accounts.upstream.counts,
    )
    assert [EMAILS["home"], EMAILS["work"]] == [document["account"] for document in json.loads(body)["accounts"]]


def test_serve_answers_without_waiting_for_a_slow_account(accounts: Accounts, stop_after: list[Served]) -> None:
    """One account's server never answers: a scrape still comes within the first-read wait, with
    the other account's numbers and up 0 for the slow one; /usage.json says it is pending."""
    release = threading.Event()
    accounts.upstream.answers["work"] = never_answer(release)
    try:
        server = Served(accounts.env, "--timeout", "60", *accounts.argv("home", "work"))
        stop_after.append(server)
        started = time.monotonic()
        found = samples(server.get("/metrics", OPENMETRICS)[2])
        took = time.monotonic() - started
        status, _, body = server.get("/usage.json")
    finally:
        release.set()
    documents = {document["account"]: document for document in json.loads(body)["accounts"]}
    assert (True, 1.0, 0.1, 0.0, 200, "Pending", 10.0) == (
        took < 5.0,
        up(found, "home"),
        used(found, "home", "five_hour"),
        up(found, "work"),
        status,
        documents[EMAILS["work"]]["error"]["kind"],
        documents[EMAILS["home"]]["five_hour"]["utilization"],
    )


def test_serve_refuses_account_label_with_several_accounts(accounts: Accounts) -> None:
    status, out, err = checked(["serve", "--account-label", "x", *accounts.argv("home", "work")], accounts.env)
    assert (2, "") == (status, out)
    assert "--account-label names a single account" in err


# -- history -----------------------------------------------------------------------------------


def record(accounts: Accounts, seconds: float, *names: str) -> None:
    """A real run of the command for ``names`` at T0 + ``seconds``: each account's answer recorded."""
    done = run(["--json", *accounts.argv(*names)], at(accounts.env, seconds))
    assert_no_tokens(done.stdout, done.stderr)
    assert 0 == done.returncode, done.stderr


def test_history_per_account(accounts: Accounts) -> None:
    """Two runs an hour apart, each account with its own numbers: history --json of several
    accounts has each one's samples and summary under its label; of one account, the plain document."""
    record(accounts, 0, "home", "work")
    accounts.upstream.answers["home"] = respond(200, body_with(12.0, 21.0))
    accounts.upstream.answers["work"] = respond(200, body_with(36.0, 41.0))
    record(accounts, 3600, "home", "work")
    later = at(accounts.env, 3660)
    _, out, _ = checked(["history", "--window", "5h", "--json", *accounts.argv("home", "work")], later)
    documents = {document["account"]: document for document in json.loads(out)["accounts"]}
    utilizations = {
        label: [sample["utilization"] for sample in document["windows"][0]["samples"]] for label, document in documents.items()
    }
    # Each account's own rate (2 and 6 points in the hour), not one of both accounts' samples.
    rates = {label: round(document["windows"][0]["summary"]["burn_rate_hour"]) for label, document in documents.items()}
    single = json.loads(checked(["history", "--window", "5h", "--json", *accounts.argv("work")], later)[1])
    assert (
        {EMAILS["home"]: [10.0, 12.0], EMAILS["work"]: [30.0, 36.0]},
        {EMAILS["home"]: 2, EMAILS["work"]: 6},
        [30.0, 36.0],
    ) == (utilizations, rates, [sample["utilization"] for sample in single["windows"][0]["samples"]])


def test_history_csv_and_chart_of_several_accounts(accounts: Accounts) -> None:
    record(accounts, 0, "home", "work", "lab")
    later = at(accounts.env, 60)
    _, out, _ = checked(["history", "--window", "5h", "--csv", *accounts.argv("home", "work", "lab")], later)
    table = list(csv.reader(io.StringIO(out)))
    samples_by_account = {row[0]: row[4] for row in table[1:] if row[1] == "sample"}
    _, chart, _ = checked(["history", "--window", "5h", *accounts.argv("home", "work", "lab")], later)
    headings = [line for line in chart.splitlines() if "@" in line]
    plain = list(csv.reader(io.StringIO(checked(["history", "--window", "5h", "--csv", *accounts.argv("lab")], later)[1])))
    assert (
        "account",
        {EMAILS["home"]: "10.0", EMAILS["work"]: "30.0", EMAILS["lab"]: "50.0"},
        [EMAILS["home"], EMAILS["work"], EMAILS["lab"]],
        "record",
        ["sample", "five_hour"],
    ) == (table[0][0], samples_by_account, headings, plain[0][0], plain[1][:2])


def test_history_of_two_oauth_tokens_is_kept_apart(accounts: Accounts) -> None:
    """Two CLAUDE_CODE_OAUTH_TOKEN values, each recorded by a real run: each token's history
    shows its own samples only (both were once filed under one key)."""
    def env_of(name: str, seconds: float) -> dict[str, str]:
        return {**at(accounts.env, seconds), "CLAUDE_CODE_OAUTH_TOKEN": token_of(name)}

    for name, seconds in (("work", 0), ("lab", 60)):
        done = run(["--json"], env_of(name, seconds))
        assert_no_tokens(done.stdout, done.stderr)
        assert 0 == done.returncode, done.stderr
    seen = {}
    for name in ("work", "lab"):
        _, out, _ = checked(["history", "--window", "5h", "--json"], env_of(name, 120))
        seen[name] = [sample["utilization"] for sample in json.loads(out)["windows"][0]["samples"]]
    database = (Path(accounts.env["CLAUDE_USAGE_STATE_DIR"]) / "history.sqlite3").read_bytes()
    assert ({"work": [30.0], "lab": [50.0]}, {"work": 1, "lab": 1}) == (seen, {name: accounts.upstream.counts[name] for name in ("work", "lab")})
    assert all(secret.encode() not in database for secret in several_accounts.tokens())
