"""Parsing the usage body into typed models, round trips and malformed bodies."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_usage.errors import ClaudeUsageError, ParseError
from claude_usage.models import ExtraUsage, Limit, UsageData, UsagePeriod

UTC = timezone.utc
FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_NAMES = sorted(path.name for path in FIXTURES.glob("*.json"))
NO_EXTRA = ExtraUsage(is_enabled=False, monthly_limit=None, used_credits=None, utilization=None)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse_fixture(name: str) -> UsageData:
    return UsageData.from_json(fixture_bytes(name))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def parse_error(body: str | bytes) -> ParseError:
    with pytest.raises(ParseError) as info:
        UsageData.from_json(body)
    return info.value


# --- the fixtures, value by value ----------------------------------------------------------


def test_fixture_set_is_complete() -> None:
    """Every fixture the HTTP tests rely on exists."""
    expected = [
        "enterprise_all_null.json",
        "extra_usage_off.json",
        "extra_usage_on.json",
        "pro_max.json",
        "unknown_keys.json",
        "with_limits.json",
    ]
    assert expected == FIXTURE_NAMES


def test_pro_max() -> None:
    """A Pro/Max body parses to its exact windows, extra usage off, no limits."""
    data = parse_fixture("pro_max.json")
    five_hour = UsagePeriod(48.0, datetime(2026, 3, 2, 11, 0, 0, 521744, tzinfo=UTC))
    seven_day = UsagePeriod(64.0, datetime(2026, 3, 6, 6, 0, 0, 521764, tzinfo=UTC))
    sonnet = UsagePeriod(2.0, datetime(2026, 3, 6, 7, 0, 0, 521773, tzinfo=UTC))
    assert (five_hour, seven_day, sonnet, None, None, NO_EXTRA, ()) == (
        data.five_hour,
        data.seven_day,
        data.seven_day_sonnet,
        data.seven_day_opus,
        data.seven_day_oauth_apps,
        data.extra_usage,
        data.limits,
    )
    assert {"five_hour": five_hour, "seven_day": seven_day, "seven_day_sonnet": sonnet} == dict(data.windows)
    assert json.loads(fixture_bytes("pro_max.json")) == dict(data.raw)


def test_extra_usage_on() -> None:
    """Extra usage on: amounts in cents as sent, and exact dollars as Decimal."""
    data = parse_fixture("extra_usage_on.json")
    expected = ExtraUsage(is_enabled=True, monthly_limit=5000.0, used_credits=763.0, utilization=15.26, currency="USD")
    assert expected == data.extra_usage
    assert data.extra_usage is not None
    assert ("50.00", "7.63") == (str(data.extra_usage.monthly_limit_major), str(data.extra_usage.used_credits_major))
    assert UsagePeriod(100.0, at("2026-03-02T16:00:00.104512+00:00")) == data.five_hour


def test_extra_usage_off() -> None:
    """Extra usage switched off keeps its limit, spend and disabled_reason."""
    expected = ExtraUsage(
        is_enabled=False,
        monthly_limit=2000.0,
        used_credits=2000.0,
        utilization=100.0,
        currency="USD",
        disabled_reason="out_of_credits",
    )
    assert expected == parse_fixture("extra_usage_off.json").extra_usage


def test_with_limits() -> None:
    """The limits array parses entry by entry, scope null or with a model."""
    data = parse_fixture("with_limits.json")
    weekly_reset = datetime(2026, 7, 17, 4, 0, tzinfo=UTC)
    expected = (
        Limit("session", "session", 23.0, datetime(2026, 7, 14, 18, 0, tzinfo=UTC), None, True),
        Limit("weekly_all", "weekly", 41.0, weekly_reset, None, False),
        Limit("weekly_scoped", "weekly", 57.5, weekly_reset, "Opus", False),
        Limit("weekly_scoped", "weekly", 0.0, None, "Sonnet", False),
    )
    assert expected == data.limits
    assert (None, None, NO_EXTRA) == (data.seven_day_opus, data.seven_day_sonnet, data.extra_usage)


def test_int_values_become_floats() -> None:
    """Integer utilization and percent are stored as float."""
    data = parse_fixture("with_limits.json")
    assert data.five_hour is not None
    assert (float, 23.0, float) == (type(data.five_hour.utilization), data.five_hour.utilization, type(data.limits[0].percent))


def test_enterprise_all_null() -> None:
    """An Enterprise body with every window null parses to all None and no windows."""
    data = parse_fixture("enterprise_all_null.json")
    assert (None, None, None, None, None, None, (), {}) == (
        data.five_hour,
        data.seven_day,
        data.seven_day_sonnet,
        data.seven_day_opus,
        data.seven_day_oauth_apps,
        data.extra_usage,
        data.limits,
        dict(data.windows),
    )
    assert (None, None) == (data.five_hour_on_pace(), data.seven_day_on_pace())


def test_unknown_keys_windows() -> None:
    """Window-shaped unknown keys join `windows`; other unknown keys do not."""
    data = parse_fixture("unknown_keys.json")
    expected = {
        "five_hour": UsagePeriod(7.0, datetime(2026, 3, 2, 12, 30, 0, 500000, tzinfo=UTC)),
        "seven_day": UsagePeriod(120.5, datetime(2026, 3, 6, 6, 0, 0, 123456, tzinfo=UTC)),
        "seven_day_sonnet": UsagePeriod(3.0, None),
        "seven_day_cowork": UsagePeriod(12.0, datetime(2026, 3, 6, 6, 0, tzinfo=UTC)),
        "iguana_necktie": UsagePeriod(3.5, None),
    }
    assert expected == dict(data.windows)
    assert (expected["five_hour"], expected["seven_day"], expected["seven_day_sonnet"]) == (
        data.five_hour,
        data.seven_day,
        data.seven_day_sonnet,
    )


def test_unknown_keys_are_kept_in_raw() -> None:
    """Unknown keys, nested ones included, survive in raw exactly as sent."""
    raw = parse_fixture("unknown_keys.json").raw
    assert (
        {"utilization": "n/a"},
        {"tier": "max_20x", "utilization_note": "x"},
        ["a", "b", {"c": 1}],
        412,
        True,
        False,
        18000,
    ) == (
        raw["walrus_teacup"],
        raw["plan"],
        raw["feature_flags"],
        raw["account_age_days"],
        raw["five_hour"]["burst"],
        raw["extra_usage"]["auto_reload"],
        raw["limits"][0]["window_seconds"],
    )


def test_unknown_keys_extra_usage_and_limit() -> None:
    """A JPY extra usage converts without decimals; a bare limit fills in None."""
    data = parse_fixture("unknown_keys.json")
    assert data.extra_usage is not None
    assert (Decimal("10000"), Decimal("1250"), (Limit("session", None, 7.0, None, None, None),)) == (
        data.extra_usage.monthly_limit_major,
        data.extra_usage.used_credits_major,
        data.limits,
    )


def test_pace_shortcuts_on_fixture() -> None:
    """five_hour_on_pace (5 h) and seven_day_on_pace (168 h) use each window's reset time."""
    data = parse_fixture("pro_max.json")
    five_hour_reset = datetime(2026, 3, 2, 11, 0, 0, 521744, tzinfo=UTC)
    seven_day_reset = datetime(2026, 3, 6, 6, 0, 0, 521764, tzinfo=UTC)
    # 48% at half of 5 h is on pace; 64% at half of 168 h is not.
    assert (True, False) == (
        data.five_hour_on_pace(now=five_hour_reset - timedelta(hours=2.5)),
        data.seven_day_on_pace(now=seven_day_reset - timedelta(hours=84)),
    )


