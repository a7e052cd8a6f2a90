"""Typed views of the usage endpoint's response, parsed tolerantly.

Parsing rules, for every field: ``null`` or absent is always accepted (``None``, or the stated
default); a present value of the wrong type raises :class:`~claude_usage.errors.ParseError`
naming the field. Unknown keys are kept in :attr:`UsageData.raw`, and unknown top-level keys that
look like a window (an object with a ``utilization`` key) also appear in :attr:`UsageData.windows`
when they parse; an unknown key never makes parsing fail.

Datetimes are always timezone-aware UTC. Methods taking ``now`` raise ``ValueError`` for a naive
datetime (it usually means local time); ``now=None`` is the current time.

This module stays import-light (no HTTP, no native code): the command's cache path imports it.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from claude_usage import pace
from claude_usage.errors import ParseError, redact_secrets

if TYPE_CHECKING:
    from decimal import Decimal  # imported when used: the command's cache path rarely needs it

__all__ = ["ExtraUsage", "Limit", "UsageData", "UsagePeriod"]

FIVE_HOUR_PERIOD_HOURS = 5.0
SEVEN_DAY_PERIOD_HOURS = 168.0

_KNOWN_WINDOWS = ("five_hour", "seven_day", "seven_day_sonnet", "seven_day_opus", "seven_day_oauth_apps")
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
_value_repr = reprlib.Repr()
_value_repr.maxstring = 40
_value_repr.maxother = 40
_value_repr.maxlevel = 2


def _shorten(text: str) -> str:
    return text if len(text) <= _EXCERPT_LIMIT else text[: _EXCERPT_LIMIT - 3] + "..."


def _body_excerpt(text: str) -> str:
    return _shorten(repr(redact_secrets(text[:_EXCERPT_LIMIT])))


def _value_excerpt(value: Any) -> str:
    return _shorten(_value_repr.repr(_redacted(value, _value_repr.maxlevel)))


def _redacted(value: Any, depth: int) -> Any:
    """``value`` with token-shaped text replaced as deep as an excerpt shows it; before the
    excerpt is cut, since cutting keeps a string's head and tail and could drop the prefix."""
    if isinstance(value, str):
        return redact_secrets(value)
    if depth > 0 and isinstance(value, list):
        return [_redacted(item, depth - 1) for item in value[: _value_repr.maxlist]]
    if depth > 0 and isinstance(value, dict):
        items = list(value.items())[: _value_repr.maxdict]
        return {_redacted(key, depth - 1): _redacted(item, depth - 1) for key, item in items}
    return value


def _parse_error(message: str) -> ParseError:
    return ParseError(message, hint=_PARSE_HINT)


def _number(value: Any, name: str) -> float:
    # bool is an int subclass, but true is not a percentage.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _parse_error(f"{name} must be a number, got {_value_excerpt(value)}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise _parse_error(f"{name} must be a finite number, got {_value_excerpt(value)}")
    return result


def _optional_number(value: Any, name: str) -> float | None:
    return None if value is None else _number(value, name)


