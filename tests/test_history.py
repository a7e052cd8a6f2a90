"""The usage history: the SQLite store on real files, its failure modes, the burn-rate maths, and
``claude-usage history`` (issue 15)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from claude_usage import UsageClient, history
from claude_usage.history import HistoryStore, Sample
from claude_usage.models import UsagePeriod
from conftest import SECRETS, fixture_body
from loopback_server import LoopbackServer, respond
import test_cli
from test_cli import T0, invoke, run

command_env = test_cli.command_env  # the command's fixture: loopback API, fake home, fixed clock

ACCOUNT = "file:/home/someone/.claude/.credentials.json"
SRC = str(Path(__file__).resolve().parent.parent / "src")


def rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT w.key, s.observed_at, s.utilization, s.resets_at, s.source FROM samples s"
            " JOIN windows w ON w.id = s.window ORDER BY w.key, s.observed_at"
        ).fetchall()


def store_in(directory: Path, **options: object) -> HistoryStore:
    return HistoryStore(directory / "history.sqlite3", **options)  # type: ignore[arg-type]


# -- the maths, against values worked out by hand ------------------------------------------------


def five(at: float, utilization: float, resets_at: float | None = 20_000.0) -> Sample:
    return Sample("five_hour", at, utilization, resets_at)


def test_burn_rate_over_the_last_hour() -> None:
    """From 10% at the hour's start to 20% at its end: 10 points in 1 h."""
    samples = [five(0, 10), five(1800, 15), five(3600, 20)]
    assert 10.0 == history.burn_rate(samples, now=3600, hours=1)


def test_burn_rate_counts_a_reset_as_a_fall_to_zero() -> None:
    """90 -> 95 (+5), reset, 5 (+5), 10 (+5): 15 points in the hour, not a negative rate."""
    samples = [five(0, 90), five(1800, 95), five(2700, 5, 38_000), five(3600, 10, 38_000)]
    assert 15.0 == history.burn_rate(samples, now=3600, hours=1)


def test_burn_rate_without_a_sample_before_the_span_starts_at_the_first() -> None:
    """10% at 30 min, 13% at 60 min: 3 points in half an hour is 6 an hour."""
    assert 6.0 == history.burn_rate([five(1800, 10), five(3600, 13)], now=3600, hours=1)


def test_burn_rate_ignores_samples_after_now_and_needs_two() -> None:
    assert (None, None, 4.0) == (
        history.burn_rate([five(3600, 10)], now=3600, hours=1),
        history.burn_rate([], now=3600, hours=1),
        history.burn_rate([five(0, 10), five(3600, 14), five(5400, 90)], now=3600, hours=1),
    )


def test_projection_and_time_to_full() -> None:
    """40% burning 6 points an hour, reset in 2 h: 52% at the reset; at 10 an hour, 100% in 6 h
    unless the reset comes first; at 100% already, no time; a zero rate never fills."""
    assert (52.0, 6.0, None, 0.0, None) == (
        history.projected_at_reset(40, 6, now=0, resets_at=7200),
        history.hours_to_full(40, 10, now=0, resets_at=36_000),
        history.hours_to_full(40, 10, now=0, resets_at=3600),
        history.hours_to_full(100, 0, now=0),
        history.hours_to_full(40, 0, now=0),
    )


def test_times_full_counts_periods_by_reset_time() -> None:
    samples = [five(0, 50, 100), five(50, 100, 100), five(150, 20, 200), five(250, 100, 300), five(260, 100, 300)]
    assert (2, 3) == history.times_full(samples)


def test_usage_period_projection_uses_history_when_there_is_some() -> None:
    """24% with 2 h left, +6 points in the last hour: 36% at the reset; without samples, the
    average rate since the window began (24% after 3 of 5 h: 40% at the reset)."""
    now = datetime.fromtimestamp(10_800, timezone.utc)
    period = UsagePeriod(24.0, datetime.fromtimestamp(18_000, timezone.utc))
    recent = [five(7200, 18, 18_000), five(10_800, 24, 18_000)]
    with_history = history.project(period, 5.0, recent, now=now)
    without = history.project(period, 5.0, (), now=now)
    assert ("history", 6.0, 36.0, None) == (with_history.basis, with_history.rate_per_hour, with_history.at_reset, with_history.hours_to_full)
    assert ("average", None, 40.0) == (without.basis, without.rate_per_hour, pytest.approx(without.at_reset))