def test_pace_shortcuts_without_reset_time() -> None:
    """The pace shortcuts answer None when the window has no resets_at."""
    data = UsageData.from_dict({"five_hour": {"utilization": 1}, "seven_day": {"utilization": 1, "resets_at": None}})
    assert (None, None) == (data.five_hour_on_pace(), data.seven_day_on_pace())


# --- tolerance -------------------------------------------------------------------------------


def test_empty_object() -> None:
    """An empty object parses: every window absent, no extra usage, no limits."""
    data = UsageData.from_dict({})
    assert (None, None, None, (), {}, {}) == (data.five_hour, data.seven_day_opus, data.extra_usage, data.limits, dict(data.windows), dict(data.raw))


@pytest.mark.parametrize(
    ("resets_at", "expected"),
    [
        ("2026-03-02T11:00:00.521744+00:00", datetime(2026, 3, 2, 11, 0, 0, 521744, tzinfo=UTC)),
        ("2026-03-02T11:00:00+00:00", datetime(2026, 3, 2, 11, 0, tzinfo=UTC)),
        ("2026-03-02T11:00:00Z", datetime(2026, 3, 2, 11, 0, tzinfo=UTC)),
        ("2026-03-02T11:00:00.5Z", datetime(2026, 3, 2, 11, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-02T11:00:00.1234567Z", datetime(2026, 3, 2, 11, 0, 0, 123456, tzinfo=UTC)),
        ("2026-03-02T12:00:00+01:00", datetime(2026, 3, 2, 11, 0, tzinfo=UTC)),
        ("2026-03-02T06:00:00-05:00", datetime(2026, 3, 2, 11, 0, tzinfo=UTC)),
        (None, None),
    ],
)
def test_window_timestamp_forms(resets_at: str | None, expected: datetime | None) -> None:
    """A window's resets_at parses in every form to aware UTC (or None)."""
    data = UsageData.from_dict({"seven_day": {"utilization": 5, "resets_at": resets_at}})
    assert UsagePeriod(5.0, expected) == data.seven_day


def test_extra_usage_fields_absent() -> None:
    """An empty extra_usage object is disabled, uncapped, in USD."""
    assert NO_EXTRA == UsageData.from_dict({"extra_usage": {}}).extra_usage


def test_extra_usage_fields_null() -> None:
    """Null extra_usage fields read as their defaults."""
    body = {"extra_usage": dict.fromkeys(("is_enabled", "monthly_limit", "used_credits", "utilization", "currency", "disabled_reason"))}
    assert NO_EXTRA == UsageData.from_dict(body).extra_usage


@pytest.mark.parametrize(
    ("scope", "expected_model"),
    [
        (None, None),
        ({}, None),
        ({"model": None, "surface": "claude_code"}, None),
        ({"model": {"id": "x"}}, None),
        ({"model": {"id": None, "display_name": "Opus"}}, "Opus"),
    ],
)
def test_limit_scope_forms(scope: dict[str, Any] | None, expected_model: str | None) -> None:
    """A limit's model is the scope's display name, None when any level is missing."""
    body = {"limits": [{"kind": "weekly_scoped", "percent": 1, "scope": scope}]}
    assert expected_model == UsageData.from_dict(body).limits[0].model


@pytest.mark.parametrize("limits", [None, []])
def test_limits_null_or_empty(limits: list[Any] | None) -> None:
    """Null or empty limits give an empty tuple."""
    assert () == UsageData.from_dict({"limits": limits}).limits


def test_from_json_accepts_str_and_bom() -> None:
    """from_json takes text as well as bytes, and ignores a UTF-8 byte order mark."""
    body = fixture_bytes("pro_max.json")
    expected = UsageData.from_json(body)
    assert (expected, expected) == (UsageData.from_json(body.decode()), UsageData.from_json(b"\xef\xbb\xbf" + body))


# --- round trips and immutability ----------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_round_trip_fixture(name: str) -> None:
    """from_dict(to_dict()) and a JSON round trip both give an equal object."""
    data = parse_fixture(name)
    through_json = UsageData.from_json(json.dumps(data.to_dict(), allow_nan=False))
    assert (data, data) == (UsageData.from_dict(data.to_dict()), through_json)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_to_dict_is_the_body(name: str) -> None:
    """to_dict returns the body as sent (timestamps as the original ISO strings)."""
    assert json.loads(fixture_bytes(name)) == parse_fixture(name).to_dict()


def test_to_dict_is_a_copy() -> None:
    """Mutating to_dict's result leaves the object unchanged."""
    data = parse_fixture("unknown_keys.json")
    exported = data.to_dict()
    exported["five_hour"]["utilization"] = 99
    exported["feature_flags"].append("z")
    assert (7, ["a", "b", {"c": 1}]) == (data.raw["five_hour"]["utilization"], data.raw["feature_flags"])


def test_input_mapping_is_copied() -> None:
    """Mutating the dict given to from_dict does not change raw."""
    body: dict[str, Any] = {"five_hour": {"utilization": 1, "resets_at": None}, "misc": [1]}
    data = UsageData.from_dict(body)
    body["five_hour"]["utilization"] = 50
    body["misc"].append(2)
    body["new"] = True
    assert {"five_hour": {"utilization": 1, "resets_at": None}, "misc": [1]} == data.raw


def test_raw_and_windows_are_read_only() -> None:
    """raw and windows refuse item assignment; fields refuse reassignment."""
    data = parse_fixture("pro_max.json")
    with pytest.raises(TypeError) as raw_error:
        data.raw["x"] = 1  # type: ignore[index]
    with pytest.raises(TypeError) as windows_error:
        data.windows["x"] = UsagePeriod(1.0, None)  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError) as field_error:
        data.five_hour = None  # type: ignore[misc]
    assert ["TypeError", "TypeError", "FrozenInstanceError"] == [
        type(raw_error.value).__name__,
        type(windows_error.value).__name__,
        type(field_error.value).__name__,
    ]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_hash_is_stable_for_equal_objects(name: str) -> None:
    """Equal objects hash equal, and hashing does not fail on the mapping fields."""
    assert hash(parse_fixture(name)) == hash(UsageData.from_json(fixture_bytes(name)))


def test_equality_sees_raw() -> None:
    """Two bodies differing only in an unknown key are not equal."""
    assert UsageData.from_dict({"a": 1}) != UsageData.from_dict({"a": 2})


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_pickle_and_deepcopy(name: str) -> None:
    """UsageData survives pickle and copy.deepcopy as an equal object."""
    data = parse_fixture(name)
    assert (data, data) == (pickle.loads(pickle.dumps(data)), copy.deepcopy(data))


def test_repr_is_readable() -> None:
    """repr shows the typed fields and leaves the raw body out."""
    text = repr(parse_fixture("pro_max.json"))
    assert (True, False, True) == (
        text.startswith("UsageData(five_hour=UsagePeriod(utilization=48.0"),
        "raw=" in text,
        "windows=mappingproxy({" in text,
    )


# --- property tests ------------------------------------------------------------------------

KNOWN_KEYS = {
    "five_hour",
    "seven_day",
    "seven_day_sonnet",
    "seven_day_opus",
    "seven_day_oauth_apps",
    "seven_day_cowork",
    "iguana_necktie",
    "extra_usage",
    "limits",
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
numbers = st.integers(min_value=-(10**6), max_value=10**6) | st.floats(
    min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False
)
timestamps = st.none() | st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).flatmap(
    lambda moment: st.sampled_from(
        [
            moment.isoformat(),
            moment.isoformat().replace("+00:00", "Z"),
            moment.isoformat(timespec="seconds"),
            moment.astimezone(timezone(timedelta(hours=-7))).isoformat(),
        ]
    )
)
windows = st.none() | st.fixed_dictionaries(
    {"utilization": numbers}, optional={"resets_at": timestamps, "note": json_values}
)
optional_text = st.none() | st.text(max_size=10)
extra_usages = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "is_enabled": st.none() | st.booleans(),
        "monthly_limit": st.none() | numbers,
        "used_credits": st.none() | numbers,
        "utilization": st.none() | numbers,
        "currency": st.none() | st.sampled_from(["USD", "EUR", "JPY", "KWD"]),
        "disabled_reason": optional_text,
        "note": json_values,
    },
)
limit_entries = st.fixed_dictionaries(
    {"kind": st.sampled_from(["session", "weekly_all", "weekly_scoped", "new_kind"]), "percent": numbers},
    optional={
        "group": optional_text,
        "resets_at": timestamps,
        "is_active": st.none() | st.booleans(),
        "scope": st.none()
        | st.fixed_dictionaries(
            {},
            optional={
                "model": st.none() | st.fixed_dictionaries({}, optional={"id": optional_text, "display_name": optional_text}),
                "surface": json_values,
            },
        ),
    },
)
bodies = st.builds(
    lambda known, unknown: {**unknown, **known},
    st.fixed_dictionaries(
        {},
        optional={
            **{name: windows for name in KNOWN_KEYS - {"extra_usage", "limits"}},
            "extra_usage": extra_usages,
            "limits": st.none() | st.lists(limit_entries, max_size=4),
        },
    ),
    st.dictionaries(st.text(max_size=12).filter(lambda key: key not in KNOWN_KEYS), json_values, max_size=4),
)


