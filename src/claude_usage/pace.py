"""Pace math over one usage window, and the ISO 8601 timestamp parser.

Every function takes the window's ``utilization`` (percent), its ``resets_at`` (an aware
datetime) and the window's length in hours, so :class:`claude_usage.models.UsagePeriod` and the
module-level :func:`is_on_pace` share one implementation.

Datetimes: a naive datetime (``now`` or ``resets_at``) raises ``ValueError``, because in Python a
naive value usually means local time (``datetime.now()``) and guessing would shift the result by
the UTC offset. Timestamp *strings* without an offset are read as UTC, since that is what the API
speaks. ``now=None`` means ``datetime.now(timezone.utc)``.
"""

from __future__ import annotations

import math
import re
import sys
from datetime import datetime, timedelta, timezone

__all__ = [
    "as_utc",
    "is_on_pace",
    "on_pace",
    "parse_timestamp",
    "parse_usual_timestamp",
    "projected_utilization",
    "resolve_now",
    "time_elapsed_percent",
    "time_until_exhausted",
    "time_until_reset",
]

# The whole accepted grammar, hand-written because Python 3.10's datetime.fromisoformat rejects
# "Z" and fractions other than 3 or 6 digits; this accepts the same on every supported version.
# A string rather than a compiled pattern: only unusual forms get here, and compiling costs about
# a millisecond at import (re caches the compiled pattern on first use).
_TIMESTAMP = (
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?"
    r"(?P<offset>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)
_UTC = timezone.utc
if sys.version_info >= (3, 11):
    _fromisoformat = datetime.fromisoformat
else:

    def _fromisoformat(text: str) -> datetime:
        """3.10's fromisoformat reads only its own output: ``+00:00`` for ``Z``, fractions of 3 or 6
        digits. The fast path's shape check has already placed the fraction and the offset."""
        if text[-1] == "Z":
            text = text[:-1] + "+00:00"
        if text[19] == ".":
            text = text[:20] + text[20:-6].ljust(6, "0") + text[-6:]
        return datetime.fromisoformat(text)


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO 8601 date-time into an aware UTC datetime; raise ``ValueError`` if it is not one.

    Accepts ``Z``/``z``, ``+HH:MM``, ``+HHMM``, ``+HH`` or no offset (read as UTC); seconds and a
    fraction of any length (digits beyond microseconds are truncated) are optional.
    """
    if not isinstance(text, str):
        raise ValueError(f"timestamp must be a string, not {type(text).__name__}")
    parsed = parse_usual_timestamp(text)
    return _parse_with_pattern(text) if parsed is None else parsed


def parse_usual_timestamp(text: str) -> datetime | None:
    """:func:`parse_timestamp`'s fast path, for the shape servers send; ``None`` for any other text.

    The shape is ``YYYY-MM-DDTHH:MM:SS``, an optional fraction of 1-6 digits, then ``Z`` or
    ``+HH:MM``/``-HH:MM``. It goes to ``datetime.fromisoformat``, 20x faster than the pattern,
    which for that shape reads exactly what the pattern reads (it checks every digit itself),
    except hour 24 (some versions take it) and offset minutes over 59 (it adds them up): those
    are left to the pattern. So is text it refuses (3.10 refuses ``Z``): the pattern decides,
    and words the error.
    """
    size = len(text)
    if size == 20:  # the usual two first: YYYY-MM-DDTHH:MM:SSZ
        usual = text[19] == "Z"
    elif size == 32:  # and YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM
        usual = text[19] == "." and text[29] == ":" and text[26] in "+-" and text[30] < "6"
    elif text[-1:] == "Z":  # YYYY-MM-DDTHH:MM:SS.f{1,6}Z
        usual = 22 <= size <= 27 and text[19] == "."
    else:  # +HH:MM after no fraction or one of 1-5 digits (6 is the case of 32)
        usual = (
            (size == 25 or (27 <= size <= 31 and text[19] == "."))
            and text[-3] == ":"
            and text[-6] in "+-"
            and text[-2] < "6"
        )
    if not usual or text[4:17:3] != "--T::" or (text[12] == "4" and text[11] == "2"):
        return None
    try:
        parsed = _fromisoformat(text)
        return parsed if parsed.tzinfo is _UTC else parsed.astimezone(_UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 with a positive offset
        return None


def _parse_with_pattern(text: str) -> datetime:
    match = re.fullmatch(_TIMESTAMP, text.strip(), re.ASCII)
    if match is None:
        raise ValueError(f"not an ISO 8601 timestamp: {text[:40]!r}")
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    tz = _parse_offset(match["offset"])
    try:
        parsed = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            int(fraction),
            tzinfo=tz,
        )
        return parsed.astimezone(_UTC)
    except (ValueError, OverflowError) as exc:
        # OverflowError: year 1 with a positive offset falls before datetime.min in UTC.
        raise ValueError(f"not a valid timestamp: {text[:40]!r} ({exc})") from None


def _parse_offset(offset: str | None) -> timezone:
    if offset is None or offset in ("Z", "z"):
        return timezone.utc
    digits = offset[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"UTC offset out of range: {offset!r}")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if offset[0] == "-" else delta)


def as_utc(value: datetime, what: str = "datetime") -> datetime:
    """Return ``value`` converted to UTC; raise ``ValueError`` for a naive datetime."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (use datetime.now(timezone.utc))")
    return value.astimezone(timezone.utc)