# -- the store on real files -------------------------------------------------------------------------


def test_identical_consecutive_samples_are_stored_once(tmp_path: Path) -> None:
    """The repeat moves only the last-seen time, which reading gives back as the flat end."""
    with store_in(tmp_path) as store:
        added = [
            store.record({"five_hour": (10.0, 5000.0, 1000.0)}, account=ACCOUNT),
            store.record({"five_hour": (10.0, 5000.0, 1060.0)}, account=ACCOUNT),
            store.record({"five_hour": (12.0, 5000.0, 1120.0)}, account=ACCOUNT),
            store.record({"five_hour": (12.0, 5000.0, 1180.0)}, account=ACCOUNT),
        ]
        read = [(s.observed_at, s.utilization) for s in store.samples("five_hour", account=ACCOUNT)]
    assert [1, 0, 1, 0] == added
    assert [("five_hour", 1000, 10.0, 5000, 0), ("five_hour", 1120, 12.0, 5000, 0)] == rows(tmp_path / "history.sqlite3")
    assert [(1000.0, 10.0), (1120.0, 12.0), (1180.0, 12.0)] == read


def test_file_modes_wal_and_schema_version(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "claude-usage"
    with store_in(directory) as store:
        store.record({"five_hour": (1.0, None, 1.0)}, account=ACCOUNT, source="stdin")
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in directory.iterdir()}
        with sqlite3.connect(directory / "history.sqlite3") as connection:
            pragmas = [connection.execute(f"PRAGMA {name}").fetchone()[0] for name in ("journal_mode", "user_version")]
    assert 0o700 == stat.S_IMODE(directory.stat().st_mode)
    assert {"history.sqlite3": 0o600, "history.sqlite3-wal": 0o600, "history.sqlite3-shm": 0o600} == modes
    assert ["wal", history.SCHEMA_VERSION] == pragmas
    assert [("five_hour", 1, 1.0, None, 1)] == rows(directory / "history.sqlite3")


def test_an_empty_version_0_file_is_migrated(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "history.sqlite3").close()  # a valid database with no schema yet
    with store_in(tmp_path) as store:
        assert 1 == store.record({"seven_day": (3.0, None, 5.0)}, account=ACCOUNT)


def test_a_newer_schema_is_left_alone_and_does_not_raise(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "history.sqlite3") as connection:
        connection.execute(f"PRAGMA user_version = {history.SCHEMA_VERSION + 1}")
    with store_in(tmp_path) as store:
        added = store.record({"seven_day": (3.0, None, 5.0)}, account=ACCOUNT)
        assert (0, True) == (added, "newer" in (store.last_error or ""))
    assert (tmp_path / "history.sqlite3").exists() and not list(tmp_path.glob("*.corrupt-*"))


def test_retention_drops_samples_older_than_it(tmp_path: Path) -> None:
    day = 86400.0
    with store_in(tmp_path, retention_days=90) as store:
        store.record({"five_hour": (1.0, None, 0.0)}, account=ACCOUNT)
        store.record({"five_hour": (2.0, None, 50 * day)}, account=ACCOUNT)
        store.record({"five_hour": (3.0, None, 91 * day)}, account=ACCOUNT)
    assert [1.0 * 50 * day, 91 * day] == [row[1] for row in rows(tmp_path / "history.sqlite3")]


def test_retention_is_configurable() -> None:
    assert (90.0, 7.0, 90.0, 90.0) == (
        history.retention_days({}),
        history.retention_days({"CLAUDE_USAGE_HISTORY_DAYS": "7"}),
        history.retention_days({"CLAUDE_USAGE_HISTORY_DAYS": "-1"}),
        history.retention_days({"CLAUDE_USAGE_HISTORY_DAYS": "soon"}),
    )


def test_state_directory_order() -> None:
    assert ("/s", "/x/claude-usage", "/h/.local/state/claude-usage", "/h/.local/state/claude-usage", None) == (
        history.default_state_dir({"CLAUDE_USAGE_STATE_DIR": "/s", "XDG_STATE_HOME": "/x", "HOME": "/h"}),
        history.default_state_dir({"XDG_STATE_HOME": "/x", "HOME": "/h"}),
        history.default_state_dir({"HOME": "/h"}),
        history.default_state_dir({"XDG_STATE_HOME": "relative", "HOME": "/h"}),
        history.default_state_dir({}),
    )