@settings(deadline=None, max_examples=300)
@given(body=bodies)
def test_round_trip_property(body: dict[str, Any]) -> None:
    """Any well-formed body parses without a problem, keeps raw as given, and round-trips through to_dict and JSON."""
    data = UsageData.from_dict(body)
    through_json = UsageData.from_json(json.dumps(data.to_dict(), allow_nan=False))
    assert (body, (), data, data) == (dict(data.raw), data.problems, UsageData.from_dict(data.to_dict()), through_json)


@settings(deadline=None, max_examples=300)
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode) | json_values.map(json.dumps))
def test_arbitrary_input_parses_or_raises_parse_error(body: bytes | str) -> None:
    """Any input either parses or raises ParseError, never another exception."""
    try:
        outcome = type(UsageData.from_json(body)).__name__
    except ParseError:
        outcome = "ParseError"
    assert outcome in {"UsageData", "ParseError"}


# --- malformed bodies ----------------------------------------------------------------------

LONG = "x" * 500


@pytest.mark.parametrize(
    ("body", "expected_in_message"),
    [
        ("<html><body>" + LONG + "</body></html>", "response body is not JSON"),
        ("", "response body is not JSON"),
        ('{"five_hour": {"utilization": NaN}}', "not strict JSON (NaN is not allowed)"),
        ('{"five_hour": {"utilization": -Infinity}}', "not strict JSON (-Infinity is not allowed)"),
        ('{"five_hour": {"utilization": 1e400}}', "not strict JSON (number 1e400 is out of range)"),
        ("[" * 100_000, "nests too deeply"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8 (invalid byte at offset 0)"),
        ('{"a": "caf\xe9"}'.encode("latin-1"), "not UTF-8 (invalid byte at offset 10)"),
        ("[]", "response body: array, expected a JSON object"),
        ("null", "response body: null"),
        ('"' + LONG + '"', "response body: string, expected a JSON object"),
    ],
)
@pytest.mark.parametrize("strict", [False, True])
def test_malformed_body_raises_parse_error(body: str | bytes, expected_in_message: str, strict: bool) -> None:
    """A body that is not a JSON object is a ParseError in both modes, quoting at most 60 characters of it."""
    with pytest.raises(ParseError) as info:
        UsageData.from_json(body, strict=strict)
    error = info.value
    message = str(error)
    text = body.decode("latin-1") if isinstance(body, bytes) else body
    quoted_too_much = [message[i : i + 61] for i in range(len(message) - 60) if message[i : i + 61] in text]
    assert (True, [], None, None, "Parse") == (
        expected_in_message in message,
        quoted_too_much,
        error.__cause__,
        error.__context__,
        error.kind,
    )


GOOD_WINDOW = {"utilization": 5, "resets_at": "2026-03-02T11:00:00Z"}
GOOD_LIMIT = {"kind": "session", "percent": 1}

# (body, the one problem it has, a clean body that parses to the same typed values)
ODD_PARTS: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
    # A window with a problem is not reported; the other windows are.
    ({"five_hour": LONG, "seven_day": GOOD_WINDOW}, "five_hour: string, expected an object or null", {"seven_day": GOOD_WINDOW}),
    ({"seven_day": [48]}, "seven_day: array, expected an object or null", {}),
    ({"five_hour": {"resets_at": None}, "seven_day": GOOD_WINDOW}, "five_hour.utilization: missing", {"seven_day": GOOD_WINDOW}),
    ({"five_hour": {"utilization": None, "resets_at": None}}, "five_hour.utilization: null", {}),
    ({"five_hour": {"utilization": "48"}}, "five_hour.utilization: string, expected a number", {}),
    ({"five_hour": {"utilization": True}}, "five_hour.utilization: boolean, expected a number", {}),
    ({"five_hour": {"utilization": 10**400}}, "five_hour.utilization: number out of range", {}),
    ({"seven_day_opus": {"utilization": 1, "resets_at": 1772449200}}, "seven_day_opus.resets_at: number, expected a timestamp string or null", {}),
    ({"seven_day": {"utilization": 1, "resets_at": "soon"}}, "seven_day.resets_at: not an ISO 8601 timestamp", {}),
    ({"seven_day_oauth_apps": {"utilization": {}}}, "seven_day_oauth_apps.utilization: object, expected a number", {}),
    ({"seven_day_sonnet": {"utilization": [1]}, "five_hour": GOOD_WINDOW}, "seven_day_sonnet.utilization: array, expected a number", {"five_hour": GOOD_WINDOW}),
    # extra_usage: not an object is not reported; a field with a problem reads as null.
    ({"extra_usage": [1]}, "extra_usage: array, expected an object or null", {}),
    ({"extra_usage": {"is_enabled": "yes", "monthly_limit": 10}}, "extra_usage.is_enabled: string, expected true, false or null", {"extra_usage": {"monthly_limit": 10}}),
    ({"extra_usage": {"is_enabled": True, "monthly_limit": "1000"}}, "extra_usage.monthly_limit: string, expected a number", {"extra_usage": {"is_enabled": True}}),
    ({"extra_usage": {"is_enabled": True, "used_credits": False}}, "extra_usage.used_credits: boolean, expected a number", {"extra_usage": {"is_enabled": True}}),
    ({"extra_usage": {"utilization": "x", "used_credits": 5}}, "extra_usage.utilization: string, expected a number", {"extra_usage": {"used_credits": 5}}),
    ({"extra_usage": {"currency": 840, "used_credits": 5}}, "extra_usage.currency: number, expected a string or null", {"extra_usage": {"used_credits": 5}}),
    ({"extra_usage": {"disabled_reason": {}}}, "extra_usage.disabled_reason: object, expected a string or null", {"extra_usage": {}}),
    # limits: not a list is no limits; an entry with a problem is left out, the others stay.
    ({"limits": {"kind": "session"}}, "limits: object, expected a list or null", {}),
    ({"limits": [1, GOOD_LIMIT]}, "limits[0]: number, expected an object", {"limits": [GOOD_LIMIT]}),
    ({"limits": [{"percent": 1}]}, "limits[0].kind: missing", {}),
    ({"limits": [{"kind": None, "percent": 1}]}, "limits[0].kind: null", {}),
    ({"limits": [{"kind": 7, "percent": 1}]}, "limits[0].kind: number, expected a string", {}),
    ({"limits": [GOOD_LIMIT, {"kind": "weekly_all"}]}, "limits[1].percent: missing", {"limits": [GOOD_LIMIT]}),
    ({"limits": [GOOD_LIMIT, {"kind": "weekly_all", "percent": None}]}, "limits[1].percent: null", {"limits": [GOOD_LIMIT]}),
    ({"limits": [{"kind": "session", "percent": "7"}]}, "limits[0].percent: string, expected a number", {}),
    ({"limits": [{"kind": "session", "percent": True}]}, "limits[0].percent: boolean, expected a number", {}),
    ({"limits": [{"kind": "session", "percent": 1, "resets_at": "x"}]}, "limits[0].resets_at: not an ISO 8601 timestamp", {}),
    ({"limits": [{"kind": "session", "percent": 1, "scope": "all"}]}, "limits[0].scope: string, expected an object or null", {}),
    ({"limits": [{"kind": "s", "percent": 1, "scope": {"model": "Opus"}}]}, "limits[0].scope.model: string, expected an object or null", {}),
    ({"limits": [{"kind": "s", "percent": 1, "scope": {"model": {"display_name": 4}}}]}, "limits[0].scope.model.display_name: number, expected a string or null", {}),
    ({"limits": [{"kind": "s", "percent": 1, "group": 1}]}, "limits[0].group: number, expected a string or null", {}),
    ({"limits": [{"kind": "s", "percent": 1, "is_active": 1}]}, "limits[0].is_active: number, expected true, false or null", {}),
]


