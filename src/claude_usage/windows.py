"""The usage windows in one table (JSON key, label, alias, period length), and limits on them.

Everything that names a window (the command's views and ``--format`` fields, ``check``, ``wait``)
reads this table. Import-light: no models, no typing.
"""

from __future__ import annotations

from claude_usage._typing import TYPE_CHECKING
from claude_usage.errors import UnknownWindowError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

    from claude_usage.models import Limit, UsageData

__all__ = [
    "FIVE_HOUR_PERIOD_HOURS",
    "SEVEN_DAY_PERIOD_HOURS",
    "RESET_MARGIN_SECONDS",
    "WINDOWS",
    "Verdict",
    "evaluate",
    "label",
    "limit_label",
    "limit_period_hours",
    "next_check",
    "not_understood",
    "over_text",
    "period_hours",
    "problem_names",
    "resolve",
]

FIVE_HOUR_PERIOD_HOURS = 5.0
SEVEN_DAY_PERIOD_HOURS = 168.0

#: Past a reset, how long a wait lets the server catch up before it checks again.
RESET_MARGIN_SECONDS = 60.0

#: (JSON key, label, alias or "", period in hours), in display order.
WINDOWS: tuple[tuple[str, str, str, float], ...] = (
    ("five_hour", "5-hour", "5h", FIVE_HOUR_PERIOD_HOURS),
    ("seven_day", "7-day", "7d", SEVEN_DAY_PERIOD_HOURS),
    ("seven_day_sonnet", "7-day Sonnet", "", SEVEN_DAY_PERIOD_HOURS),
    ("seven_day_opus", "7-day Opus", "", SEVEN_DAY_PERIOD_HOURS),
    ("seven_day_oauth_apps", "7-day OAuth apps", "", SEVEN_DAY_PERIOD_HOURS),
)
#: Key prefixes of windows the table does not know yet (the server adds some), with their label and period.
_FAMILIES = (("five_hour_", "5-hour ", FIVE_HOUR_PERIOD_HOURS), ("seven_day_", "7-day ", SEVEN_DAY_PERIOD_HOURS))


def period_hours(key: str) -> float | None:
    """The period of the window ``key`` (known, or by its family's prefix); ``None`` if unknown."""
    for known, _label, _alias, hours in WINDOWS:
        if key == known:
            return hours
    for prefix, _label, hours in _FAMILIES:
        if key.startswith(prefix):
            return hours
    return None


def label(key: str) -> str:
    """``5-hour``, ``7-day Sonnet``...; an unknown key as its family's label and the rest in words.

    Not sanitised: a key the server sent is the caller's to make printable.
    """
    for known, text, _alias, _hours in WINDOWS:
        if key == known:
            return text
    for prefix, text, _hours in _FAMILIES:
        if key.startswith(prefix):
            return text + key[len(prefix) :].replace("_", " ")
    return key.replace("_", " ")


def resolve(name: str) -> str:
    """The JSON key an alias stands for (``5h`` -> ``five_hour``); any other name as given."""
    for key, _label, alias, _hours in WINDOWS:
        if name == alias:
            return key
    return name


def not_understood(problems: Iterable[str], path: str) -> bool:
    """Whether a line of ``problems`` (``UsageData.problems``) names ``path`` or a field under it.

    ``five_hour`` is not understood after ``five_hour.utilization: null``: the server sent the
    window but it was left out of ``UsageData.windows``, so it is unknown rather than unreported.
    The path before ``:`` or ``.`` is the stable part of a problem line; the rest is wording.
    """
    return any(problem_names(line, path) for line in problems)


def problem_names(line: str, path: str) -> bool:
    """Whether the problem ``line`` is about ``path`` or a field under it (see :func:`not_understood`)."""
    return line.startswith((f"{path}:", f"{path}."))


