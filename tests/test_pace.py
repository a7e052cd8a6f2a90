"""Pace math and the timestamp parser, at fixed ``now`` values."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import claude_usage
from claude_usage import pace
from claude_usage.models import UsagePeriod

UTC = timezone.utc
RESET = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
FIVE_HOURS = 5.0
WEEK = 168.0
START = RESET - timedelta(hours=5)  # elapsed 0
TWO_HOURS_IN = RESET - timedelta(hours=3)  # elapsed 40%
MIDDLE = RESET - timedelta(hours=2, minutes=30)  # elapsed 50%
PAST = RESET + timedelta(hours=1)


def window(utilization: float, resets_at: datetime | None = RESET) -> UsagePeriod:
    return UsagePeriod(utilization=utilization, resets_at=resets_at)


# --- parse_timestamp -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T11:00:00.521744+00:00", datetime(2026, 3, 2, 11, 0, 0, 521744, tzinfo=UTC)),
        ("2026-03-02T11:00:00Z", RESET),
        ("2026-03-02T11:00:00z", RESET),
        ("2026-03-02T11:00:00", RESET),
        ("2026-03-02 11:00:00+00:00", RESET),
        ("2026-03-02T11:00Z", RESET),
        ("2026-03-02T11:00:00.5Z", datetime(2026, 3, 2, 11, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-02T11:00:00.123+00:00", datetime(2026, 3, 2, 11, 0, 0, 123000, tzinfo=UTC)),
        ("2026-03-02T11:00:00.123456789Z", datetime(2026, 3, 2, 11, 0, 0, 123456, tzinfo=UTC)),
        ("2026-03-02T11:00:00,25Z", datetime(2026, 3, 2, 11, 0, 0, 250000, tzinfo=UTC)),
        ("2026-03-02T12:30:00+01:30", RESET),
        ("2026-03-02T03:00:00-08:00", RESET),
        ("2026-03-02T12:00:00+0100", RESET),
        ("2026-03-02T13:00:00+02", RESET),
        ("2026-03-01T23:30:00-11:30", RESET),
        ("2026-01-01T00:30:00+01:00", datetime(2025, 12, 31, 23, 30, tzinfo=UTC)),
        ("  2026-03-02T11:00:00Z\n", RESET),
    ],
)
def test_parse_timestamp_accepts_iso_forms(text: str, expected: datetime) -> None:
    """Every ISO 8601 form seen or plausible parses to the same instant."""
    assert expected == pace.parse_timestamp(text)


def test_parse_timestamp_returns_utc_tzinfo() -> None:
    """The parsed datetime carries timezone.utc whatever offset was written."""
    assert UTC is pace.parse_timestamp("2026-03-02T03:00:00-08:00").tzinfo


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2026-03-02",
        "2026-03-02T11",
        "2026-13-02T11:00:00Z",
        "2026-02-30T11:00:00Z",
        "2026-03-02T24:00:00Z",
        "2026-03-02T11:60:00Z",
        "2026-03-02T11:00:60Z",
        "2026-03-02T11:00:00+24:00",
        "2026-03-02T11:00:00+05:60",
        "2026-03-02T11:00:00.Z",
        "2026-03-02T11:00:00 +00:00",
        "2026-03-02T11:00:00+00:00junk",
        "0001-01-01T00:00:00+01:00",
        "\uff12\uff10\uff12\uff16-03-02T11:00:00Z",
    ],
)
def test_parse_timestamp_rejects_invalid(text: str) -> None:
    """Anything that is not an ISO 8601 date-time raises ValueError."""
    with pytest.raises(ValueError) as info:
        pace.parse_timestamp(text)
    assert ValueError is type(info.value)


def test_parse_timestamp_rejects_non_string() -> None:
    """A number instead of a string raises ValueError, not TypeError."""
    with pytest.raises(ValueError) as info:
        pace.parse_timestamp(1772449200)  # type: ignore[arg-type]
    assert "string" in str(info.value)


offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@settings(deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets),
    zulu=st.booleans(),
)
def test_parse_timestamp_round_trips_isoformat(moment: datetime, zulu: bool) -> None:
    """isoformat() output, in any offset (or as Z), parses back to the same instant in UTC."""
    text = moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if zulu else moment.isoformat()
    assert (moment, UTC) == (pace.parse_timestamp(text), pace.parse_timestamp(text).tzinfo)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T11:00:00.521744+00:00", datetime(2026, 3, 2, 11, 0, 0, 521744, tzinfo=UTC)),
        ("2026-07-14T18:00:00Z", datetime(2026, 7, 14, 18, 0, tzinfo=UTC)),
        ("2026-03-02T12:30:00.5+01:30", datetime(2026, 3, 2, 11, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-02T11:00:00.123Z", datetime(2026, 3, 2, 11, 0, 0, 123000, tzinfo=UTC)),
    ],
)
def test_usual_timestamps_take_the_fast_path(text: str, expected: datetime) -> None:
    """The shapes servers send are read by the fast path, not left to the pattern."""
    assert expected == pace.parse_usual_timestamp(text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-02T11:00:00.521744+05:60",
        "2026-03-02T11:00:00.5+05:60",
        "2026-03-02T11:00:00+05:60",
        "2026-03-02T24:00:00.000000+00:00",
        "2026-03-02T24:00:00Z",
        "2026-03-02T11:00:00.Z",
        "2026-03-02T11:00:00.+00:00",
        "2026-03-02T11:00:00+01:00:30",
        "2026-03-02X11:00:00Z",
        "2026-W10-1T11:00:00Z",
        "2026-03-02T11:00:00",
    ],
)
def test_fast_path_leaves_edge_cases_to_the_pattern(text: str) -> None:
    """Forms datetime.fromisoformat reads differently from the pattern never take the fast path."""
    assert None is pace.parse_usual_timestamp(text)


two_digits = st.integers(min_value=0, max_value=99).map("{:02}".format)
offsets_written = st.sampled_from(["", "Z", "z"]) | st.builds(
    "{}{:02}{}{}".format,
    st.sampled_from("+-"),
    st.integers(min_value=0, max_value=25),
    st.sampled_from(["", ":", ":"]),
    two_digits | st.just(""),
)
# Valid dates and near-valid times, fractions and offsets: the edges where the fast path must
# either agree with the pattern or step aside.
timestamp_like = st.builds(
    "{}{}{:02}:{:02}{}{}{}".format,
    st.dates().map(lambda day: day.isoformat()),
    st.sampled_from("TTTt X"),
    st.integers(min_value=0, max_value=24),
    st.integers(min_value=0, max_value=60),
    st.sampled_from(["", ":00", ":59", ":60"]),
    st.sampled_from(["", ".", ","]).flatmap(lambda mark: st.text("0123456789", max_size=8).map(mark.__add__)),
    offsets_written,
)


@settings(deadline=None, max_examples=1000)
@given(text=timestamp_like)
def test_usual_timestamp_path_agrees_with_the_pattern(text: str) -> None:
    """The fast path returns the pattern's answer, or None to leave the text to the pattern."""
    try:
        by_pattern: datetime | None = pace._parse_with_pattern(text)
    except ValueError:
        by_pattern = None
    by_fast_path = pace.parse_usual_timestamp(text)
    assert by_fast_path is None or by_pattern == by_fast_path


