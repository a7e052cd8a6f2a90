"""Case 8: does a warm client's per-call cost, or its process's memory, grow with the calls made?

Three worker processes (``python scaling.py worker URL CA_FILE HOME``) each hold one
``UsageClient``; they make 1, 100 and ``calls`` calls, then take turns, one timed call each per
round, so all three are measured under the same machine load and only their histories differ.
A worker that has made 10 000 calls costs what a fresh one costs if nothing grows, in the
client or anywhere in its process (the C module, the session, the deadline watchdog).
Resident memory is read after a ``gc.collect()`` at 100 calls and at the end.
"""

from __future__ import annotations

import gc
import statistics
import subprocess
import sys
import time
from typing import IO


def resident_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def worker(url: str, ca_file: str, home: str) -> None:
    """Answer ``calls N`` (untimed calls, then the RSS in KiB) and ``time`` (one call's seconds)."""
    from claude_usage import UsageClient

    environ = {"HOME": home, "CLAUDE_USAGE_KEYCHAIN": "file"}
    with UsageClient(api_url=url, verify=ca_file, environ=environ) as client:
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "calls":
                for _ in range(int(argument)):
                    client.get_usage()
                gc.collect()
                print(resident_kb(), flush=True)
            elif command == "time":
                start = time.perf_counter()
                client.get_usage()
                print(repr(time.perf_counter() - start), flush=True)


class Worker:
    def __init__(self, url: str, ca_file: str, home: str, env: dict[str, str]) -> None:
        self._process = subprocess.Popen(
            [sys.executable, __file__, "worker", url, ca_file, home],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def ask(self, line: str) -> str:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(line + "\n")
        stdin.flush()
        answer = stdout.readline()
        if not answer:
            raise RuntimeError(f"the scaling worker died (exit {self._process.wait()})")
        return answer.strip()

    def close(self) -> None:
        stdin: IO[str] | None = self._process.stdin
        if stdin is not None:
            stdin.close()
        self._process.wait(timeout=30)


def measure(url: str, ca_file: str, home: str, env: dict[str, str], calls: int, rounds: int) -> dict[str, object]:
    """Per-call medians of workers aged 1, 100 and ``calls`` calls, and the old one's RSS growth."""
    ages = (1, 100, calls)
    workers = {age: Worker(url, ca_file, home, env) for age in ages}
    try:
        rss_at_100 = int(workers[calls].ask("calls 100"))
        rss_at_end = int(workers[calls].ask(f"calls {calls - 100}"))
        workers[1].ask("calls 1")
        workers[100].ask("calls 100")
        timings: dict[int, list[float]] = {age: [] for age in ages}
        for _ in range(rounds):
            for age in ages:
                timings[age].append(float(workers[age].ask("time")))
    finally:
        for running in workers.values():
            running.close()
    return {
        "median_s": {age: statistics.median(values) for age, values in timings.items()},
        "rss_kb": {100: rss_at_100, calls: rss_at_end},
        "calls": calls,
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker(*sys.argv[2:5])
    else:
        sys.exit("usage: python scaling.py worker URL CA_FILE HOME (run.py drives the workers)")