def limit_label(limit: Limit) -> str:
    """The label of a ``limits`` entry: the window's (``7-day``) with the model's name, if scoped."""
    if limit.model:
        return f"{'7-day' if _is_weekly(limit) else limit.kind} {limit.model}"
    return {"session": "5-hour", "weekly_all": "7-day"}.get(limit.kind, limit.kind.replace("_", " "))


def _is_weekly(limit: Limit) -> bool:
    return limit.group == "weekly" or limit.kind.startswith("weekly")


def limit_period_hours(limit: Limit) -> float | None:
    if _is_weekly(limit):
        return SEVEN_DAY_PERIOD_HOURS
    if limit.group == "session" or limit.kind == "session":
        return FIVE_HOUR_PERIOD_HOURS
    return None


class Verdict:
    """One ``WINDOW=PERCENT`` condition judged against the data.

    ``utilization`` is ``None`` when the server did not report the window: neither over nor under.
    """

    __slots__ = ("name", "key", "label", "maximum", "utilization", "resets_at")

    def __init__(
        self, name: str, key: str, label: str, maximum: float, utilization: float | None, resets_at: datetime | None
    ) -> None:
        self.name = name
        self.key = key
        self.label = label
        self.maximum = maximum
        self.utilization = utilization
        self.resets_at = resets_at

    @property
    def over(self) -> bool:
        return self.utilization is not None and self.utilization > self.maximum

    def __repr__(self) -> str:
        return f"Verdict({self.key!r}, maximum={self.maximum!r}, utilization={self.utilization!r})"


def evaluate(usage: UsageData, maxima: Iterable[tuple[str, float]]) -> list[Verdict]:
    """Judge each ``(window, percent)``: a JSON key, an alias, or a per-model limit's display name.

    A window of the table (or of a known family) that the data lacks is reported as such; a
    name that is none of these, nor a model in the data's ``limits``, is an ``UnknownWindowError``.
    """
    verdicts = []
    for name, maximum in maxima:
        key = resolve(name)
        period = usage.windows.get(key)
        if period is not None:
            verdicts.append(Verdict(name, key, label(key), maximum, period.utilization, period.resets_at))
            continue
        if period_hours(key) is not None:
            # The flat key may be null while ``limits`` has the same window (as the view shows it).
            wanted = label(key)
            limit = next((limit for limit in usage.limits if limit_label(limit) == wanted), None)
        else:
            wanted = name.casefold()
            limit = next((limit for limit in usage.limits if limit.model and limit.model.casefold() == wanted), None)
            if limit is None:
                raise UnknownWindowError(f"unknown window {name!r}; known: {', '.join(_known_names(usage))}")
        if limit is None:
            verdicts.append(Verdict(name, key, label(key), maximum, None, None))
        else:
            verdicts.append(Verdict(name, key, limit_label(limit), maximum, limit.percent, limit.resets_at))
    return verdicts


def _known_names(usage: UsageData) -> Sequence[str]:
    names = [alias for _key, _label, alias, _hours in WINDOWS if alias]
    names += [key for key, _label, _alias, _hours in WINDOWS]
    names += [key for key in usage.windows if key not in names]
    names += [limit.model for limit in usage.limits if limit.model]
    return names


def over_text(over: Iterable[Verdict]) -> str:
    """``five_hour at 91%, seven_day at 97%``: what a wait that timed out is still waiting for."""
    return ", ".join(f"{verdict.key} at {verdict.utilization:g}%" for verdict in over)


def next_check(over: Iterable[Verdict], now: float, interval: float, margin: float = RESET_MARGIN_SECONDS) -> float:
    """Seconds a wait sleeps while ``over`` are over: until the earliest of them resets plus
    ``margin`` (usage only drops at a reset), and never less than ``interval``, the data's max
    age (a sooner check would only read the cache, or spend the rate budget)."""
    resets = [verdict.resets_at.timestamp() for verdict in over if verdict.resets_at is not None]
    return max(interval, min(resets) + margin - now) if resets else interval
