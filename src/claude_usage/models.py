"""Typed views of the usage endpoint's response, parsed tolerantly.

The endpoint is undocumented and changes, so one odd field never costs the rest of the body.
Parsing rules:

- ``null`` or absent is accepted wherever the field is optional: a whole window, ``extra_usage``,
  ``limits``, and every field but a window's ``utilization`` and a limit's ``kind`` and ``percent``
  (read as ``None``, or the stated default).
- Anything else that is not what the field holds is a *problem*. A window with a problem is not
  reported (its attribute is ``None`` and it is left out of :attr:`UsageData.windows`); a
  ``limits`` entry with a problem is left out of :attr:`UsageData.limits`; an ``extra_usage``
  field with a problem reads as if it were null. Each problem adds one line to
  :attr:`UsageData.problems` (windows in body order, then ``extra_usage``, then ``limits``):
  the field's path and what is wrong with it, never its value (which could echo anything the
  server sent), in one of these forms::

      PATH: missing                       five_hour.utilization: missing
      PATH: null                          limits[3].percent: null
      PATH: TYPE, expected WANTED         seven_day: array, expected an object or null
      PATH: number out of range           five_hour.utilization: number out of range
      PATH: not an ISO 8601 timestamp     limits[0].resets_at: not an ISO 8601 timestamp

  ``TYPE`` is the JSON type found (``string``, ``number``, ``boolean``, ``array``, ``object``;
  ``other`` for a non-JSON value given to ``from_dict``). ``strict=True`` raises
  :class:`~claude_usage.errors.ParseError` with that line as its message at the first problem.
- A body that is not JSON, or not a JSON object, is a ``ParseError`` in either mode.
- Unknown keys are kept in :attr:`UsageData.raw`, and unknown top-level keys that look like a
  window (an object with a ``utilization`` key) also appear in :attr:`UsageData.windows` when
  they parse; an unknown key is never a problem.

Datetimes are always timezone-aware UTC. Methods taking ``now`` raise ``ValueError`` for a naive
datetime (it usually means local time); ``now=None`` is the current time.

This module stays import-light (no HTTP, no native code): the command's cache path imports it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from claude_usage import pace
from claude_usage.errors import ParseError, redact_secrets
from claude_usage.windows import FIVE_HOUR_PERIOD_HOURS, SEVEN_DAY_PERIOD_HOURS, WINDOWS

if TYPE_CHECKING:
    from decimal import Decimal  # imported when used: the command's cache path rarely needs it

__all__ = ["ExtraUsage", "Limit", "UsageData", "UsagePeriod"]

# The windows UsageData has an attribute for, in field order: the table's.
_WINDOW_FIELDS = tuple(key for key, _label, _alias, _hours in WINDOWS)
_KNOWN_WINDOWS = frozenset(_WINDOW_FIELDS)
# Top-level objects that carry a "utilization" key but are not windows.
_NOT_WINDOWS = frozenset({"extra_usage", "limits"})

# ISO 4217 minor-unit exponents that differ from the usual 2.
_MINOR_UNIT_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {
        **dict.fromkeys(
            ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"),
            0,
        ),
        **dict.fromkeys(("RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
        **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    }
)

_PARSE_HINT = (
    "the usage response is not in a shape this version understands; upgrade claude-usage or report it"
)
_EXCERPT_LIMIT = 60
_isfinite = math.isfinite
# Values that _plain_copy keeps as they are: every JSON scalar.
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})

# The JSON type a problem line names (never the value: it could echo anything the server sent).
_JSON_TYPES: Mapping[type, str] = MappingProxyType(
    {str: "string", int: "number", float: "number", bool: "boolean", list: "array", tuple: "array", dict: "object"}
)


def _shorten(text: str) -> str:
    return text if len(text) <= _EXCERPT_LIMIT else text[: _EXCERPT_LIMIT - 3] + "..."


def _body_excerpt(text: str) -> str:
    return _shorten(repr(redact_secrets(text[:_EXCERPT_LIMIT])))


def parse_error(message: str) -> ParseError:
    """The ``ParseError`` of a response body; ``parse_error(usage.problems[0])`` is what strict
    parsing would have raised, for a caller that parsed tolerantly and turns strict later (the
    client and the command parse tolerantly so that the shared cache keeps what the server said)."""
    return ParseError(message, hint=_PARSE_HINT)


def _note(error: ParseError, problems: list[str] | None) -> None:
    """Record a problem, or raise it in strict mode (``problems`` is ``None`` there)."""
    if problems is None:
        raise error
    problems.append(error.message)


# The field checks below name the field as ``name + part`` (``name[index] + part`` in a list):
# the message is only formatted on failure, so a valid body costs no string building. The parsers
# call them only when a value is not already of the exact type wanted (``type(x) is str``, a
# finite ``float``, ...): a check costs a call, and a typical body has dozens of fields.


def _is_mapping(value: Any) -> bool:
    # The exact-type test first: isinstance against the Mapping ABC is several times slower.
    return type(value) is dict or isinstance(value, Mapping)


def _field_name(name: str, part: str, index: int | None) -> str:
    return f"{name}{part}" if index is None else f"{name}[{index}]{part}"


def _wrong(value: Any, wanted: str, name: str, part: str = "", index: int | None = None) -> ParseError:
    """The problem of a field holding ``value`` instead of ``wanted``: its type, never the value."""
    if value is None:
        found = "null"
    else:
        found = _JSON_TYPES.get(type(value)) or ("object" if isinstance(value, Mapping) else "other")
        found = f"{found}, expected {wanted}"
    return parse_error(f"{_field_name(name, part, index)}: {found}")


def _number(value: Any, name: str, part: str = "", index: int | None = None) -> float:
    if type(value) is int:  # the usual case of a call: 23 for 23.0
        try:
            return float(value)
        except OverflowError:
            pass  # too large for a float: refused below
    # bool is an int subclass, but true is not a percentage.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _wrong(value, "a number", name, part, index)
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not _isfinite(result):
        raise parse_error(f"{_field_name(name, part, index)}: number out of range")
    return result


def _optional_str(value: Any, name: str, part: str = "", index: int | None = None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _wrong(value, "a string or null", name, part, index)


def _optional_bool(value: Any, name: str, part: str = "", index: int | None = None) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _wrong(value, "true, false or null", name, part, index)


def _optional_object(value: Any, name: str, part: str = "", index: int | None = None) -> Mapping[str, Any] | None:
    if value is None or type(value) is dict or isinstance(value, Mapping):
        return value
    raise _wrong(value, "an object or null", name, part, index)


def _timestamp(value: Any, name: str, part: str = "", index: int | None = None) -> datetime | None:
    if isinstance(value, str):
        try:
            return pace.parse_timestamp(value)
        except ValueError:
            error = parse_error(f"{_field_name(name, part, index)}: not an ISO 8601 timestamp")
    elif value is None:
        return None
    else:
        error = _wrong(value, "a timestamp string or null", name, part, index)
    raise error  # outside the except block, so the ValueError is not chained


def _plain_copy(value: Any) -> Any:
    """Deep-copy nested mappings/sequences into dicts/lists (JSON-ready), without recursion.

    Iterative because a valid body may nest nearly as deep as the recursion limit.
    """
    if type(value) in _SCALAR_TYPES or not (_is_mapping(value) or isinstance(value, (list, tuple))):
        return value
    root: Any = {} if _is_mapping(value) else [None] * len(value)
    pending: list[tuple[Any, Any]] = [(value, root)]
    while pending:
        source, target = pending.pop()
        items = source.items() if _is_mapping(source) else enumerate(source)
        for key, child in items:
            if type(child) in _SCALAR_TYPES:
                copied: Any = child
            elif _is_mapping(child):
                copied = {}
                pending.append((child, copied))
            elif isinstance(child, (list, tuple)):
                copied = [None] * len(child)
                pending.append((child, copied))
            else:
                copied = child
            target[key] = copied
    return root


@dataclass(frozen=True, slots=True)
class UsagePeriod:
    """One usage window: percent used and when it resets (aware UTC, or ``None`` if unknown).

    Every pace method returns ``None`` when ``resets_at`` is ``None``.
    """

    utilization: float
    resets_at: datetime | None

    def __post_init__(self) -> None:
        if self.resets_at is not None:
            object.__setattr__(self, "resets_at", pace.as_utc(self.resets_at, "resets_at"))

    def _reset_and_now(self, now: datetime | None) -> tuple[datetime, datetime] | None:
        current = pace.resolve_now(now)  # validated even when unused, so a naive now always fails
        return None if self.resets_at is None else (self.resets_at, current)

    def time_until_reset(self, *, now: datetime | None = None) -> timedelta | None:
        """Time left until the reset; negative once it has passed."""
        known = self._reset_and_now(now)
        return None if known is None else pace.time_until_reset(known[0], now=known[1])

    def time_elapsed_percent(self, period_hours: float, *, now: datetime | None = None) -> float | None:
        """Percent of the window's time that has passed, clamped to [0, 100]."""
        known = self._reset_and_now(now)
        return None if known is None else pace.time_elapsed_percent(known[0], period_hours, now=known[1])

    def is_on_pace(self, period_hours: float, *, now: datetime | None = None) -> bool | None:
        """True when utilization is at most the elapsed percent of the window."""
        known = self._reset_and_now(now)
        return None if known is None else pace.on_pace(self.utilization, known[0], period_hours, now=known[1])

    def projected_utilization(self, period_hours: float, *, now: datetime | None = None) -> float | None:
        """Utilization at reset at the average rate so far; ``None`` at the window's start."""
        known = self._reset_and_now(now)
        if known is None:
            return None
        return pace.projected_utilization(self.utilization, known[0], period_hours, now=known[1])

    def time_until_exhausted(self, period_hours: float, *, now: datetime | None = None) -> timedelta | None:
        """Time until 100% at the average rate so far.

        ``timedelta(0)`` when already at 100% or more; ``None`` when nothing is used yet, no time
        has passed, or 100% would not be reached before the reset.
        """
        known = self._reset_and_now(now)
        if known is None:
            return None
        return pace.time_until_exhausted(self.utilization, known[0], period_hours, now=known[1])