def typed(data: UsageData) -> tuple[Any, ...]:
    """Every parsed field but raw and problems."""
    return tuple(getattr(data, f.name) for f in dataclasses.fields(data) if f.name not in {"raw", "problems", "windows"}) + (
        dict(data.windows),
    )


@pytest.mark.parametrize(("body", "problem", "clean"), ODD_PARTS, ids=[case[1] for case in ODD_PARTS])
def test_odd_part_is_left_out_and_recorded(body: dict[str, Any], problem: str, clean: dict[str, Any]) -> None:
    """Tolerant (the default): the odd part is left out (a field: read as null), the rest is kept, one problem names it."""
    data = UsageData.from_json(json.dumps(body))
    assert ((problem,), typed(UsageData.from_dict(clean)), body) == (data.problems, typed(data), dict(data.raw))


@pytest.mark.parametrize(("body", "problem", "clean"), ODD_PARTS, ids=[case[1] for case in ODD_PARTS])
def test_odd_part_is_a_parse_error_when_strict(body: dict[str, Any], problem: str, clean: dict[str, Any]) -> None:
    """strict=True raises ParseError whose message is the problem line, unchained, from both entry points."""
    with pytest.raises(ParseError) as from_json:
        UsageData.from_json(json.dumps(body), strict=True)
    with pytest.raises(ParseError) as from_dict:
        UsageData.from_dict(body, strict=True)
    error = from_json.value
    assert (problem, problem, None, None, "Parse") == (
        error.message,
        from_dict.value.message,
        error.__cause__,
        error.__context__,
        error.kind,
    )


