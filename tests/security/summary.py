"""Print the security summary table: the suite's recorded figures, plus the C fuzzing results.

    python tests/security/summary.py [--results FILE] [--fuzz-log FILE] [--canary-log FILE]

``--results``: the JSON-lines file the suite wrote (default: ``$CLAUDE_USAGE_SECURITY_RESULTS``
or tests/security/.results.jsonl). ``--fuzz-log``: libFuzzer's log from ``make -C tests/c fuzz``
(tests/c/build/fuzz.log). ``--canary-log``: the output of ``make -C tests/c fuzz-canary``.
Exits 1 when a goal is not met or a given log says nothing usable, so CI cannot pass on a
table that was not filled in.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

Row = dict[str, object]

_HERE = Path(__file__).resolve().parent
_RESULTS_VARIABLE = "CLAUDE_USAGE_SECURITY_RESULTS"  # the same name as probes.RESULTS_VARIABLE
_CRASH = re.compile(r"==\d+==ERROR: |ERROR: libFuzzer|^SUMMARY: \w+Sanitizer", re.MULTILINE)


def default_results() -> Path:
    return Path(os.environ.get(_RESULTS_VARIABLE) or _HERE / ".results.jsonl")


def read_rows(path: Path) -> list[Row]:
    """The rows the suite recorded, in the order the tests ran."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fuzz_rows(log: Path) -> list[Row]:
    """Executions and crashes of the libFuzzer run on the C JSON reader."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    executions = re.search(r"^stat::number_of_executed_units:\s*(\d+)", text, re.MULTILINE)
    seconds = re.search(r"^Done \d+ runs in (\d+) second", text, re.MULTILINE)
    crashes = len(_CRASH.findall(text))
    if executions is None:
        return [{"test": "C JSON reader: libFuzzer + ASan/UBSan", "figure": f"no final stats in {log}", "goal": "runs, 0 crashes", "met": False}]
    duration = f" in {seconds.group(1)} s" if seconds else ""
    return [
        {
            "test": "C JSON reader: libFuzzer + ASan/UBSan",
            "figure": f"{int(executions.group(1)):,} executions{duration}, {crashes} crashes",
            "goal": "0 crashes",
            "met": crashes == 0,
        }
    ]


def canary_rows(log: Path) -> list[Row]:
    """Whether the fuzzer found the overflow planted in the canary build."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    found = re.search(r"fuzz-canary: planted overflow found in (\d+) s", text)
    figure = f"planted overflow found in {found.group(1)} s" if found else "planted overflow NOT found"
    return [{"test": "C fuzzer canary (planted heap overflow)", "figure": figure, "goal": "found", "met": found is not None}]


def format_table(rows: list[Row]) -> str:
    """A plain-text table: test, figure, goal, and whether the goal is met."""
    header = ("test", "figure", "goal", "met")
    cells = [header] + [(str(r["test"]), str(r["figure"]), str(r["goal"]), "yes" if r["met"] else "NO") for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=default_results())
    parser.add_argument("--fuzz-log", type=Path)
    parser.add_argument("--canary-log", type=Path)
    args = parser.parse_args(argv)
    rows = read_rows(args.results)
    if not rows:
        print(f"no security figures recorded in {args.results}", file=sys.stderr)
        return 1
    if args.fuzz_log is not None:
        rows += fuzz_rows(args.fuzz_log)
    if args.canary_log is not None:
        rows += canary_rows(args.canary_log)
    print("security summary")
    print(format_table(rows))
    unmet = [row for row in rows if not row["met"]]
    if unmet:
        print(f"{len(unmet)} goal(s) not met", file=sys.stderr)
    return 1 if unmet else 0


if __name__ == "__main__":
    sys.exit(main())