# -- never in the way -------------------------------------------------------------------------------


def test_a_corrupt_file_is_moved_aside_and_recreated_with_one_warning(tmp_path: Path) -> None:
    (tmp_path / "history.sqlite3").write_bytes(b"this is not a database, " * 200)
    warnings: list[str] = []
    with store_in(tmp_path, warn=warnings.append) as store:
        added = store.record({"five_hour": (5.0, None, 10.0)}, account=ACCOUNT)
        again = store.record({"five_hour": (6.0, None, 20.0)}, account=ACCOUNT)
    aside = list(tmp_path.glob("history.sqlite3.corrupt-*"))
    assert (1, 1, 1, 1) == (added, again, len(warnings), len(aside))
    assert b"this is not a database" in aside[0].read_bytes()
    assert [5.0, 6.0] == [row[2] for row in rows(tmp_path / "history.sqlite3")]


def test_a_locked_database_loses_the_observation_and_raises_nothing(tmp_path: Path) -> None:
    with store_in(tmp_path) as store:
        store.record({"five_hour": (1.0, None, 1.0)}, account=ACCOUNT)
    holder = sqlite3.connect(tmp_path / "history.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with store_in(tmp_path, busy_timeout=0.05) as store:
            added = store.record({"five_hour": (2.0, None, 2.0)}, account=ACCOUNT)
            error = store.last_error or ""
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (0, True) == (added, "locked" in error)
    assert [1.0] == [row[2] for row in rows(tmp_path / "history.sqlite3")]


def _child(code: str, *, unprivileged: bool = False, file_size_limit: int | None = None) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter, optionally without root's capabilities (so file modes hold
    for it, via util-linux ``setpriv``) or with a file size limit."""
    prefix = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"] if unprivileged else []

    def prepare() -> None:
        import resource
        import signal

        if file_size_limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit then fail with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [*prefix, sys.executable, "-c", textwrap.dedent(code)],
        env={"PYTHONPATH": SRC, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=prepare,
        capture_output=True,
        text=True,
        timeout=60,
    )


RECORD_ONE = """
    from claude_usage.history import HistoryStore
    store = HistoryStore({path!r})
    added = store.record({{"five_hour": (2.0, None, 2.0)}}, account="a")
    print(added, store.last_error)
