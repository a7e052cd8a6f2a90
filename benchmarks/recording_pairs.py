"""What recording the history costs a request-making command, measured closer than run.py's row:
``--no-cache --json`` with recording on and with ``CLAUDE_USAGE_HISTORY=0``, in alternating
pairs (the order flipped every pair), reporting the median of the paired differences.

    .venv/bin/python benchmarks/recording_pairs.py [PAIRS]   # default 100
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ServerProcess, clean_environment, fixture_body, make_workspace  # noqa: E402
from harness import paired  # noqa: E402
from run import command_argv  # noqa: E402


def main() -> None:
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory(prefix="claude-usage-bench-") as scratch:
        workspace = make_workspace(Path(scratch) / "workspace")
        with ServerProcess(workspace, fixture_body()) as server:
            on = clean_environment(
                workspace.home,
                CLAUDE_USAGE_API_URL=server.url,
                CLAUDE_USAGE_CA_BUNDLE=str(workspace.our_trust),
                CLAUDE_USAGE_CACHE_DIR=str(workspace.root / "cold-cache"),
                CLAUDE_USAGE_KEYCHAIN="file",
            )
            off = dict(on, CLAUDE_USAGE_HISTORY="0")
            on_ms, off_ms, difference = (seconds * 1e3 for seconds in paired([*command_argv(), "--no-cache", "--json"], on, off, pairs))
    print(
        f"{pairs} pairs: recording {on_ms:.2f} ms, CLAUDE_USAGE_HISTORY=0 {off_ms:.2f} ms; "
        f"median paired difference {difference:+.2f} ms (goal <= +3 ms)"
    )


if __name__ == "__main__":
    main()