@dataclass(frozen=True, slots=True)
class ExtraUsage:
    """Pay-as-you-go usage beyond the plan. Amounts are in minor units (e.g. cents) as sent.

    ``monthly_limit`` ``None`` means no cap; ``currency`` is ISO 4217 (``"USD"`` when absent).
    """

    is_enabled: bool
    monthly_limit: float | None
    used_credits: float | None
    utilization: float | None
    currency: str = "USD"
    disabled_reason: str | None = None

    @property
    def minor_unit_exponent(self) -> int:
        """Decimal places of ``currency`` per ISO 4217 (2 unless listed as 0 or 3)."""
        return _MINOR_UNIT_EXPONENTS.get(self.currency.upper(), 2)

    @property
    def monthly_limit_major(self) -> Decimal | None:
        """``monthly_limit`` in major units (e.g. dollars), exact."""
        return None if self.monthly_limit is None else self._to_major(self.monthly_limit)

    @property
    def used_credits_major(self) -> Decimal | None:
        """``used_credits`` in major units (e.g. dollars), exact."""
        return None if self.used_credits is None else self._to_major(self.used_credits)

    def _to_major(self, minor: float) -> Decimal:
        from decimal import Decimal

        # str() first: Decimal(0.07) would carry the float's binary error into the result.
        amount = Decimal(str(minor))
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent < 0 and amount == amount.to_integral_value():
            amount = amount.quantize(Decimal(1))  # 763.0 -> 763, so the result reads 7.63
        return amount.scaleb(-self.minor_unit_exponent)