# --- time_until_reset and time_elapsed_percent ---------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (START, timedelta(hours=5)),
        (MIDDLE, timedelta(hours=2, minutes=30)),
        (RESET, timedelta(0)),
        (PAST, timedelta(hours=-1)),
    ],
)
def test_time_until_reset(now: datetime, expected: timedelta) -> None:
    """Time until reset counts down and goes negative once the reset has passed."""
    assert expected == window(10.0).time_until_reset(now=now)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (RESET - timedelta(hours=6), 0.0),
        (START, 0.0),
        (TWO_HOURS_IN, 40.0),
        (MIDDLE, 50.0),
        (RESET, 100.0),
        (PAST, 100.0),
    ],
)
def test_time_elapsed_percent_is_clamped(now: datetime, expected: float) -> None:
    """Elapsed percent is linear inside the window and clamped to [0, 100] outside it."""
    assert expected == window(10.0).time_elapsed_percent(FIVE_HOURS, now=now)


def test_time_elapsed_percent_seven_day() -> None:
    """84 hours into a 168-hour window is 50%."""
    assert 50.0 == window(10.0).time_elapsed_percent(WEEK, now=RESET - timedelta(hours=84))


def test_other_offsets_give_the_same_answer() -> None:
    """A resets_at and a `now` in non-UTC offsets are stored as UTC and compared as instants."""
    period = UsagePeriod(utilization=10.0, resets_at=RESET.astimezone(timezone(timedelta(hours=-8))))
    now = MIDDLE.astimezone(timezone(timedelta(hours=5)))
    assert (RESET, UTC, 50.0) == (
        period.resets_at,
        period.resets_at.tzinfo if period.resets_at else None,
        period.time_elapsed_percent(FIVE_HOURS, now=now),
    )