"""


def test_a_read_only_database_loses_the_observation_and_raises_nothing() -> None:
    root = os.geteuid() == 0  # root writes through any mode: the child then runs without its capabilities
    if root and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv to drop the capabilities")
    directory = Path(tempfile.mkdtemp(prefix="history-ro-"))
    try:
        with store_in(directory) as store:
            store.record({"five_hour": (1.0, None, 1.0)}, account="a")
        path = directory / "history.sqlite3"
        for child in directory.iterdir():
            os.chmod(child, 0o400)
        os.chmod(directory, 0o500)
        done = _child(RECORD_ONE.format(path=str(path)), unprivileged=root)
        os.chmod(directory, 0o700)
        assert ("", True) == (done.stderr, done.stdout.startswith("0 history"))
        assert [1.0] == [row[2] for row in rows(path)]
    finally:
        os.chmod(directory, 0o700)
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()


def test_a_full_disk_loses_the_observation_and_raises_nothing(tmp_path: Path) -> None:
    """No file may grow past 1 KiB (RLIMIT_FSIZE): the WAL cannot take a page, SQLite says the disk is full."""
    path = tmp_path / "history.sqlite3"
    with store_in(tmp_path) as store:
        store.record({"five_hour": (1.0, None, 1.0)}, account="a")
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    done = _child(RECORD_ONE.format(path=str(path)), file_size_limit=1024)
    assert ("", True) == (done.stderr, done.stdout.startswith("0 history"))
    assert [1.0] == [row[2] for row in rows(path)]


def test_thirty_processes_recording_at_once_lose_nothing(tmp_path: Path) -> None:
    """30 real processes, released together, each recording 20 distinct samples of its own account."""
    path = tmp_path / "history.sqlite3"
    start = time.time() + 2.0
    code = f"""
        import sys, time
        from claude_usage.history import HistoryStore
        index = int(sys.argv[1])
        store = HistoryStore({str(path)!r})
        time.sleep(max(0.0, {start!r} - time.time()))
        added = sum(store.record({{"five_hour": (float(n), 9e9, 1000.0 + n), "seven_day": (n / 2, 9e9, 1000.0 + n)}},
                                 account=f"file:/p{{index}}") for n in range(20))
        print(added, store.last_error)
    """
    children = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(index)],
            env={"PYTHONPATH": SRC, "PATH": os.environ.get("PATH", "")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(30)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [("40 None\n", "")] * 30 == outputs
    assert 30 * 40 == len(rows(path))


def test_no_token_bytes_anywhere_in_the_database(command_env: dict[str, str], tmp_path: Path) -> None:
    """The command records with a real login; the file, its WAL and the directory hold no token."""
    env = {**command_env, "CLAUDE_USAGE_STATE_DIR": str(tmp_path / "state")}
    assert 0 == invoke(["--no-cache"], env)[0]
    files = [path for path in (tmp_path / "state").iterdir() if path.is_file()]
    assert "history.sqlite3" in {path.name for path in files}  # the WAL goes with the last connection
    assert [] == [(path.name, secret) for path in files for secret in SECRETS if secret.encode() in path.read_bytes()]
    with sqlite3.connect(tmp_path / "state" / "history.sqlite3") as connection:
        accounts = [row[0] for row in connection.execute("SELECT key FROM accounts")]
    assert [f"file:{Path(env['HOME']) / '.claude' / '.credentials.json'}"] == accounts


# -- where recording happens ------------------------------------------------------------------------


def test_the_command_records_each_server_answer_once(command_env: dict[str, str], tmp_path: Path) -> None:
    """A request records the windows; the cache hit after it records nothing (and opens no store)."""
    env = {**command_env, "CLAUDE_USAGE_STATE_DIR": str(tmp_path / "state")}
    invoke([], env)
    first = rows(tmp_path / "state" / "history.sqlite3")
    invoke([], {**env, "CLAUDE_USAGE_TEST_NOW": str(T0 + 10)})  # a cache hit
    assert first == rows(tmp_path / "state" / "history.sqlite3")
    assert ["five_hour", "seven_day", "seven_day_sonnet"] == [row[0] for row in first]
    assert {(T0, 0)} == {(row[1], row[4]) for row in first}


def test_a_cache_hit_loads_neither_the_history_nor_sqlite3(command_env: dict[str, str], tmp_path: Path) -> None:
    env = {**command_env, "CLAUDE_USAGE_STATE_DIR": str(tmp_path / "state")}
    assert 0 == run(["--json"], env).returncode  # fetches and records
    done = run(["--json"], {**env, "CLAUDE_USAGE_TEST_NOW": str(T0 + 10)}, "-X", "importtime")
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert (0, set()) == (done.returncode, {"sqlite3", "_sqlite3", "claude_usage.history"} & loaded)
    assert 3 == len(rows(tmp_path / "state" / "history.sqlite3"))


def test_history_0_turns_recording_off(command_env: dict[str, str], tmp_path: Path) -> None:
    env = {**command_env, "CLAUDE_USAGE_STATE_DIR": str(tmp_path / "state"), "CLAUDE_USAGE_HISTORY": "0"}
    assert 0 == invoke(["--no-cache"], env)[0]
    assert not (tmp_path / "state").exists()


def test_the_command_survives_a_corrupt_history_with_one_warning(command_env: dict[str, str], tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "history.sqlite3").write_bytes(b"\x00garbage" * 512)
    status, out, err = invoke(["--no-cache", "--json"], {**command_env, "CLAUDE_USAGE_STATE_DIR": str(state)})
    assert (0, 1, True) == (status, err.count("history file was corrupt"), '"five_hour"' in out)
    assert 3 == len(rows(state / "history.sqlite3"))


def test_the_library_records_only_when_asked(
    https_server: LoopbackServer, environ: dict[str, str], ca_file: str, tmp_path: Path
) -> None:
    https_server.answer = respond(200, fixture_body("pro_max.json"))
    env = {**environ, "CLAUDE_USAGE_API_URL": https_server.url, "CLAUDE_USAGE_STATE_DIR": str(tmp_path / "state")}
    with UsageClient(environ=env, verify=ca_file) as client:
        client.get_usage()
    recorded_by_default = (tmp_path / "state").exists()
    with UsageClient(environ=env, verify=ca_file, history=True, clock=lambda: 1_000_000.0) as client:
        client.get_usage()
    assert (False, 3) == (recorded_by_default, len(rows(tmp_path / "state" / "history.sqlite3")))


# -- the history command ----------------------------------------------------------------------------


def fill(directory: Path, account: str) -> None:
    """5-hour: 0% at T0 - 3 h rising 10 points an hour to 30% now; the window resets at T0 + 2 h."""
    with store_in(directory) as store:
        for minutes in range(0, 181, 30):
            at = T0 - 3 * 3600 + minutes * 60
            store.record({"five_hour": (minutes / 6, T0 + 7200.0, float(at))}, account=account)


def test_history_json_and_csv(command_env: dict[str, str], tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**command_env, "CLAUDE_USAGE_STATE_DIR": str(state)}
    fill(state, f"file:{Path(env['HOME']) / '.claude' / '.credentials.json'}")
    status, out, err = invoke(["history", "--window", "5h", "--json"], env)
    document = json.loads(out)
    (window,) = document["windows"]
    summary = {
        "utilization": 30.0,
        "resets_at": "2026-03-02T10:46:00+00:00",
        "burn_rate_hour": 10.0,
        "burn_rate_day": 10.0,
        "projected_at_reset": 50.0,
        "hours_to_full": None,
        "periods": 1,
        "periods_full": 0,
    }
    assert (0, "", "five_hour", 7, summary) == (status, err, window["window"], len(window["samples"]), window["summary"])
    assert {"observed_at": "2026-03-02T05:46:00+00:00", "utilization": 0.0, "resets_at": "2026-03-02T10:46:00+00:00", "source": "server"} == window["samples"][0]
    _, out, _ = invoke(["history", "--window", "5h", "--csv"], env)
    table = list(csv.reader(io.StringIO(out)))
    assert list(("record", "window", "observed_at", "utilization", "resets_at", "source")) == table[0][:6]
    assert ["summary", "five_hour", "2026-03-02T08:46:00+00:00", "30.0", "2026-03-02T10:46:00+00:00", "", "10.0", "10.0", "50.0", "", "1", "0"] == table[-1]
    assert 7 == sum(1 for line in table if line[0] == "sample")


def test_history_chart_summary_and_ascii_fallback(command_env: dict[str, str], tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**command_env, "CLAUDE_USAGE_STATE_DIR": str(state)}
    fill(state, f"file:{Path(env['HOME']) / '.claude' / '.credentials.json'}")
    _, out, _ = invoke(["history", "--window", "5h", "--since", "4h"], env)
    lines = out.splitlines()
    assert "5-hour, last 4h 0m (UTC)" == lines[0]
    assert [
        "    burn rate: 10.0 pp/h over the last hour, 10.0 pp/h over the last day",
        "    at the last hour's rate: 50% at the reset (in 2h 0m), not 100% before it",
        "    reached 100%: 0 of 1 window in the period",
    ] == lines[-3:]
    assert all(len(line) <= 80 for line in lines)
    assert "\033[" not in out  # no colour off a terminal
    done = run(["history", "--window", "5h", "--since", "4h"], {**env, "PYTHONIOENCODING": "ascii"})
    assert (0, True) == (done.returncode, done.stdout.isascii())
    assert lines[-3:] == done.stdout.splitlines()[-3:]
    assert "#" in done.stdout


def test_history_refuses_an_unknown_window_and_a_bad_duration(command_env: dict[str, str]) -> None:
    assert (2, 2) == (invoke(["history", "--window", "hourly"], command_env)[0], invoke(["history", "--since", "soon"], command_env)[0])


def test_history_without_samples_says_so(command_env: dict[str, str], tmp_path: Path) -> None:
    _, out, _ = invoke(["history"], {**command_env, "CLAUDE_USAGE_STATE_DIR": str(tmp_path / "state")})
    assert 2 == out.count("no samples yet")