@dataclass(frozen=True, slots=True)
class Limit:
    """One entry of ``limits``: ``kind`` is e.g. ``session``, ``weekly_all``, ``weekly_scoped``.

    ``model`` is the scope's model display name, ``None`` for limits not scoped to a model.
    """

    kind: str
    group: str | None
    percent: float
    resets_at: datetime | None
    model: str | None
    is_active: bool | None

    def __post_init__(self) -> None:
        if self.resets_at is not None:
            object.__setattr__(self, "resets_at", pace.as_utc(self.resets_at, "resets_at"))



@dataclass(frozen=True, slots=True)
class UsageData:
    """The whole usage response. Build it with :meth:`from_json` or :meth:`from_dict`.

    ``windows`` maps every window-shaped top-level key (the five attributes' keys included) to
    its period; ``raw`` is the body as parsed. Both are read-only mappings. ``problems`` holds one
    line per part of the body left out or read as null because it was not what the field holds
    (see the module docstring); it is empty for a clean body. ``to_dict`` returns a copy of
    ``raw``, from which parsing finds the same problems again, so ``from_dict(x.to_dict()) == x``
    for every parsed ``x``. Equality compares every field; the hash leaves out ``windows`` and
    ``raw`` (mappings are unhashable), which keeps equal objects' hashes equal. ``raw`` is left
    out of the ``repr`` as it repeats the rest.
    """

    five_hour: UsagePeriod | None
    seven_day: UsagePeriod | None
    seven_day_sonnet: UsagePeriod | None
    seven_day_opus: UsagePeriod | None
    seven_day_oauth_apps: UsagePeriod | None
    extra_usage: ExtraUsage | None
    limits: tuple[Limit, ...]
    windows: Mapping[str, UsagePeriod] = field(hash=False)
    raw: Mapping[str, Any] = field(hash=False, repr=False)
    problems: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Private copies, so neither the caller's objects nor ours can change the other.
        object.__setattr__(self, "limits", tuple(self.limits))
        object.__setattr__(self, "windows", MappingProxyType(dict(self.windows)))
        object.__setattr__(self, "raw", MappingProxyType(_plain_copy(self.raw)))
        object.__setattr__(self, "problems", tuple(self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        # mappingproxy cannot be pickled; rebuild from plain dicts instead.
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(windows=dict(self.windows), raw=dict(self.raw))
        return (type(self), tuple(values.values()))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, strict: bool = False) -> UsageData:
        """Parse an already-decoded body; ``strict`` raises ``ParseError`` at the first problem."""
        if not _is_mapping(data):
            raise _wrong(data, "a JSON object", "response body")
        return _parse_body(cls, data, False, strict)

    @classmethod
    def from_json(cls, body: str | bytes, *, strict: bool = False) -> UsageData:
        """Parse a response body (UTF-8 bytes or text); raise ``ParseError`` if it is not JSON or
        not a JSON object, and with ``strict`` at the first problem."""
        problem = None
        text = ""
        if isinstance(body, (bytes, bytearray, memoryview)):
            try:
                text = (body if type(body) is bytes else bytes(body)).decode("utf-8")
            except UnicodeDecodeError as exc:
                problem = f"response body is not UTF-8 (invalid byte at offset {exc.start})"
        elif isinstance(body, str):
            text = body
        else:
            raise TypeError(f"body must be str or bytes, not {type(body).__name__}")
        if problem is None:
            text = text.removeprefix("\ufeff")
            try:
                data = _load_json(text)
            except json.JSONDecodeError as exc:
                where = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
                problem = f"response body is not JSON ({where}): {_body_excerpt(text)}"
            except _NotStrictJson as exc:
                problem = f"response body is not strict JSON ({exc}): {_body_excerpt(text)}"
            except RecursionError:
                problem = f"response body nests too deeply: {_body_excerpt(text)}"
            except ValueError as exc:  # e.g. an integer with more digits than int() allows
                problem = f"response body is not usable JSON ({_shorten(str(exc))}): {_body_excerpt(text)}"
        # Raised outside the except blocks so no chained exception keeps the whole body.
        if problem is not None:
            raise parse_error(problem)
        if type(data) is not dict:
            return cls.from_dict(data)  # raises, naming what the body is instead
        return _parse_body(cls, data, True, strict)

    def to_dict(self) -> dict[str, Any]:
        """The body as a JSON-ready dict (a deep copy of ``raw``; timestamps stay ISO 8601 strings)."""
        result: dict[str, Any] = _plain_copy(self.raw)
        return result

    def five_hour_on_pace(self, now: datetime | None = None) -> bool | None:
        """``five_hour.is_on_pace(5)``; ``None`` when the window or its reset time is missing."""
        return None if self.five_hour is None else self.five_hour.is_on_pace(FIVE_HOUR_PERIOD_HOURS, now=now)

    def seven_day_on_pace(self, now: datetime | None = None) -> bool | None:
        """``seven_day.is_on_pace(168)``; ``None`` when the window or its reset time is missing."""
        return None if self.seven_day is None else self.seven_day.is_on_pace(SEVEN_DAY_PERIOD_HOURS, now=now)


class _NotStrictJson(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotStrictJson(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStrictJson(f"number {text[:20]} is out of range")
    return value


# Built once: json.loads with hooks would build a decoder (and its scanner) on every call.
_STRICT_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_scan_json: Callable[[str, int], tuple[Any, int]] = _STRICT_DECODER.scan_once  # type: ignore[attr-defined]
_json_space: Callable[[str, int], Any] = json.decoder.WHITESPACE.match  # type: ignore[attr-defined]


def _load_json(text: str) -> Any:
    """``json.loads(text)`` with the strict hooks, raising exactly what it raises."""
    if text[:1] == "{":
        # The usual body: scanned directly, which saves decode()'s two frames and two regex calls.
        try:
            value, end = _scan_json(text, 0)
        except StopIteration:  # a value missing somewhere: decode() below words it
            pass
        else:
            if end == len(text) or _json_space(text, end).end() == len(text):
                return value
    elif text[:1] == "\ufeff":  # what json.loads says of a second BOM
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _STRICT_DECODER.decode(text)  # everything else, and the wording of every other error


# --- building the models --------------------------------------------------------------------
#
# Written for speed: a status line parses a body every few seconds, and the benchmark holds
# parsing to twice the cost of json.loads. A value of the exact type wanted is taken as it is;
# anything else goes through the field checks above, which convert it or raise. Instances are
# built without __init__ (see _unfrozen): the values are already checked and converted and the
# mappings are the parser's own, which is the work __init__ and __post_init__ would repeat.

# Reset times repeat: between the windows and the limits of one body, and from poll to poll until
# a window resets. A datetime is immutable, so each distinct text is parsed once (bounded).
_usual_timestamps: dict[str, datetime | None] = {}
_USUAL_TIMESTAMPS_KEPT = 64


def _usual_timestamp(text: str) -> datetime | None:
    """:func:`pace.parse_usual_timestamp`, remembered."""
    try:
        return _usual_timestamps[text]
    except KeyError:
        parsed = pace.parse_usual_timestamp(text)  # a miss: the module lookup costs nothing here
    if len(_usual_timestamps) >= _USUAL_TIMESTAMPS_KEPT:
        _usual_timestamps.clear()
    _usual_timestamps[text] = parsed
    return parsed


def _unfrozen(cls: type) -> Any:
    """A plain class with ``cls``'s slots and nothing else, whose instances become ``cls``'s.

    The parsers fill one with plain attribute stores, then assign ``cls`` to its ``__class__``
    (allowed: the slots are the same). The frozen class's own ``__setattr__`` refuses stores, and
    its slots' setters (what ``__init__`` goes through) cost six times as much.

    Kept because the parse benchmark needs it (measured for issue 14, ``benchmarks/run.py
    --quick``, Python 3.11): with it, from_json costs 1.65x/1.70x json.loads (plain body/limits);
    building with ``object.__new__`` and ``object.__setattr__`` instead, 2.14x/2.17x; with the
    constructors, 2.7x. The goal is 2x.
    """
    return type(f"_Unfrozen{cls.__name__}", (), {"__slots__": cls.__dict__["__slots__"]})


_UnfrozenPeriod = _unfrozen(UsagePeriod)
_UnfrozenExtraUsage = _unfrozen(ExtraUsage)
_UnfrozenLimit = _unfrozen(Limit)
_UnfrozenUsageData = _unfrozen(UsageData)


def _parse_body(cls: type[UsageData], data: Mapping[str, Any], owned: bool, strict: bool) -> UsageData:
    """``data`` as ``cls``. ``owned``: ``data`` is a dict nobody else holds (fresh from JSON), so
    ``raw`` wraps it instead of copying it."""
    problems: list[str] | None = None if strict else []
    windows: dict[str, UsagePeriod] = {}
    # try costs nothing until something is raised, so the per-entry tolerance is free for a clean body.
    for key, value in data.items():
        if value is None:
            continue  # neither a window nor a problem; a missing known window is None anyway
        if key in _KNOWN_WINDOWS:
            try:
                windows[key] = _parse_period(value, key)
            except ParseError as error:
                _note(error, problems)
        elif key not in _NOT_WINDOWS and isinstance(key, str) and _is_mapping(value) and "utilization" in value:
            try:
                windows[key] = _parse_period(value, key)
            except ParseError:
                pass  # an unknown key is never a problem; it stays in raw
    get = data.get
    extra_usage = _parse_extra_usage(get("extra_usage"), problems)
    entries = get("limits")
    if entries is not None and not isinstance(entries, (list, tuple)):
        _note(_wrong(entries, "a list or null", "limits"), problems)
        entries = None
    limits: list[Limit] = []
    if entries:
        for index, entry in enumerate(entries):
            try:
                limits.append(_parse_limit(entry, index))
            except ParseError as error:
                _note(error, problems)
    five_hour, seven_day, seven_day_sonnet, seven_day_opus, seven_day_oauth_apps = map(windows.get, _WINDOW_FIELDS)
    found = tuple(problems) if problems else ()
    if cls is not UsageData:  # a subclass may add work to __init__
        return cls(five_hour, seven_day, seven_day_sonnet, seven_day_opus, seven_day_oauth_apps, extra_usage,
                   tuple(limits), windows, data, found)
    usage = _UnfrozenUsageData()
    usage.five_hour = five_hour
    usage.seven_day = seven_day
    usage.seven_day_sonnet = seven_day_sonnet
    usage.seven_day_opus = seven_day_opus
    usage.seven_day_oauth_apps = seven_day_oauth_apps
    usage.extra_usage = extra_usage
    usage.limits = tuple(limits)
    usage.windows = MappingProxyType(windows)
    usage.raw = MappingProxyType(data if owned else _plain_copy(data))
    usage.problems = found
    usage.__class__ = UsageData
    built: UsageData = usage
    return built


def _parse_period(value: Any, name: str) -> UsagePeriod:
    if type(value) is not dict and not _is_mapping(value):  # never null: the caller skips null windows
        raise _wrong(value, "an object or null", name)
    window: Mapping[str, Any] = value
    utilization = window.get("utilization")
    if type(utilization) is not float or not _isfinite(utilization):
        if utilization is None and "utilization" not in window:
            raise parse_error(f"{name}.utilization: missing")
        utilization = _number(utilization, name, ".utilization")
    resets_at = window.get("resets_at")
    if resets_at is not None:
        parsed = _usual_timestamp(resets_at) if type(resets_at) is str else None
        resets_at = _timestamp(resets_at, name, ".resets_at") if parsed is None else parsed
    period = _UnfrozenPeriod()
    period.utilization = utilization
    period.resets_at = resets_at
    period.__class__ = UsagePeriod
    built: UsagePeriod = period
    return built


_Checked = TypeVar("_Checked")


def _lenient(check: Callable[[Any, str], _Checked], value: Any, name: str, problems: list[str] | None) -> _Checked | None:
    """``check(value, name)``, or ``None`` (a field read as null) when it finds a problem."""
    try:
        return check(value, name)
    except ParseError as error:
        _note(error, problems)
        return None


def _parse_extra_usage(value: Any, problems: list[str] | None) -> ExtraUsage | None:
    extra = value if type(value) is dict else _lenient(_optional_object, value, "extra_usage", problems)
    if extra is None:
        return None
    get = extra.get
    is_enabled = get("is_enabled")
    if type(is_enabled) is not bool:
        is_enabled = bool(_lenient(_optional_bool, is_enabled, "extra_usage.is_enabled", problems))
    monthly_limit = get("monthly_limit")
    if monthly_limit is not None:
        monthly_limit = _lenient(_number, monthly_limit, "extra_usage.monthly_limit", problems)
    used_credits = get("used_credits")
    if used_credits is not None:
        used_credits = _lenient(_number, used_credits, "extra_usage.used_credits", problems)
    utilization = get("utilization")
    if utilization is not None:
        utilization = _lenient(_number, utilization, "extra_usage.utilization", problems)
    currency = get("currency")
    if currency is not None and type(currency) is not str:
        currency = _lenient(_optional_str, currency, "extra_usage.currency", problems)
    disabled_reason = get("disabled_reason")
    if disabled_reason is not None and type(disabled_reason) is not str:
        disabled_reason = _lenient(_optional_str, disabled_reason, "extra_usage.disabled_reason", problems)
    extra_usage = _UnfrozenExtraUsage()
    extra_usage.is_enabled = is_enabled
    extra_usage.monthly_limit = monthly_limit
    extra_usage.used_credits = used_credits
    extra_usage.utilization = utilization
    extra_usage.currency = currency or "USD"
    extra_usage.disabled_reason = disabled_reason
    extra_usage.__class__ = ExtraUsage
    built: ExtraUsage = extra_usage
    return built


def _parse_limit(value: Any, index: int) -> Limit:
    if type(value) is not dict and not _is_mapping(value):
        raise _wrong(value, "an object", "limits", "", index)
    get = value.get
    kind = get("kind")
    if type(kind) is not str and not isinstance(kind, str):
        if kind is None and "kind" not in value:
            raise parse_error(f"limits[{index}].kind: missing")
        raise _wrong(kind, "a string", "limits", ".kind", index)
    percent = get("percent")
    if percent is None and "percent" not in value:
        raise parse_error(f"limits[{index}].percent: missing")
    scope = get("scope")
    model = None
    if scope is not None:
        if type(scope) is not dict:
            scope = _optional_object(scope, "limits", ".scope", index)
        model = scope.get("model")
        if model is not None and type(model) is not dict:
            model = _optional_object(model, "limits", ".scope.model", index)
    group = get("group")
    if group is not None and type(group) is not str:
        group = _optional_str(group, "limits", ".group", index)
    if type(percent) is not float or not _isfinite(percent):
        percent = _number(percent, "limits", ".percent", index)
    resets_at = get("resets_at")
    if resets_at is not None:
        parsed = _usual_timestamp(resets_at) if type(resets_at) is str else None
        resets_at = _timestamp(resets_at, "limits", ".resets_at", index) if parsed is None else parsed
    if model is not None:
        model = model.get("display_name")
        if model is not None and type(model) is not str:
            model = _optional_str(model, "limits", ".scope.model.display_name", index)
    is_active = get("is_active")
    if is_active is not None and type(is_active) is not bool:
        is_active = _optional_bool(is_active, "limits", ".is_active", index)
    limit = _UnfrozenLimit()
    limit.kind = kind
    limit.group = group
    limit.percent = percent
    limit.resets_at = resets_at
    limit.model = model
    limit.is_active = is_active
    limit.__class__ = Limit
    built: Limit = limit
    return built
