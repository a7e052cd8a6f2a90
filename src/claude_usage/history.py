"""Usage history: every observation kept in a local SQLite file, and burn-rate maths over it.

The store is ``history.sqlite3`` in ``$CLAUDE_USAGE_STATE_DIR``, else
``$XDG_STATE_HOME/claude-usage``, else ``~/.local/state/claude-usage`` (file 0600, directory
0700, WAL). A row is one window at one moment: utilization, ``resets_at``, when it was observed,
the source (``server`` or ``stdin``) and the account, as the credential source's non-secret key
(the login's *location*, as the cache names it; never token bytes). A sample identical to the
previous one of its window is not stored again: only the window's "last seen" time moves on, so
a flat stretch costs no rows and still reads as flat rather than as missing.

Never in the way: :meth:`HistoryStore.record` never raises. A locked, full or read-only database
loses that one observation; a corrupt file is moved aside (``history.sqlite3.corrupt-<time>``) and
recreated, with one warning through ``warn``.

The maths (:func:`burn_rate`, :func:`projected_at_reset`, :func:`hours_to_full`,
:func:`times_full`, :func:`project`) is pure: samples and a time in, numbers out.

No HTTP import; ``sqlite3`` itself is imported only when a store is opened, so the cache-hit path,
which never records, never loads it.
"""

from __future__ import annotations

import os
import stat
import time

from claude_usage._typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from datetime import datetime
    from typing import Any

    from claude_usage.models import UsageData, UsagePeriod

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "FILE_NAME",
    "HISTORY_VARIABLE",
    "RETENTION_VARIABLE",
    "SCHEMA_VERSION",
    "STATE_DIR_VARIABLE",
    "HistoryStore",
    "Projection",
    "Sample",
    "burn_rate",
    "default_state_dir",
    "hours_to_full",
    "observations_of",
    "project",
    "projected_at_reset",
    "recording_enabled",
    "times_full",
]

STATE_DIR_VARIABLE = "CLAUDE_USAGE_STATE_DIR"
HISTORY_VARIABLE = "CLAUDE_USAGE_HISTORY"
RETENTION_VARIABLE = "CLAUDE_USAGE_HISTORY_DAYS"
DEFAULT_RETENTION_DAYS = 90.0
FILE_NAME = "history.sqlite3"
SOURCES = ("server", "stdin")
#: How long a writer waits for another's lock before dropping its observation.
BUSY_TIMEOUT_MS = 5000

#: Schema version n is reached by running MIGRATIONS[n - 1] on version n - 1 (``PRAGMA user_version``).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE accounts (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
    CREATE TABLE windows (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
    CREATE TABLE samples (
        account INTEGER NOT NULL REFERENCES accounts(id),
        window INTEGER NOT NULL REFERENCES windows(id),
        observed_at INTEGER NOT NULL,
        utilization REAL NOT NULL,
        resets_at INTEGER,
        source INTEGER NOT NULL,
        PRIMARY KEY (account, window, observed_at)
    ) WITHOUT ROWID;
    CREATE TABLE latest (
        account INTEGER NOT NULL,
        window INTEGER NOT NULL,
        observed_at INTEGER NOT NULL,
        utilization REAL NOT NULL,
        resets_at INTEGER,
        source INTEGER NOT NULL,
        PRIMARY KEY (account, window)
    ) WITHOUT ROWID;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def default_state_dir(environ: Mapping[str, str]) -> str | None:
    """``$CLAUDE_USAGE_STATE_DIR``, else ``$XDG_STATE_HOME/claude-usage``, else ``~/.local/state/claude-usage``."""
    from claude_usage.cache import user_dir

    return user_dir(environ, STATE_DIR_VARIABLE, "XDG_STATE_HOME", ".local", "state")


def recording_enabled(environ: Mapping[str, str]) -> bool:
    """False when ``CLAUDE_USAGE_HISTORY`` is ``0`` (or ``off``, ``false``, ``no``)."""
    return environ.get(HISTORY_VARIABLE, "").strip().lower() not in ("0", "off", "false", "no")


def retention_days(environ: Mapping[str, str]) -> float:
    """``CLAUDE_USAGE_HISTORY_DAYS`` (a positive number), else 90."""
    try:
        days = float(environ.get(RETENTION_VARIABLE, ""))
    except ValueError:
        return DEFAULT_RETENTION_DAYS
    return days if 0 < days < float("inf") else DEFAULT_RETENTION_DAYS


class Sample:
    """One window at one moment. Times are epoch seconds; ``resets_at`` ``None`` when not known."""

    __slots__ = ("window", "observed_at", "utilization", "resets_at", "source", "account")

    def __init__(
        self,
        window: str,
        observed_at: float,
        utilization: float,
        resets_at: float | None = None,
        source: str = "server",
        account: str = "",
    ) -> None:
        self.window = window
        self.observed_at = observed_at
        self.utilization = utilization
        self.resets_at = resets_at
        self.source = source
        self.account = account

    def as_tuple(self) -> tuple[str, float, float, float | None, str, str]:
        return (self.window, self.observed_at, self.utilization, self.resets_at, self.source, self.account)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sample) and self.as_tuple() == other.as_tuple()

    def __hash__(self) -> int:
        return hash(self.as_tuple())

    def __repr__(self) -> str:
        return (
            f"Sample({self.window!r}, observed_at={self.observed_at!r}, utilization={self.utilization!r}, "
            f"resets_at={self.resets_at!r}, source={self.source!r})"
        )


