"""Whole-process timings: run commands interleaved, many times; wall-clock median and peak RSS.

Each command is started by ``spawn_rss`` (spawn_rss.c, compiled on first use): Linux keeps a
process's peak RSS across ``exec``, so a child forked from this (large) Python process would report
at least this process's size; forked from that small program, ``wait4``'s ``ru_maxrss`` is the
command's own peak. Commands of one comparison run interleaved, in a shuffled order each round, so
load changes on a busy machine hit every side alike: absolute times vary between runs, the ratios
much less.
"""

from __future__ import annotations

import random
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LAUNCHER_SOURCE = Path(__file__).resolve().parent / "spawn_rss.c"


@dataclass(frozen=True)
class Command:
    """One command of a comparison: its argv, its environment, what its stdout must contain, and
    the file its stdin comes from (``None``: /dev/null)."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    expect_stdout: bytes = b""
    stdin: Path | None = None


@dataclass
class Runs:
    """Every timed run of one command."""

    seconds: list[float] = field(default_factory=list)
    max_rss_kb: list[int] = field(default_factory=list)

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_rss_kb(self) -> float:
        return statistics.median(self.max_rss_kb)


class CommandFailed(RuntimeError):
    pass


def build_launcher(directory: Path) -> Path:
    """Compile spawn_rss.c with the system C compiler (the package's build needs one anyway)."""
    launcher = directory / "spawn_rss"
    subprocess.run(
        ["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(launcher), str(LAUNCHER_SOURCE)],
        check=True,
    )
    return launcher


def run_once(command: Command, launcher: Path) -> tuple[float, int]:
    """Run ``command`` once with its output discarded; return (wall seconds, peak RSS in KiB)."""
    feed = [] if command.stdin is None else ["-i", str(command.stdin)]
    done = subprocess.run(
        [str(launcher), *feed, *command.argv], env=dict(command.env), capture_output=True, text=True, check=True
    )
    nanoseconds, rss_kb, exit_code = (int(field) for field in done.stdout.split())
    if exit_code != 0:
        raise CommandFailed(f"{command.name} exited with {exit_code}")
    return nanoseconds / 1e9, rss_kb


def check(command: Command) -> None:
    """Run once with output captured: a benchmark of a command that fails would measure nothing."""
    with open(command.stdin or "/dev/null", "rb") as stdin:
        done = subprocess.run(list(command.argv), env=dict(command.env), stdin=stdin, capture_output=True, timeout=60)
    if done.returncode != 0 or command.expect_stdout not in done.stdout:
        raise CommandFailed(
            f"{command.name} exited with {done.returncode}; stdout {done.stdout[:300]!r}; "
            f"stderr {done.stderr[-500:]!r}"
        )


def measure(
    commands: Sequence[Command], rounds: int, launcher: Path, *, warmup: int = 2, seed: int = 7
) -> dict[str, Runs]:
    """Check each command, warm the page cache, then time ``rounds`` interleaved rounds."""
    for command in commands:
        check(command)
        for _ in range(warmup):
            run_once(command, launcher)
    results = {command.name: Runs() for command in commands}
    order = list(commands)
    shuffle = random.Random(seed).shuffle
    for _ in range(rounds):
        shuffle(order)
        for command in order:
            seconds, rss = run_once(command, launcher)
            results[command.name].seconds.append(seconds)
            results[command.name].max_rss_kb.append(rss)
    return results


def imported_modules(argv: Sequence[str], env: Mapping[str, str]) -> set[str]:
    """The modules a Python command imports, from ``-X importtime`` (argv[0] must be the interpreter)."""
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], env=dict(env), capture_output=True, timeout=60, check=True
    )
    names = set()
    for line in done.stderr.decode(errors="replace").splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def paired(argv: Sequence[str], on: Mapping[str, str], off: Mapping[str, str], pairs: int) -> tuple[float, float, float]:
    """The median seconds of ``argv`` run with ``on`` and with ``off``, and the median of their
    differences taken pair by pair (the order flipped every pair, after five warm-up pairs).

    For a cost of a few ms on a ~100 ms command: the difference of two medians taken over
    separate rounds moves by more than that with the machine's load, a paired one does not."""
    import time

    def once(env: Mapping[str, str]) -> float:
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - started

    for _ in range(5):
        once(on), once(off)
    with_on, with_off, differences = [], [], []
    for index in range(pairs):
        if index % 2:
            a = once(on)
            b = once(off)
        else:
            b = once(off)
            a = once(on)
        with_on.append(a)
        with_off.append(b)
        differences.append(a - b)
    return statistics.median(with_on), statistics.median(with_off), statistics.median(differences)