def resolve_now(now: datetime | None) -> datetime:
    """``now`` in UTC, or the current time when ``None``; raise ``ValueError`` for a naive ``now``."""
    return _utc_now() if now is None else as_utc(now, "now")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _period_seconds(period_hours: float) -> float:
    if isinstance(period_hours, bool) or not (math.isfinite(period_hours) and period_hours > 0):
        raise ValueError(f"period_hours must be a positive number, got {period_hours!r}")
    return float(period_hours) * 3600.0


def _elapsed_seconds(resets_at: datetime, period_seconds: float, now: datetime) -> float:
    """Seconds since the window started, clamped to [0, period]."""
    remaining = (resets_at - now).total_seconds()
    return min(max(period_seconds - remaining, 0.0), period_seconds)


def time_until_reset(resets_at: datetime, *, now: datetime | None = None) -> timedelta:
    """Time left until ``resets_at``; negative once it has passed."""
    return as_utc(resets_at, "resets_at") - resolve_now(now)


def time_elapsed_percent(resets_at: datetime, period_hours: float, *, now: datetime | None = None) -> float:
    """How much of the window has passed, in percent, clamped to [0, 100]."""
    period = _period_seconds(period_hours)
    return _elapsed_seconds(as_utc(resets_at, "resets_at"), period, resolve_now(now)) / period * 100.0


def on_pace(
    utilization: float, resets_at: datetime, period_hours: float, *, now: datetime | None = None
) -> bool:
    """True when no more of the window is used than of its time (utilization <= elapsed percent)."""
    return utilization <= time_elapsed_percent(resets_at, period_hours, now=now)


def projected_utilization(
    utilization: float, resets_at: datetime, period_hours: float, *, now: datetime | None = None
) -> float | None:
    """Utilization at reset if use continues at the average rate so far; ``None`` at the window's start."""
    elapsed = time_elapsed_percent(resets_at, period_hours, now=now)
    if elapsed == 0.0:
        return None
    return utilization / elapsed * 100.0


def time_until_exhausted(
    utilization: float, resets_at: datetime, period_hours: float, *, now: datetime | None = None
) -> timedelta | None:
    """Time until 100% at the average rate so far.

    ``timedelta(0)`` when already at or above 100%; ``None`` when nothing has been used, no time
    has passed, or 100% would not be reached before the reset.
    """
    period = _period_seconds(period_hours)
    resets_at = as_utc(resets_at, "resets_at")
    current = resolve_now(now)
    if utilization >= 100.0:
        return timedelta(0)
    elapsed = _elapsed_seconds(resets_at, period, current)
    if utilization <= 0.0 or elapsed == 0.0:
        return None
    # (100 - u) / (u / elapsed), written so that exact inputs give exact seconds.
    seconds_needed = (100.0 - utilization) * elapsed / utilization
    if seconds_needed >= (resets_at - current).total_seconds():
        return None
    return timedelta(seconds=seconds_needed)


def is_on_pace(
    utilization: float, resets_at: datetime | str, period_hours: float, *, now: datetime | None = None
) -> bool:
    """The Node binding's ``isOnPace``: ``resets_at`` is an aware datetime or an ISO 8601 string.

    Raises ``ValueError`` for an unparseable string, a naive datetime or a non-positive period.
    """
    reset = parse_timestamp(resets_at) if isinstance(resets_at, str) else resets_at
    return on_pace(utilization, reset, period_hours, now=now)