def test_clean_bodies_have_no_problems() -> None:
    """Every fixture parses without a problem, and strict parsing gives the same object."""
    parsed = [(parse_fixture(name).problems, UsageData.from_json(fixture_bytes(name), strict=True)) for name in FIXTURE_NAMES]
    assert [((), parse_fixture(name)) for name in FIXTURE_NAMES] == parsed


def test_one_bad_limit_among_good_ones() -> None:
    """A bad limits[] entry in a real body: that entry is left out; the other entries, windows and extra usage stay."""
    body = json.loads(fixture_bytes("with_limits.json"))
    body["limits"][1]["percent"] = None
    data = UsageData.from_json(json.dumps(body))
    clean = parse_fixture("with_limits.json")
    assert (("limits[1].percent: null",), (clean.limits[0], *clean.limits[2:]), clean.five_hour, clean.seven_day, clean.extra_usage) == (
        data.problems,
        data.limits,
        data.five_hour,
        data.seven_day,
        data.extra_usage,
    )


def test_every_window_odd() -> None:
    """A body whose every window is odd keeps its extra usage and limits, and lists one problem per window, in body order."""
    body = json.loads(fixture_bytes("extra_usage_on.json"))
    body.update(
        five_hour={"utilization": None, "resets_at": None},
        seven_day={"resets_at": "2026-03-06T06:00:00Z"},
        seven_day_sonnet={"utilization": "2"},
        seven_day_opus=[],
        seven_day_oauth_apps={"utilization": 1, "resets_at": "later"},
        limits=[GOOD_LIMIT],
    )
    data = UsageData.from_json(json.dumps(body))
    expected_problems = (
        "five_hour.utilization: null",
        "seven_day.utilization: missing",
        "seven_day_oauth_apps.resets_at: not an ISO 8601 timestamp",  # the fixture's key order
        "seven_day_opus: array, expected an object or null",
        "seven_day_sonnet.utilization: string, expected a number",
    )
    expected = (None, None, None, None, None, {}, parse_fixture("extra_usage_on.json").extra_usage, (Limit("session", None, 1.0, None, None, None),))
    assert (expected_problems, expected) == (
        data.problems,
        (data.five_hour, data.seven_day, data.seven_day_sonnet, data.seven_day_opus, data.seven_day_oauth_apps, dict(data.windows), data.extra_usage, data.limits),
    )