def _optional_str(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _parse_error(f"{name} must be a string or null, got {_value_excerpt(value)}")


def _optional_bool(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _parse_error(f"{name} must be true, false or null, got {_value_excerpt(value)}")


def _optional_object(value: Any, name: str) -> Mapping[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return value
    raise _parse_error(f"{name} must be an object or null, got {_value_excerpt(value)}")


def _timestamp(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _parse_error(f"{name} must be a timestamp string or null, got {_value_excerpt(value)}")
    try:
        return pace.parse_timestamp(value)
    except ValueError:
        problem = f"{name} is not an ISO 8601 timestamp: {_value_excerpt(value)}"
    raise _parse_error(problem)


def _plain_copy(value: Any) -> Any:
    """Deep-copy nested mappings/sequences into dicts/lists (JSON-ready), without recursion.

    Iterative because a valid body may nest nearly as deep as the recursion limit.
    """
    if not isinstance(value, (Mapping, list, tuple)):
        return value
    root: Any = {} if isinstance(value, Mapping) else [None] * len(value)
    pending: list[tuple[Any, Any]] = [(value, root)]
    while pending:
        source, target = pending.pop()
        items = source.items() if isinstance(source, Mapping) else enumerate(source)
        for key, child in items:
            if isinstance(child, Mapping):
                copied: Any = {}
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

    @classmethod
    def _parse(cls, value: Any, name: str) -> UsagePeriod | None:
        window = _optional_object(value, name)
        if window is None:
            return None
        if "utilization" not in window:
            raise _parse_error(f"{name}.utilization is missing")
        return cls(
            utilization=_number(window["utilization"], f"{name}.utilization"),
            resets_at=_timestamp(window.get("resets_at"), f"{name}.resets_at"),
        )


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

    @classmethod
    def _parse(cls, value: Any) -> ExtraUsage | None:
        extra = _optional_object(value, "extra_usage")
        if extra is None:
            return None
        return cls(
            is_enabled=bool(_optional_bool(extra.get("is_enabled"), "extra_usage.is_enabled")),
            monthly_limit=_optional_number(extra.get("monthly_limit"), "extra_usage.monthly_limit"),
            used_credits=_optional_number(extra.get("used_credits"), "extra_usage.used_credits"),
            utilization=_optional_number(extra.get("utilization"), "extra_usage.utilization"),
            currency=_optional_str(extra.get("currency"), "extra_usage.currency") or "USD",
            disabled_reason=_optional_str(extra.get("disabled_reason"), "extra_usage.disabled_reason"),
        )


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

    @classmethod
    def _parse(cls, value: Any, name: str) -> Limit:
        if not isinstance(value, Mapping):
            raise _parse_error(f"{name} must be an object, got {_value_excerpt(value)}")
        kind = value.get("kind")
        if not isinstance(kind, str):
            raise _parse_error(f"{name}.kind must be a string, got {_value_excerpt(kind)}")
        if "percent" not in value:
            raise _parse_error(f"{name}.percent is missing")
        scope = _optional_object(value.get("scope"), f"{name}.scope")
        model = None if scope is None else _optional_object(scope.get("model"), f"{name}.scope.model")
        return cls(
            kind=kind,
            group=_optional_str(value.get("group"), f"{name}.group"),
            percent=_number(value["percent"], f"{name}.percent"),
            resets_at=_timestamp(value.get("resets_at"), f"{name}.resets_at"),
            model=None
            if model is None
            else _optional_str(model.get("display_name"), f"{name}.scope.model.display_name"),
            is_active=_optional_bool(value.get("is_active"), f"{name}.is_active"),
        )


@dataclass(frozen=True, slots=True)
class UsageData:
    """The whole usage response. Build it with :meth:`from_json` or :meth:`from_dict`.

    ``windows`` maps every window-shaped top-level key (the five attributes' keys included) to
    its period; ``raw`` is the body as parsed. Both are read-only mappings. ``to_dict`` returns a
    copy of ``raw``, so ``from_dict(x.to_dict()) == x`` for every parsed ``x``. Equality compares
    every field; the hash leaves out ``windows`` and ``raw`` (mappings are unhashable), which keeps
    equal objects' hashes equal. ``raw`` is left out of the ``repr`` as it repeats the rest.
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

    def __post_init__(self) -> None:
        # Private copies, so neither the caller's objects nor ours can change the other.
        object.__setattr__(self, "limits", tuple(self.limits))
        object.__setattr__(self, "windows", MappingProxyType(dict(self.windows)))
        object.__setattr__(self, "raw", MappingProxyType(_plain_copy(self.raw)))

    def __reduce__(self) -> tuple[Any, ...]:
        # mappingproxy cannot be pickled; rebuild from plain dicts instead.
        values = [getattr(self, f.name) for f in fields(self)]
        values[-2:] = [dict(self.windows), dict(self.raw)]
        return (type(self), tuple(values))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UsageData:
        """Parse an already-decoded body; raise ``ParseError`` naming the field that is wrong."""
        if not isinstance(data, Mapping):
            raise _parse_error(f"response body must be a JSON object, got {_value_excerpt(data)}")
        known: dict[str, UsagePeriod | None] = {}
        windows: dict[str, UsagePeriod] = {}
        for key, value in data.items():
            if key in _KNOWN_WINDOWS:
                period = known[key] = UsagePeriod._parse(value, key)
            elif _looks_like_window(key, value):
                period = cls._parse_unknown_window(value, key)
            else:
                continue
            if period is not None:
                windows[key] = period
        limits = _optional_list(data.get("limits"), "limits")
        return cls(
            five_hour=known.get("five_hour"),
            seven_day=known.get("seven_day"),
            seven_day_sonnet=known.get("seven_day_sonnet"),
            seven_day_opus=known.get("seven_day_opus"),
            seven_day_oauth_apps=known.get("seven_day_oauth_apps"),
            extra_usage=ExtraUsage._parse(data.get("extra_usage")),
            limits=tuple(Limit._parse(entry, f"limits[{index}]") for index, entry in enumerate(limits)),
            windows=windows,
            raw=data,
        )

    @staticmethod
    def _parse_unknown_window(value: Mapping[str, Any], key: str) -> UsagePeriod | None:
        try:
            return UsagePeriod._parse(value, key)
        except ParseError:
            return None  # an unknown key never fails the parse; it stays in raw

    @classmethod
    def from_json(cls, body: str | bytes) -> UsageData:
        """Parse a response body (UTF-8 bytes or text); raise ``ParseError`` if it is not a usage object."""
        problem = None
        text = ""
        if isinstance(body, (bytes, bytearray, memoryview)):
            try:
                text = bytes(body).decode("utf-8")
            except UnicodeDecodeError as exc:
                problem = f"response body is not UTF-8 (invalid byte at offset {exc.start})"
        elif isinstance(body, str):
            text = body
        else:
            raise TypeError(f"body must be str or bytes, not {type(body).__name__}")
        if problem is None:
            text = text.removeprefix("\ufeff")
            try:
                data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
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
            raise _parse_error(problem)
        return cls.from_dict(data)

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


def _looks_like_window(key: Any, value: Any) -> bool:
    return (
        isinstance(key, str)
        and key not in _NOT_WINDOWS
        and isinstance(value, Mapping)
        and "utilization" in value
    )


def _optional_list(value: Any, name: str) -> list[Any] | tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return value
    raise _parse_error(f"{name} must be a list or null, got {_value_excerpt(value)}")
