"""Tools of the security suite: recording figures, running a child Python, reading its memory.

A figure is one row of the summary table (test, figure, goal, met). Each test records its
figures with :func:`record` into a JSON-lines file that the suite's conftest prints at the end
and that ``summary.py`` merges with the C fuzzing results for ``.ci/run``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS_VARIABLE = "CLAUDE_USAGE_SECURITY_RESULTS"
DEFAULT_RESULTS = HERE / ".results.jsonl"


def results_path() -> Path:
    """Where figures are recorded: ``$CLAUDE_USAGE_SECURITY_RESULTS`` or tests/security/.results.jsonl."""
    return Path(os.environ.get(RESULTS_VARIABLE) or DEFAULT_RESULTS)


#: This process's rows, for the table pytest prints (the file may be shared by concurrent runs).
ROWS: list[dict[str, object]] = []


def record(test: str, figure: str, goal: str, met: bool) -> None:
    """Append one row of the summary table."""
    row = {"test": test, "figure": figure, "goal": goal, "met": bool(met)}
    ROWS.append(row)
    with results_path().open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


def child_environment(home: Path, **extra: str) -> dict[str, str]:
    """A minimal environment for a child Python: the fake home and nothing secret inherited."""
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(extra)
    return env


class Child:
    """A child Python running ``script``; it prints one line when ready, then waits for stdin."""

    def __init__(self, script: str, args: Sequence[str], env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def ready(self, timeout: float = 30.0) -> str:
        """The child's one-line report, once it has done its work and is waiting."""
        assert self.process.stdout is not None
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.process.kill()
                raise TimeoutError(f"child did not report within {timeout} s")
        line = self.process.stdout.readline().strip()
        if not line:
            _, err = self.process.communicate(timeout=timeout)
            raise RuntimeError(f"child exited with {self.process.returncode}: {err[-2000:]}")
        return line

    def finish(self, timeout: float = 30.0) -> tuple[int, str]:
        """Let the child exit; its exit status and stderr."""
        _, err = self.process.communicate("\n", timeout=timeout)
        return self.process.returncode, err

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


_UNREADABLE = ("[vvar]", "[vsyscall]", "[vvar_vclock]")
_CHUNK = 8 * 1024 * 1024


def count_in_memory(pid: int, needles: Mapping[str, bytes]) -> dict[str, int]:
    """How many times each needle occurs in the readable memory of process ``pid``.

    Reads ``/proc/<pid>/maps`` and ``/proc/<pid>/mem`` from outside, so the scanned process
    never holds the needles itself (see SECURITY.md, "How the figures are measured").
    """
    counts = {name: 0 for name in needles}
    overlap = max(len(n) for n in needles.values()) - 1
    with open(f"/proc/{pid}/maps", encoding="latin-1") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            fields = line.split()
            if not fields[1].startswith("r") or (len(fields) > 5 and fields[5] in _UNREADABLE):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            tail = b""
            position = start
            while position < end:
                try:
                    mem.seek(position)
                    block = mem.read(min(_CHUNK, end - position))
                except OSError:
                    break
                if not block:
                    break
                window = tail + block
                for name, needle in needles.items():
                    # Occurrences wholly inside `tail` were counted with the previous block.
                    counts[name] += window.count(needle) - tail.count(needle)
                tail = window[-overlap:]
                position += len(block)
    return counts