def test_problems_are_listed_in_order_and_strict_raises_the_first() -> None:
    """Problems come in body order (windows, then extra_usage, then limits); strict raises the first."""
    body = {"limits": [{"kind": None, "percent": 1}], "extra_usage": {"currency": 1}, "seven_day": {}}
    expected = ("seven_day.utilization: missing", "extra_usage.currency: number, expected a string or null", "limits[0].kind: null")
    with pytest.raises(ParseError) as info:
        UsageData.from_dict(body, strict=True)
    assert (expected, expected[0]) == (UsageData.from_dict(body).problems, info.value.message)


SECRET = "sk-ant-oat01-" + "S3cret" * 10


def test_problems_never_quote_a_value() -> None:
    """A wrong value in every kind of field (token-shaped, even) appears in no problem and no strict message."""
    body = {
        "five_hour": {"utilization": SECRET},
        "seven_day": {"utilization": 1, "resets_at": SECRET},
        "seven_day_opus": SECRET,
        "extra_usage": {"is_enabled": SECRET, "monthly_limit": SECRET, "currency": [SECRET]},
        "limits": [SECRET, {"kind": [SECRET], "percent": 1}, {"kind": "s", "percent": {SECRET: 1}}, {"kind": "s", "percent": 1, "group": [SECRET]}],
    }
    problems = UsageData.from_dict(body).problems
    with pytest.raises(ParseError) as info:
        UsageData.from_dict(body, strict=True)
    leaks = [text for text in (*problems, str(info.value), repr(info.value)) if "S3cret" in text or "sk-ant" in text]
    assert (10, []) == (len(problems), leaks)