# --- is_on_pace ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utilization", "now", "expected"),
    [
        (0.0, START, True),
        (0.1, START, False),
        (40.0, TWO_HOURS_IN, True),
        (40.5, TWO_HOURS_IN, False),
        (100.0, RESET, True),
        (150.0, PAST, False),
    ],
)
def test_is_on_pace_method(utilization: float, now: datetime, expected: bool) -> None:
    """On pace means utilization is at most the elapsed percent."""
    assert expected == window(utilization).is_on_pace(FIVE_HOURS, now=now)


@pytest.mark.parametrize(
    ("resets_at", "utilization", "expected"),
    [
        ("2026-03-02T11:00:00Z", 40.0, True),
        ("2026-03-02T11:00:00.000000+00:00", 41.0, False),
        ("2026-03-02T12:00:00+01:00", 40.0, True),
        (RESET, 40.0, True),
        (RESET, 41.0, False),
        (RESET.astimezone(timezone(timedelta(hours=9))), 40.0, True),
    ],
)
def test_is_on_pace_function(resets_at: datetime | str, utilization: float, expected: bool) -> None:
    """The Node-style is_on_pace takes a string or an aware datetime for resets_at."""
    assert expected == pace.is_on_pace(utilization, resets_at, FIVE_HOURS, now=TWO_HOURS_IN)


def test_is_on_pace_is_exported() -> None:
    """`claude_usage.is_on_pace` is the pace module's function."""
    assert pace.is_on_pace is claude_usage.is_on_pace


def test_is_on_pace_invalid_string_raises_value_error() -> None:
    """An unparseable resets_at string raises ValueError."""
    with pytest.raises(ValueError) as info:
        pace.is_on_pace(10.0, "next tuesday", FIVE_HOURS, now=MIDDLE)
    assert "next tuesday" in str(info.value)


def test_is_on_pace_default_now_is_current_utc_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """now=None reads the current UTC time (the clock is frozen here at the window's middle)."""
    monkeypatch.setattr(pace, "_utc_now", lambda: MIDDLE)
    assert (True, False) == (pace.is_on_pace(50.0, RESET, FIVE_HOURS), pace.is_on_pace(50.5, RESET, FIVE_HOURS))


def test_default_clock_is_aware_utc() -> None:
    """The default clock gives an aware UTC datetime, so it compares with parsed resets_at."""
    assert UTC is pace.resolve_now(None).tzinfo


