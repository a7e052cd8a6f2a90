"""Run every benchmark and print one table: case, our median, baseline median, ratio, goal, result.

    python benchmarks/run.py            # the full run (a few minutes)
    python benchmarks/run.py --quick    # fewer rounds, for CI: fails only on a gross regression

Run it with the virtual environment's interpreter itself (``.venv/bin/python``, not a version
manager's shim): every child process is started with this same ``sys.executable``. The ratio is
ours / baseline measured in the same run; the full run fails when a ratio misses its goal, the
quick run only when a ratio is worse than twice its goal, so noise on a shared machine cannot
block a landing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ACCESS_TOKEN, HERE, ServerProcess, Workspace, clean_environment, fixture_body, make_workspace  # noqa: E402
import history_data  # noqa: E402
import scaling  # noqa: E402
from harness import Command, Runs, build_launcher, imported_modules, measure, paired  # noqa: E402


@dataclass(frozen=True)
class Settings:
    pytest_repeats: int
    pytest_max_time: float
    pytest_min_rounds: int
    warmup_iterations: int
    process_rounds: int
    scaling_calls: int
    scaling_rounds: int
    recording_pairs: int


FULL = Settings(7, 1.0, 20, 50, 31, 10_000, 400, 100)
QUICK = Settings(1, 0.25, 5, 10, 7, 10_000, 150, 30)


@dataclass(frozen=True)
class Row:
    """One line of the table; ``goal`` None marks a context row (reported, never judged)."""

    case: str
    ours: str
    baseline: str
    ratio: float | None
    goal: float | None
    unit: str = "x"  # "x": ratio; "MB": an absolute growth in megabytes; "ms": a difference; "MB size": a size

    def verdict(self, quick: bool) -> str:
        if self.goal is None or self.ratio is None:
            return "info"
        if self.ratio <= self.goal:
            return "pass"
        if quick and self.ratio <= 2 * self.goal:
            return "miss (noise margin)"
        return "FAIL"


def seconds_text(value: float) -> str:
    if value < 1e-3:
        return f"{value * 1e6:.1f} µs"
    return f"{value * 1e3:.2f} ms"


def kb_text(value: float) -> str:
    return f"{value / 1024:.1f} MB"


# ---------------------------------------------------------------- in-process cases (pytest-benchmark)

# "{turn}": the sides of cases 1 and 2 take turns (common.taking_turns), and each turn's ratio
# counts: work costs more in one minute than in the next on these machines, and turns keep both
# sides of a ratio in the same minute.
PYTEST_PAIRS = [
    ("1. credential read (C) vs json.loads of the file", "test_credential_read[ours-{turn}]", "test_credential_read[json-{turn}]", 0.4),
    ("1. credential read (C) vs os.open/read/close", "test_credential_read[ours-{turn}]", "test_credential_read[syscalls-{turn}]", 2.0),
    ("2. UsageData.from_json (460 B) vs json.loads", "test_parse[ours-body-{turn}]", "test_parse[json-body-{turn}]", 2.0),
    ("2. UsageData.from_json (limits) vs json.loads", "test_parse[ours-limits-{turn}]", "test_parse[json-limits-{turn}]", 2.0),
    ("3. warm get_usage() vs requests.Session().get().json()", "test_warm_call_ours", "test_warm_call_requests", 1.0),
    ("3. context: warm get_usage() vs http.client floor", "test_warm_call_ours", "test_warm_call_stdlib", None),
]


def run_pytest_benchmarks(settings: Settings, scratch: Path) -> list[dict[str, float]]:
    """One dict of test name -> median seconds per repetition of the whole pytest-benchmark session."""
    sessions = []
    for repeat in range(settings.pytest_repeats):
        report = scratch / f"pytest-benchmark-{repeat}.json"
        argv = [
            sys.executable, "-m", "pytest", str(HERE), "-p", "no:cacheprovider", "-q",
            "-o", "python_files=bench_*.py",
            f"--rootdir={HERE}",
            f"--benchmark-json={report}",
            f"--benchmark-max-time={settings.pytest_max_time}",
            f"--benchmark-min-rounds={settings.pytest_min_rounds}",
            "--benchmark-warmup=on",
            f"--benchmark-warmup-iterations={settings.warmup_iterations}",
            "--benchmark-columns=median,iqr,rounds",
            "--benchmark-sort=name",
        ]
        done = subprocess.run(argv, cwd=HERE.parent, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stdout.write(done.stdout[-6000:] + done.stderr[-3000:])
            raise SystemExit(f"the pytest-benchmark session failed (exit {done.returncode})")
        data = json.loads(report.read_text())
        sessions.append({bench["name"]: bench["stats"]["median"] for bench in data["benchmarks"]})
    return sessions


def pytest_rows(sessions: list[dict[str, float]]) -> tuple[list[Row], list[str]]:
    """The table rows, and for each judged pair the ratio of every session (the spread behind the median)."""
    rows, spreads = [], []
    for case, ours, baseline, goal in PYTEST_PAIRS:
        # The ratio of each session (and turn), then the median: sessions run minutes apart.
        pairs = [(s[o], s[b]) for s in sessions for o, b in turns(s, ours, baseline)]
        ratios = [a / b for a, b in pairs]
        ratio = statistics.median(ratios)
        if goal is not None and len(ratios) > 1:
            spreads.append(f"{case}: ratios of each session and turn {', '.join(f'{r:.2f}' for r in sorted(ratios))}")
        ours_s = statistics.median(a for a, _ in pairs)
        baseline_s = statistics.median(b for _, b in pairs)
        rows.append(Row(case, seconds_text(ours_s), seconds_text(baseline_s), ratio, goal))
    return rows, spreads


def turns(session: dict[str, float], ours: str, baseline: str) -> list[tuple[str, str]]:
    """The (ours, baseline) test names of every turn in ``session``; one pair for names without ``{turn}``."""
    if "{turn}" not in ours:
        return [(ours, baseline)]
    found = []
    while ours.format(turn=len(found)) in session:
        found.append((ours.format(turn=len(found)), baseline.format(turn=len(found))))
    return found


# ---------------------------------------------------------------- whole-process cases

def command_argv() -> list[str]:
    """The installed ``claude-usage`` script beside this interpreter, else ``python -m claude_usage``."""
    script = Path(sys.executable).with_name("claude-usage")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "claude_usage"]


def process_commands(workspace: Workspace, server: ServerProcess) -> tuple[dict[str, Command], Callable[[], None]]:
    python = sys.executable
    claude_usage = command_argv()
    env = clean_environment(
        workspace.home,
        CLAUDE_USAGE_API_URL=server.url,
        CLAUDE_USAGE_CA_BUNDLE=str(workspace.ca_file),
        CLAUDE_USAGE_CACHE_DIR=str(workspace.cache_dir),
        CLAUDE_USAGE_KEYCHAIN="file",
    )
    cold_env = dict(env, CLAUDE_USAGE_CACHE_DIR=str(workspace.root / "cold-cache"))
    # Issue 17: a second account beside the default one, and a token handed over in the environment.
    work = workspace.home / ".claude-work"
    work.mkdir(exist_ok=True)
    (work / ".credentials.json").write_bytes(workspace.credential_file.read_bytes())
    (work / ".credentials.json").chmod(0o600)
    two_env = dict(env, CLAUDE_USAGE_ACCOUNTS=f"{workspace.home / '.claude'}:{work}")
    token_env = dict(env, CLAUDE_CODE_OAUTH_TOKEN=ACCESS_TOKEN)

    def one_liner(ca: Path) -> list[str]:
        return [python, "-c", f"import requests; print(requests.get({server.url!r}, verify={str(ca)!r}).json())"]

    cold = [*claude_usage, "--no-cache", "--json"]
    # What Claude Code writes to a status line's stdin (issue 13); resets in the future, so the
    # numbers are taken and bridged into the cache (once per value, then only read).
    now = int(time.time())
    session = workspace.root / "statusline-stdin.json"
    session.write_text(json.dumps({
        "session_id": "bench", "cwd": str(workspace.root), "model": {"id": "claude-opus", "display_name": "Opus"},
        "cost": {"total_cost_usd": 0.42}, "context_window": {"used_percentage": 12},
        "rate_limits": {
            "five_hour": {"used_percentage": 50, "resets_at": now + 7200},
            "seven_day": {"used_percentage": 70, "resets_at": now + 3 * 86400},
        },
    }))
    # 90 days of one sample a minute for three windows, for this home's login.
    history_dir = workspace.root / "history-90d"
    history_dir.mkdir(mode=0o700, exist_ok=True)
    history_file = history_dir / "history.sqlite3"
    if not history_file.exists():
        history_data.build(history_file, f"file:{workspace.credential_file}")
    count = f"import sqlite3; print(sqlite3.connect({str(history_file)!r}).execute('SELECT count(*) FROM samples').fetchone()[0])"
    commands = [
        Command("python -c pass", [python, "-c", "pass"], env),
        Command("python -c 'import json'", [python, "-c", "import json"], env),
        Command("import claude_usage", [python, "-c", "import claude_usage"], env),
        Command("import json, dataclasses, datetime", [python, "-c", "import json, dataclasses, datetime"], env),
        Command("cached command", [*claude_usage, "--json"], env, b'"five_hour"'),
        Command("fed status line", [*claude_usage, "--statusline"], env, b"5h 50%", session),
        Command("cached status line", [*claude_usage, "--statusline"], env, b"5h "),
        Command("cached status line, two accounts", [*claude_usage, "--statusline"], two_env, b"\n/"),
        Command("cached status line, token in the environment", [*claude_usage, "--statusline"], token_env, b"5h "),
        # Each side with its own default trust store (plus the test CA): what a cold run costs.
        Command("cold command", cold, dict(cold_env, CLAUDE_USAGE_CA_BUNDLE=str(workspace.our_trust)), b'"five_hour"'),
        Command("requests one-liner", one_liner(workspace.requests_trust), env, b"five_hour"),
        # Both with the test CA alone: the same trust work, so what is left is imports and code.
        Command("cold command, test CA only", cold, cold_env, b'"five_hour"'),
        Command("requests one-liner, test CA only", one_liner(workspace.ca_file), env, b"five_hour"),
        Command("history, 90 days", [*claude_usage, "history"], dict(env, CLAUDE_USAGE_STATE_DIR=str(history_dir)), b"burn rate"),
        Command("import sqlite3 + SELECT count(*)", [python, "-c", count], env, b"388"),
    ]
    curl = shutil.which("curl")
    if curl:
        commands.append(
            Command(
                "curl",
                [curl, "-sS", "--cacert", str(workspace.ca_file), "-H", f"Authorization: Bearer {ACCESS_TOKEN}", server.url],
                env,
                b"five_hour",
            )
        )
    by_name = {command.name: command for command in commands}

    def prime_cache() -> None:
        for environment in (env, two_env, token_env):
            subprocess.run([*claude_usage, "--no-cache", "--json"], env=environment, capture_output=True, check=True, timeout=60)

    return by_name, prime_cache


def process_rows(results: dict[str, Runs]) -> list[Row]:
    def time_row(case: str, ours: str, baseline: str, goal: float | None) -> Row:
        a, b = results[ours].median_seconds, results[baseline].median_seconds
        return Row(case, seconds_text(a), seconds_text(b), a / b, goal)

    def rss_row(case: str, ours: str, baseline: str, goal: float | None) -> Row:
        a, b = results[ours].median_rss_kb, results[baseline].median_rss_kb
        return Row(case, kb_text(a), kb_text(b), a / b, goal)

    rows = [
        time_row("4. cold `--no-cache --json` vs requests one-liner (default trust stores)", "cold command", "requests one-liner", 1.0),
        time_row(
            "4. context: the same, both with the test CA only",
            "cold command, test CA only",
            "requests one-liner, test CA only",
            None,
        ),
        time_row("4. context: cold command vs `python -c pass`", "cold command", "python -c pass", None),
    ]
    if "curl" in results:
        rows.append(time_row("4. context: cold command vs curl", "cold command", "curl", None))
    rows += [
        time_row("5. cached `--json` vs `python -c 'import json'`", "cached command", "python -c 'import json'", 1.5),
        time_row("5. `--statusline` fed by stdin, fresh cache, vs `python -c 'import json'`", "fed status line", "python -c 'import json'", 1.2),
        time_row("6. import claude_usage vs import json, dataclasses, datetime", "import claude_usage", "import json, dataclasses, datetime", 1.3),
        rss_row("7. peak RSS: cached command vs `import json`", "cached command", "python -c 'import json'", 1.3),
        rss_row("7. peak RSS: cold command vs requests one-liner", "cold command", "requests one-liner", 1.1),
    ]
    rows += [
        time_row("9. `history` over 90 days vs `import sqlite3` + SELECT count(*)", "history, 90 days", "import sqlite3 + SELECT count(*)", 3.0),
    ]
    rows += [
        time_row("10. cached `--statusline`, two accounts vs one", "cached status line, two accounts", "cached status line", 1.3),
        time_row(
            "10. cached `--statusline`, CLAUDE_CODE_OAUTH_TOKEN vs the file login",
            "cached status line, token in the environment",
            "cached status line",
            1.3,
        ),
    ]
    return rows


def history_size_row(workspace: Workspace) -> Row:
    path = workspace.root / "history-90d" / "history.sqlite3"
    size = sum(path.with_name(path.name + suffix).stat().st_size for suffix in ("", "-wal") if path.with_name(path.name + suffix).exists())
    return Row("9. history file: 90 days, 1 sample/min, 3 windows", kb_text(size / 1024), "", size / 1024 / 1024, 20.0, "MB size")


def run_processes(settings: Settings, workspace: Workspace, server: ServerProcess) -> tuple[list[Row], list[str]]:
    commands, prime_cache = process_commands(workspace, server)
    launcher = build_launcher(workspace.root)
    prime_cache()
    notes = []
    heavy = {"requests", "urllib3", "ssl", "_cffi_backend"} & imported_modules(
        [sys.executable, "-m", "claude_usage", "--json"], commands["cached command"].env
    )
    if heavy:
        notes.append(f"the cached command imported {', '.join(sorted(heavy))} (it should import none of them)")
    # Rounds in batches, re-priming between them: the cache must stay younger than --max-age.
    results: dict[str, Runs] = {name: Runs() for name in commands}
    remaining = settings.process_rounds
    first = True
    while remaining > 0:
        batch = min(remaining, 7)
        prime_cache()
        measured = measure(list(commands.values()), batch, launcher, warmup=2 if first else 0, seed=remaining)
        for name, runs in measured.items():
            results[name].seconds += runs.seconds
            results[name].max_rss_kb += runs.max_rss_kb
        remaining -= batch
        first = False
    return [*process_rows(results), recording_row(settings, commands["cold command"])], notes


def recording_row(settings: Settings, cold: Command) -> Row:
    """What recording the history costs a request-making run: the cold command, and the same
    with ``CLAUDE_USAGE_HISTORY=0``, in pairs (see ``harness.paired``)."""
    on, off, difference = paired(cold.argv, cold.env, dict(cold.env, CLAUDE_USAGE_HISTORY="0"), settings.recording_pairs)
    case = f"9. recording: cold command minus the same with CLAUDE_USAGE_HISTORY=0 ({settings.recording_pairs} pairs)"
    return Row(case, seconds_text(on), seconds_text(off), difference * 1e3, 3.0, "ms")


# ---------------------------------------------------------------- scaling

def run_scaling(settings: Settings, workspace: Workspace, server: ServerProcess) -> list[Row]:
    data = scaling.measure(
        server.url,
        str(workspace.ca_file),
        str(workspace.home),
        clean_environment(workspace.home),
        settings.scaling_calls,
        settings.scaling_rounds,
    )
    medians: dict[int, float] = data["median_s"]  # type: ignore[assignment]
    rss: dict[int, int] = data["rss_kb"]  # type: ignore[assignment]
    calls = settings.scaling_calls

    def cost_row(age: int) -> Row:
        return Row(
            f"8. warm call after {age:,} calls vs after 1 (interleaved)",
            seconds_text(medians[age]),
            seconds_text(medians[1]),
            medians[age] / medians[1],
            1.1,
        )

    growth_mb = (rss[calls] - rss[100]) / 1024
    return [
        cost_row(100),
        cost_row(calls),
        Row(f"8. RSS growth from 100 to {calls:,} calls", kb_text(rss[calls]), kb_text(rss[100]), growth_mb, 2.0, "MB"),
    ]


# ---------------------------------------------------------------- table

def _ratio_text(ratio: float, unit: str) -> str:
    return {"MB": f"+{ratio:.2f} MB", "ms": f"{ratio:+.2f} ms", "MB size": f"{ratio:.1f} MB"}.get(unit, f"{ratio:.3f}")


def _goal_text(goal: float, unit: str) -> str:
    return {"MB": f"<= +{goal:g} MB", "ms": f"<= +{goal:g} ms", "MB size": f"<= {goal:g} MB"}.get(unit, f"<= {goal:g}")


def render(rows: list[Row], quick: bool) -> str:
    header = ("case", "ours", "baseline", "ratio", "goal", "result")
    lines = [
        (
            row.case,
            row.ours,
            row.baseline,
            "" if row.ratio is None else _ratio_text(row.ratio, row.unit),
            "—" if row.goal is None else _goal_text(row.goal, row.unit),
            row.verdict(quick),
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]

    def format_line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([format_line(header), rule, *(format_line(cells) for cells in lines)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds; fail only on a ratio worse than twice its goal")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    options = parser.parse_args()
    settings = QUICK if options.quick else FULL
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="claude-usage-bench-") as scratch_name:
        scratch = Path(scratch_name)
        print(f"interpreter: {sys.executable} ({sys.version.split()[0]}); mode: {'quick' if options.quick else 'full'}", flush=True)
        print("in-process cases (pytest-benchmark)...", flush=True)
        rows, spreads = pytest_rows(run_pytest_benchmarks(settings, scratch))
        workspace = make_workspace(scratch / "workspace")
        with ServerProcess(workspace, fixture_body()) as server:
            print("whole-process cases...", flush=True)
            process, notes = run_processes(settings, workspace, server)
            rows += process
            rows.append(history_size_row(workspace))
            print("scaling...", flush=True)
            rows += run_scaling(settings, workspace, server)
    print()
    print(render(rows, options.quick))
    for note in notes:
        print(f"note: {note}")
    for spread in spreads:
        print(spread)
    print(f"\n{'quick' if options.quick else 'full'} run took {time.monotonic() - started:.0f} s")
    if options.json:
        Path(options.json).write_text(
            json.dumps([{**row.__dict__, "result": row.verdict(options.quick)} for row in rows], indent=2)
        )
    failed = [row.case for row in rows if row.verdict(options.quick) == "FAIL"]
    if failed:
        print("FAILED: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