def test_problems_survive_round_trips_and_pickle() -> None:
    """problems are found again from to_dict(), and survive pickle; equality and hash see them."""
    data = UsageData.from_dict({"five_hour": {"utilization": None}, "seven_day": GOOD_WINDOW})
    clean = UsageData.from_dict({"seven_day": GOOD_WINDOW})
    assert (data, data, ("five_hour.utilization: null",), False) == (
        UsageData.from_dict(data.to_dict()),
        pickle.loads(pickle.dumps(data)),
        data.problems,
        data == clean,
    )


def test_parse_error_is_a_claude_usage_error() -> None:
    """ParseError is catchable as the library's base error and carries a hint."""
    error = parse_error("nope")
    assert (True, True) == (isinstance(error, ClaudeUsageError), "usage response" in error.hint)


@pytest.mark.parametrize("strict", [False, True])
def test_from_dict_rejects_non_mapping(strict: bool) -> None:
    """from_dict on a list raises ParseError, not AttributeError, in both modes."""
    with pytest.raises(ParseError) as info:
        UsageData.from_dict([("five_hour", None)], strict=strict)  # type: ignore[arg-type]
    assert "response body: array, expected a JSON object" == info.value.message


@pytest.mark.parametrize("strict", [False, True])
def test_unknown_window_with_bad_values_is_ignored(strict: bool) -> None:
    """An unknown window-shaped key that does not parse stays in raw but not in windows, and is no problem."""
    body = {"seven_day_cowork": {"utilization": "n/a"}, "iguana_necktie": {"utilization": 1, "resets_at": "later"}}
    data = UsageData.from_dict(body, strict=strict)
    assert ({}, body, ()) == (dict(data.windows), dict(data.raw), data.problems)