def observations_of(usage: UsageData, observed_at: float) -> dict[str, tuple[float, float | None, float]]:
    """Every window of ``usage`` as :meth:`HistoryStore.record` takes it."""
    return {
        key: (period.utilization, None if period.resets_at is None else period.resets_at.timestamp(), observed_at)
        for key, period in usage.windows.items()
    }


class HistoryStore:
    """The history file. Opened lazily (first record or read); ``close()`` when done.

    ``warn`` receives one line when a corrupt file was moved aside (the command prints it on stderr).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        retention_days: float = DEFAULT_RETENTION_DAYS,
        warn: Callable[[str], None] | None = None,
        busy_timeout: float = BUSY_TIMEOUT_MS / 1000,
    ) -> None:
        self.path = None if path is None else os.fspath(path)
        self.busy_timeout = busy_timeout
        self.retention_seconds = retention_days * 86400.0
        self._warn = warn
        self._connection: sqlite3.Connection | None = None
        self.last_error: str | None = None
        """Why the last record or read did nothing (no secret in it), else ``None``."""

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, warn: Callable[[str], None] | None = None
    ) -> HistoryStore:
        env = os.environ if environ is None else environ
        directory = default_state_dir(env)
        return cls(
            None if directory is None else os.path.join(directory, FILE_NAME), retention_days=retention_days(env), warn=warn
        )

    # -- opening -----------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection | None:
        if self._connection is not None:
            return self._connection
        if self.path is None:
            self.last_error = "no state directory (set CLAUDE_USAGE_STATE_DIR or HOME)"
            return None
        import sqlite3

        try:
            self._connection = self._connect(sqlite3)
        except sqlite3.DatabaseError as error:
            if not _is_corruption(error):
                self.last_error = f"history unavailable: {error}"
                self._discard()
                return None
            self._discard()
            try:
                aside = self._set_aside()
                self._connection = self._connect(sqlite3)
            except (OSError, sqlite3.Error) as again:
                self.last_error = f"history unavailable: {again}"
                self._discard()
                return None
            self._warn_set_aside(error, aside)
        except OSError as error:
            self.last_error = f"history unavailable: {error.strerror or error}"
            return None
        return self._connection

    def _discard(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # noqa: BLE001 - closing a broken handle must not fail anything
                pass
            self._connection = None

    def _connect(self, module: Any) -> sqlite3.Connection:
        assert self.path is not None
        directory = os.path.dirname(self.path) or "."
        _prepare_directory(directory)
        if not os.path.exists(self.path):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600))
        connection: sqlite3.Connection = module.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                _migrate(connection, version)
            elif version > SCHEMA_VERSION:
                raise module.OperationalError(f"the history file has schema {version}, newer than this version's {SCHEMA_VERSION}")
            # NORMAL: a commit is durable against a crash of the process (not of the machine)
            # without an fsync; the WAL is checkpointed every 256 pages and kept under 1 MiB.
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA wal_autocheckpoint = 256")
            connection.execute("PRAGMA journal_size_limit = 1048576")
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        self._discard()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------

    def record(
        self, observations: Mapping[str, tuple[float, float | None, float]], *, account: str, source: str = "server"
    ) -> int:
        """Store window key -> (utilization, resets_at, observed_at); returns the rows added.

        ``source`` is ``"server"`` (an answer of the usage endpoint) or ``"stdin"`` (what Claude
        Code passed a status line). A sample equal to its window's previous one (utilization and
        ``resets_at``) only moves the window's last-seen time. Never raises: a failure returns 0
        and says why in :attr:`last_error`.
        """
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        if not observations:
            return 0
        deadline = time.monotonic() + self.busy_timeout
        moved = False
        while True:
            connection = self._open()
            if connection is None:
                if _is_busy(self.last_error) and time.monotonic() < deadline:
                    time.sleep(0.01)
                    continue
                return 0
            try:
                return self._record(connection, observations, account, SOURCES.index(source))
            except Exception as error:  # noqa: BLE001 - sqlite3.Error and anything odd in the file
                self.last_error = f"history not recorded: {error}"
                try:
                    connection.execute("ROLLBACK")
                except Exception:  # noqa: BLE001 - no transaction was open
                    pass
                if not moved and _is_corruption(error):
                    moved = True
                    self._discard()
                    self._move_aside(error)
                    continue
                # SQLite's busy handler does not cover every lock (a schema being created, a WAL
                # being recovered): a short wait and another try, within the same deadline.
                if _is_busy(str(error)) and time.monotonic() < deadline:
                    time.sleep(0.01)
                    continue
                return 0

    def _move_aside(self, error: BaseException) -> None:
        """A file that opened but turned out corrupt: moved aside so the next open recreates it."""
        try:
            aside = self._set_aside()
        except OSError:
            return
        self._warn_set_aside(error, aside)

    def _set_aside(self) -> str:
        """Renames the file to ``<path>.corrupt-<time>`` and drops its WAL and shared memory."""
        assert self.path is not None
        aside = f"{self.path}.corrupt-{int(time.time())}"
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.remove(self.path + suffix)
        return aside

    def _warn_set_aside(self, error: BaseException, aside: str) -> None:
        if self._warn is not None:
            self._warn(f"the history file was corrupt ({error}); moved it to {aside} and started a new one")

    def _record(
        self, connection: sqlite3.Connection, observations: Mapping[str, tuple[float, float | None, float]], account: str, source: int
    ) -> int:
        added = 0
        connection.execute("BEGIN IMMEDIATE")
        account_id = _name_id(connection, "accounts", account)
        for window, (utilization, resets_at, observed_at) in observations.items():
            window_id = _name_id(connection, "windows", window)
            at = int(observed_at)
            reset = None if resets_at is None else int(round(resets_at))
            value = float(utilization)
            previous = connection.execute(
                "SELECT observed_at, utilization, resets_at FROM latest WHERE account = ? AND window = ?", (account_id, window_id)
            ).fetchone()
            if previous is not None and at < previous[0]:
                continue  # older than what is known (a slow process): history only moves forward
            if previous is None or (previous[1], previous[2]) != (value, reset):
                cursor = connection.execute(
                    "INSERT OR IGNORE INTO samples VALUES (?, ?, ?, ?, ?, ?)", (account_id, window_id, at, value, reset, source)
                )
                added += cursor.rowcount
            connection.execute(
                "INSERT OR REPLACE INTO latest VALUES (?, ?, ?, ?, ?, ?)", (account_id, window_id, at, value, reset, source)
            )
            # Retention, per recorded window: a range delete on the primary key, cheap at any size.
            connection.execute(
                "DELETE FROM samples WHERE account = ? AND window = ? AND observed_at < ?",
                (account_id, window_id, int(at - self.retention_seconds)),
            )
        connection.execute("COMMIT")
        self.last_error = None
        return added

    def record_usage(self, usage: UsageData, *, account: str, observed_at: float, source: str = "server") -> int:
        """:meth:`record` of every window of ``usage``."""
        return self.record(observations_of(usage, observed_at), account=account, source=source)

    # -- reading ------------------------------------------------------------------------------

    def samples(
        self,
        window: str | None = None,
        *,
        since: float | None = None,
        until: float | None = None,
        account: str | None = None,
        with_previous: bool = False,
    ) -> list[Sample]:
        """Samples in time order (per account and window), ``since <= observed_at <= until``;
        ``account`` ``None``: every account. ``with_previous`` adds the last sample before
        ``since`` (of ``window`` and ``account``), where a rate over the span starts.

        A window whose last sample was repeated since (and so not stored again) gets it once more
        at its last-seen time, so a flat stretch reads as flat rather than as missing."""
        lower = -(2**62) if since is None else int(since)
        upper = 2**62 if until is None else int(until)
        where, parameters = _filter(window, account)
        rows = self._query(
            f"SELECT w.key, s.observed_at, s.utilization, s.resets_at, s.source, a.key FROM samples s {_JOINS}"
            f" WHERE {where} AND s.observed_at BETWEEN ? AND ? ORDER BY a.key, w.key, s.observed_at",
            (*parameters, lower, upper),
        )
        if with_previous and since is not None:
            rows = self._query(
                f"SELECT w.key, s.observed_at, s.utilization, s.resets_at, s.source, a.key FROM samples s {_JOINS}"
                f" WHERE {where} AND s.observed_at < ? ORDER BY s.observed_at DESC LIMIT 1",
                (*parameters, lower),
            ) + rows
        return self._with_latest(rows, where, parameters, lower, upper)

    def peaks(
        self, window: str, *, since: float, until: float, buckets: int, account: str | None = None
    ) -> list[Sample]:
        """What a chart of ``buckets`` columns needs: per column and ``resets_at``, the sample with
        the highest utilization (in time order), and the window's last-seen sample. Far fewer
        rows than :meth:`samples` for a long span, and the same picture."""
        lower, upper = int(since), int(until)
        width = max(1.0, (upper - lower) / max(1, buckets))
        where, parameters = _filter(window, account)
        # SQLite gives the other columns of the row holding max() (its documented bare-column rule).
        rows = self._query(
            f"SELECT w.key, s.observed_at, max(s.utilization), s.resets_at, s.source, a.key FROM samples s {_JOINS}"
            f" WHERE {where} AND s.observed_at BETWEEN ? AND ?"
            " GROUP BY a.key, CAST((s.observed_at - ?) / ? AS INTEGER), s.resets_at ORDER BY a.key, s.observed_at",
            (*parameters, lower, upper, lower, width),
        )
        return self._with_latest(rows, where, parameters, lower, upper)

    def _query(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        connection = self._open()
        if connection is None:
            return []
        try:
            return connection.execute(sql, parameters).fetchall()
        except Exception as error:  # noqa: BLE001
            self.last_error = f"history unreadable: {error}"
            return []

    def _with_latest(self, rows: list[Any], where: str, parameters: Sequence[Any], lower: int, upper: int) -> list[Sample]:
        latest = self._query(
            f"SELECT w.key, s.observed_at, s.utilization, s.resets_at, s.source, a.key FROM latest s {_JOINS}"
            f" WHERE {where} AND s.observed_at BETWEEN ? AND ?",
            (*parameters, lower, upper),
        )
        found = [_sample(row) for row in rows]
        last_at: dict[tuple[str, str], float] = {}
        for sample in found:
            last_at[(sample.account, sample.window)] = max(sample.observed_at, last_at.get((sample.account, sample.window), -(2.0**62)))
        for row in latest:
            sample = _sample(row)
            if last_at.get((sample.account, sample.window), -(2.0**62)) < sample.observed_at:
                found.append(sample)
        found.sort(key=lambda sample: (sample.account, sample.window, sample.observed_at))
        return found


_JOINS = "JOIN windows w ON w.id = s.window JOIN accounts a ON a.id = s.account"


def _filter(window: str | None, account: str | None) -> tuple[str, list[Any]]:
    where = ["1"]
    parameters: list[Any] = []
    if window is not None:
        where.append("w.key = ?")
        parameters.append(window)
    if account is not None:
        where.append("a.key = ?")
        parameters.append(account)
    return " AND ".join(where), parameters


def _sample(row: Sequence[Any]) -> Sample:
    window, observed_at, utilization, resets_at, source, account = row
    return Sample(window, float(observed_at), float(utilization), None if resets_at is None else float(resets_at),
                  SOURCES[source] if 0 <= source < len(SOURCES) else "unknown", account)


def _name_id(connection: sqlite3.Connection, table: str, key: str) -> int:
    row = connection.execute(f"SELECT id FROM {table} WHERE key = ?", (key,)).fetchone()
    if row is not None:
        return int(row[0])
    cursor = connection.execute(f"INSERT INTO {table} (key) VALUES (?)", (key,))
    return int(cursor.lastrowid or 0)


def _migrate(connection: sqlite3.Connection, version: int) -> None:
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: another process may have migrated meanwhile.
        current = connection.execute("PRAGMA user_version").fetchone()[0]
        for number in range(current, SCHEMA_VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {max(current, SCHEMA_VERSION)}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _is_busy(text: str | None) -> bool:
    return text is not None and ("locked" in text or "busy" in text)


def _is_corruption(error: BaseException) -> bool:
    text = str(error).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _prepare_directory(directory: str) -> None:
    os.makedirs(directory, mode=0o700, exist_ok=True)
    info = os.stat(directory)
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077 and (not hasattr(os, "geteuid") or info.st_uid == os.geteuid()):
        os.chmod(directory, mode & 0o700)


# -- the maths ------------------------------------------------------------------------------------


def burn_rate(samples: Sequence[Sample], *, now: float, hours: float) -> float | None:
    """Percentage points used per hour over the ``hours`` before ``now``, from one window's samples.

    Usage only falls at a reset, so a fall counts as a reset followed by the new value's use.
    The span starts at the last sample at or before ``now - hours`` (its value holds until the
    next), or at the first sample inside the span when none is older; it ends at the last sample.
    ``None`` when fewer than two samples cover a positive time.
    """
    start = now - hours * 3600.0
    ordered = sorted((sample for sample in samples if sample.observed_at <= now), key=lambda sample: sample.observed_at)
    before = [sample for sample in ordered if sample.observed_at <= start]
    inside = [sample for sample in ordered if sample.observed_at > start]
    if not inside:
        return None
    if before:
        previous, begin = before[-1], start
    else:
        previous, begin = inside[0], inside[0].observed_at
        inside = inside[1:]
    end = inside[-1].observed_at if inside else begin
    if end <= begin:
        return None
    used = 0.0
    for sample in inside:
        rise = sample.utilization - previous.utilization
        used += sample.utilization if rise < 0 else rise
        previous = sample
    return used / ((end - begin) / 3600.0)


def projected_at_reset(utilization: float, rate_per_hour: float, *, now: float, resets_at: float) -> float:
    """Utilization at the reset if use goes on at ``rate_per_hour`` (not capped at 100)."""
    return utilization + rate_per_hour * max(0.0, resets_at - now) / 3600.0


def hours_to_full(utilization: float, rate_per_hour: float, *, now: float, resets_at: float | None = None) -> float | None:
    """Hours until 100% at ``rate_per_hour``: 0 when already there; ``None`` when the rate is not
    positive or 100% would come only after ``resets_at``."""
    if utilization >= 100.0:
        return 0.0
    if rate_per_hour <= 0:
        return None
    hours = (100.0 - utilization) / rate_per_hour
    if resets_at is not None and now + hours * 3600.0 >= resets_at:
        return None
    return hours


def times_full(samples: Iterable[Sample]) -> tuple[int, int]:
    """(periods that reached 100%, periods seen) among one window's samples; a period is one ``resets_at``."""
    periods: dict[float | None, bool] = {}
    for sample in samples:
        periods[sample.resets_at] = periods.get(sample.resets_at, False) or sample.utilization >= 100.0
    return sum(periods.values()), len(periods)


