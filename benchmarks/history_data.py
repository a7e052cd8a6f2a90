"""A history file as 90 days of use would leave it: one sample a minute for three windows, each
one different from the last (so none is folded into the one before), written in bulk."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

from claude_usage.history import HistoryStore

WINDOWS = ("five_hour", "seven_day", "seven_day_sonnet")


def build(path: Path, account: str, *, days: float = 90.0, now: float | None = None) -> int:
    """Write ``days`` of minutes ending at ``now`` for ``account``; returns the number of samples."""
    end = int(time.time() if now is None else now)
    start = end - int(days * 86400)
    with HistoryStore(path) as store:
        store.record({WINDOWS[0]: (0.0, None, float(start - 60))}, account=account)  # the schema, the names
    connection = sqlite3.connect(path, isolation_level=None)
    account_id = connection.execute("SELECT id FROM accounts WHERE key = ?", (account,)).fetchone()[0]
    ids = []
    for key in WINDOWS:
        connection.execute("INSERT OR IGNORE INTO windows (key) VALUES (?)", (key,))
        ids.append(connection.execute("SELECT id FROM windows WHERE key = ?", (key,)).fetchone()[0])

    def samples():  # type: ignore[no-untyped-def]
        for at in range(start, end + 1, 60):
            minute = (at - start) // 60
            five_reset = start + (minute // 300 + 1) * 18000
            week_reset = start + (minute // 10080 + 1) * 604800
            five = round((minute % 300) * 0.3 + (minute % 7) * 0.01, 2)
            week = round((minute % 10080) * 0.009 + (minute % 3) * 0.001, 3)
            yield (account_id, ids[0], at, five, five_reset, 0)
            yield (account_id, ids[1], at, week, week_reset, 0)
            yield (account_id, ids[2], at, round(week / 3, 4) + (minute % 2) * 0.0001, week_reset, 0)

    connection.execute("BEGIN")
    connection.executemany("INSERT OR IGNORE INTO samples VALUES (?, ?, ?, ?, ?, ?)", samples())
    last = connection.execute("SELECT max(observed_at) FROM samples").fetchone()[0]
    for window_id in ids:
        connection.execute(
            "INSERT OR REPLACE INTO latest SELECT account, window, observed_at, utilization, resets_at, source FROM samples"
            " WHERE account = ? AND window = ? AND observed_at = ?",
            (account_id, window_id, last),
        )
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    count = connection.execute("SELECT count(*) FROM samples").fetchone()[0]
    connection.close()
    return int(count)


if __name__ == "__main__":
    target = Path(sys.argv[1])
    print(build(target, sys.argv[2] if len(sys.argv) > 2 else "file:/demo"), "samples,", target.stat().st_size, "bytes")