# --- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "minor", "expected"),
    [
        ("USD", 763, "7.63"),
        ("USD", 763.0, "7.63"),
        ("USD", 0.0, "0.00"),
        ("USD", 0, "0.00"),
        ("USD", 1000, "10.00"),
        ("USD", 12.5, "0.125"),
        ("USD", 0.07, "0.0007"),
        ("USD", 1999.99, "19.9999"),
        ("EUR", 1999, "19.99"),
        ("JPY", 500, "500"),
        ("JPY", 500.0, "500"),
        ("jpy", 500, "500"),
        ("KRW", 12000, "12000"),
        ("KWD", 1500, "1.500"),
    ],
)
def test_major_unit_conversion(currency: str, minor: float, expected: str) -> None:
    """Minor units convert to an exact Decimal using the currency's ISO 4217 exponent."""
    extra = ExtraUsage(is_enabled=True, monthly_limit=minor, used_credits=minor, utilization=None, currency=currency)
    assert (Decimal(expected), expected, Decimal(expected)) == (
        extra.monthly_limit_major,
        str(extra.monthly_limit_major),
        extra.used_credits_major,
    )


def test_major_units_none_when_null() -> None:
    """Null amounts stay None in major units too."""
    assert (None, None) == (NO_EXTRA.monthly_limit_major, NO_EXTRA.used_credits_major)


def test_remembered_reset_times_stay_right_and_bounded() -> None:
    """Reset times are remembered between parses, yet each body gets its own, and the memory stays bounded."""
    from claude_usage import models

    for hour in range(200):
        text = f"2026-07-{1 + hour // 24:02d}T{hour % 24:02d}:00:00Z"
        body = json.dumps({"five_hour": {"utilization": 1, "resets_at": text}, "limits": [
            {"kind": "session", "percent": 1, "resets_at": text}]})
        usage = UsageData.from_json(body)
        expected = datetime.fromisoformat(text.replace("Z", "+00:00"))
        assert (expected, expected) == (usage.five_hour.resets_at, usage.limits[0].resets_at)  # type: ignore[union-attr]
    assert len(models._usual_timestamps) <= models._USUAL_TIMESTAMPS_KEPT