class Projection:
    """Where a window is heading: the burn ``rate`` (points per hour, ``None`` without history), the
    utilization at reset and the hours until 100% (``None``: not before the reset), and ``basis``:
    ``"history"`` (recent samples) or ``"average"`` (the average rate since the window began)."""

    __slots__ = ("rate_per_hour", "at_reset", "hours_to_full", "basis")

    def __init__(self, rate_per_hour: float | None, at_reset: float | None, hours_to_full: float | None, basis: str) -> None:
        self.rate_per_hour = rate_per_hour
        self.at_reset = at_reset
        self.hours_to_full = hours_to_full
        self.basis = basis

    def __repr__(self) -> str:
        return (
            f"Projection(rate_per_hour={self.rate_per_hour!r}, at_reset={self.at_reset!r}, "
            f"hours_to_full={self.hours_to_full!r}, basis={self.basis!r})"
        )


def project(
    period: UsagePeriod, period_hours: float, samples: Sequence[Sample] = (), *, now: datetime | None = None, hours: float = 1.0
) -> Projection:
    """The projection of a :class:`~claude_usage.models.UsagePeriod`: from the burn rate over the
    last ``hours`` of ``samples`` when they give one, else from the average rate since the window
    began (:meth:`UsagePeriod.projected_utilization`)."""
    from claude_usage import pace

    current = pace.resolve_now(now)
    at = current.timestamp()
    reset = None if period.resets_at is None else period.resets_at.timestamp()
    rate = burn_rate(samples, now=at, hours=hours) if samples else None
    if rate is not None:
        at_reset = None if reset is None else projected_at_reset(period.utilization, rate, now=at, resets_at=reset)
        return Projection(rate, at_reset, hours_to_full(period.utilization, rate, now=at, resets_at=reset), "history")
    average = period.projected_utilization(period_hours, now=current)
    left = period.time_until_exhausted(period_hours, now=current)
    return Projection(None, average, None if left is None else left.total_seconds() / 3600.0, "average")