# --- projected_utilization -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("utilization", "now", "expected"),
    [
        (10.0, START, None),
        (20.0, TWO_HOURS_IN, 50.0),  # 20 / 40 * 100
        (48.0, MIDDLE, 96.0),  # 48 / 50 * 100
        (0.0, MIDDLE, 0.0),
        (150.0, MIDDLE, 300.0),  # over 100 is allowed and projects linearly
        (30.0, RESET, 30.0),
        (30.0, PAST, 30.0),  # elapsed clamps at 100, so the projection is the value itself
    ],
)
def test_projected_utilization(utilization: float, now: datetime, expected: float | None) -> None:
    """Projection at reset is utilization / elapsed% * 100; None at the window's start."""
    assert expected == window(utilization).projected_utilization(FIVE_HOURS, now=now)


# --- time_until_exhausted ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utilization", "now", "expected"),
    [
        # 60% in 2 h = 30%/h; 40% left takes 4800 s, well before the 3 h to reset.
        (60.0, TWO_HOURS_IN, timedelta(seconds=4800)),
        # 20% in 2 h = 10%/h; 80% left takes 8 h, after the reset.
        (20.0, TWO_HOURS_IN, None),
        # 50% at half time reaches 100% exactly at the reset: not before it.
        (50.0, MIDDLE, None),
        (80.0, MIDDLE, timedelta(seconds=20 * 9000 / 80)),
        (0.0, MIDDLE, None),
        (10.0, START, None),
        (100.0, MIDDLE, timedelta(0)),
        (150.0, START, timedelta(0)),
        (50.0, PAST, None),
    ],
)
def test_time_until_exhausted(utilization: float, now: datetime, expected: timedelta | None) -> None:
    """Exhaustion time is (100 - u) / (u / elapsed), None unless it comes before the reset."""
    assert expected == window(utilization).time_until_exhausted(FIVE_HOURS, now=now)


def test_time_until_exhausted_seven_day() -> None:
    """75% after 84 h of 168: 25% more takes 25 / (75 / 84) = 28 h."""
    period = window(75.0)
    assert timedelta(hours=28) == period.time_until_exhausted(WEEK, now=RESET - timedelta(hours=84))


# --- unknown reset time and invalid inputs -------------------------------------------------


def test_every_method_returns_none_without_resets_at() -> None:
    """A window without resets_at answers None to every pace question."""
    period = window(150.0, resets_at=None)
    assert [None] * 5 == [
        period.time_until_reset(now=MIDDLE),
        period.time_elapsed_percent(FIVE_HOURS, now=MIDDLE),
        period.is_on_pace(FIVE_HOURS, now=MIDDLE),
        period.projected_utilization(FIVE_HOURS, now=MIDDLE),
        period.time_until_exhausted(FIVE_HOURS, now=MIDDLE),
    ]


@pytest.mark.parametrize("resets_at", [RESET, None])
def test_naive_now_is_rejected(resets_at: datetime | None) -> None:
    """A naive `now` raises ValueError, with or without a reset time."""
    with pytest.raises(ValueError) as info:
        window(10.0, resets_at).is_on_pace(FIVE_HOURS, now=datetime(2026, 3, 2, 9, 0))
    assert "now must be timezone-aware" in str(info.value)


def test_naive_resets_at_is_rejected() -> None:
    """A naive resets_at raises ValueError in UsagePeriod and in is_on_pace."""
    naive = datetime(2026, 3, 2, 11, 0)
    messages = []
    for call in (lambda: UsagePeriod(10.0, naive), lambda: pace.is_on_pace(10.0, naive, FIVE_HOURS, now=MIDDLE)):
        with pytest.raises(ValueError) as info:
            call()
        messages.append(str(info.value).split(" ")[0])
    assert ["resets_at", "resets_at"] == messages


@pytest.mark.parametrize("period_hours", [0.0, -5.0, math.nan, math.inf])
def test_invalid_period_is_rejected(period_hours: float) -> None:
    """A period that is not a positive finite number raises ValueError."""
    with pytest.raises(ValueError) as info:
        window(10.0).time_elapsed_percent(period_hours, now=MIDDLE)
    assert "period_hours" in str(info.value)
