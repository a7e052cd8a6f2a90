"""Usage as Prometheus metrics: the OpenMetrics and Prometheus text formats of a cache result.

The optional extra ``claude-usage-client[metrics]`` (``prometheus_client``) writes the formats;
this module only decides what the samples are, from a :class:`~claude_usage.cache.CacheResult`
and the cache's :class:`~claude_usage.cache.CacheState`. It sends no request of its own: the
caller gets the result through :class:`~claude_usage.client.UsageClient` (the shared cache), so
monitoring costs the rate budget no more than a status line does.

No label carries a token: windows are the server's JSON keys, the plan is the login's
subscription type, and an ``account`` label appears only when the caller passes one (the command
passes an account's label, which may be its email address unless ``--label-email never``).
Several accounts' collectors make one exposition through :class:`AccountsCollector`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from claude_usage import __version__, windows

if TYPE_CHECKING:
    from typing import Protocol

    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.metrics_core import Metric

    from claude_usage.cache import CacheResult, CacheState
    from claude_usage.models import UsagePeriod

    class Collector(Protocol):
        def collect(self) -> Iterator[Metric]: ...

__all__ = ["INSTALL_HINT", "PREFIX", "AccountsCollector", "UsageCollector", "encoder_for", "exposition"]

PREFIX = "claude_usage"
INSTALL_HINT = "pip install 'claude-usage-client[metrics]'"


class UsageCollector:
    """A ``prometheus_client`` collector of one moment's usage (register it, or pass it to
    :func:`exposition`). ``result`` ``None``: nothing has been read yet (only ``up`` 0)."""

    def __init__(
        self, result: CacheResult | None, state: CacheState | None, *, now: float, account: str | None = None
    ) -> None:
        self.result = result
        self.state = state
        self.now = now
        self.account = account

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

        extra_labels = [] if self.account is None else ["account"]
        extra_values = [] if self.account is None else [self.account]

        def gauge(name: str, documentation: str, unit: str = "", labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=[*labels, *extra_labels], unit=unit)

        def add(family: GaugeMetricFamily, value: float, *label_values: str) -> None:
            family.add_metric([*label_values, *extra_values], value)

        result, state = self.result, self.state
        failed = result is None or result.error is not None

        up = gauge("up", "1 when the latest attempt to get data succeeded (or fresh data was cached), else 0")
        add(up, 0.0 if failed else 1.0)
        yield up

        if result is not None and result.error is not None:
            # The kind only: a message is free text (paths, server wording) and would churn series.
            error = InfoMetricFamily(
                f"{PREFIX}_error", "why up is 0: the error's kind", labels=["kind", *extra_labels]
            )
            error.add_metric([result.error.kind, *extra_values], {})
            yield error

        info = InfoMetricFamily(PREFIX, "the plan from the login and this program's version")
        plan = ("" if result is None else result.subscription_type) or ""
        tier = ("" if result is None else result.rate_limit_tier) or ""
        described = {"version": __version__, "plan": plan, "rate_limit_tier": tier}
        if self.account is not None:
            described["account"] = self.account
        info.add_metric([], described)
        yield info

        fetched_at = None if result is None else result.fetched_at
        if state is not None and state.fetched_at is not None:
            fetched_at = state.fetched_at if fetched_at is None else max(fetched_at, state.fetched_at)
        if fetched_at is not None:
            success = gauge("last_success_timestamp_seconds", "when data was last fetched from the server", "seconds")
            add(success, fetched_at)
            yield success
        if result is not None and result.fetched_at is not None:
            age = gauge("data_age_seconds", "seconds since the data shown was fetched", "seconds")
            add(age, max(0.0, self.now - result.fetched_at))
            yield age
            stale = gauge("data_stale", "1 when the data is older data shown because the latest attempt failed")
            add(stale, 1.0 if result.stale else 0.0)
            yield stale
        if state is not None:
            blocked = gauge(
                "blocked_until_timestamp_seconds",
                "end of an active rate-limit block or backoff (no request is sent before it); 0 when none",
                "seconds",
            )
            until = state.blocked_until
            add(blocked, until if until is not None and until > self.now else 0.0)
            yield blocked
            if state.last_error_at is not None and state.last_error_kind is not None:
                last_error = gauge(
                    "last_error_timestamp_seconds", "when the cache last recorded a failed request, by kind", "seconds", ("kind",)
                )
                add(last_error, state.last_error_at, state.last_error_kind)
                yield last_error

        if result is None or result.data is None:
            return
        usage = result.usage
        assert usage is not None
        problems = gauge("problems", "parts of the answer not understood and left out (see `claude-usage --json`)")
        add(problems, float(len(result.problems)))
        yield problems

        used = gauge("window_used_ratio", "share of the window's quota used (1 = 100%; may exceed 1)", "ratio", ("window",))
        resets = gauge("window_resets_timestamp_seconds", "when the window resets", "seconds", ("window",))
        elapsed = gauge("window_elapsed_ratio", "share of the window's time that has passed", "ratio", ("window",))
        moment = datetime.fromtimestamp(self.now, timezone.utc)
        for key, period in _windows_in_order(usage.windows):
            add(used, period.utilization / 100.0, key)
            if period.resets_at is not None:
                add(resets, period.resets_at.timestamp(), key)
                hours = windows.period_hours(key)
                share = None if hours is None else period.time_elapsed_percent(hours, now=moment)
                if share is not None:
                    add(elapsed, share / 100.0, key)
        yield from _with_samples(used, resets, elapsed)

        limit_used = gauge(
            "limit_used_ratio", "share used of an entry of the answer's `limits` list (per-model weekly limits)", "ratio", ("kind", "model")
        )
        limit_resets = gauge("limit_resets_timestamp_seconds", "when that limit resets", "seconds", ("kind", "model"))
        seen: set[tuple[str, str]] = set()
        for limit in usage.limits:
            labels = (limit.kind, limit.model or "")
            if labels in seen:
                continue  # one series per label set: a duplicate entry would make the exposition invalid
            seen.add(labels)
            add(limit_used, limit.percent / 100.0, *labels)
            if limit.resets_at is not None:
                add(limit_resets, limit.resets_at.timestamp(), *labels)
        yield from _with_samples(limit_used, limit_resets)

        extra = usage.extra_usage
        if extra is not None and not windows.not_understood(result.problems, "extra_usage.is_enabled"):
            enabled = gauge("extra_usage_enabled", "1 when extra (pay-as-you-go) usage is enabled")
            add(enabled, 1.0 if extra.is_enabled else 0.0)
            yield enabled
            currency = extra.currency.upper()
            # A field not understood reads as null in the model: 0 spent or no cap would be wrong.
            spent = extra.used_credits_major
            if spent is not None and not windows.not_understood(result.problems, "extra_usage.used_credits"):
                family = gauge("extra_usage_used", "extra usage spent this month, in major units of `currency`", labels=("currency",))
                add(family, float(spent), currency)
                yield family
            cap = extra.monthly_limit_major
            if cap is not None and not windows.not_understood(result.problems, "extra_usage.monthly_limit"):
                family = gauge("extra_usage_limit", "extra usage monthly cap, in major units of `currency` (absent: no cap)", labels=("currency",))
                add(family, float(cap), currency)
                yield family


class AccountsCollector:
    """Several accounts' collectors as one exposition: each family once (one HELP
    and TYPE), holding every account's samples. Each collector must carry its own ``account``
    label, so that no two accounts' samples are the same series."""

    def __init__(self, collectors: Sequence[UsageCollector]) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}  # in the order the families first appear
        for collector in self.collectors:
            for family in collector.collect():
                first = merged.setdefault(family.name, family)
                if first is not family:
                    first.samples.extend(family.samples)
        return iter(merged.values())


def _with_samples(*families: GaugeMetricFamily) -> Iterator[GaugeMetricFamily]:
    # A family without samples is valid but only noise (an account without `limits`, say).
    return (family for family in families if family.samples)


def _windows_in_order(found: Mapping[str, UsagePeriod]) -> list[tuple[str, UsagePeriod]]:
    """The windows in the table's order, then the ones it does not know, by key."""
    order = {key: index for index, (key, _label, _alias, _hours) in enumerate(windows.WINDOWS)}
    return sorted(found.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


def exposition(collector: Collector, *, openmetrics: bool = True) -> bytes:
    """The collector's samples in the OpenMetrics text format (the Prometheus one with ``openmetrics=False``)."""
    if openmetrics:
        from prometheus_client.openmetrics.exposition import generate_latest as encode_openmetrics

        return _typed(encode_openmetrics)(collector)
    from prometheus_client.exposition import generate_latest as encode_text

    return _typed(encode_text)(collector)


def encoder_for(accept: str | None) -> tuple[Callable[[Collector], bytes], str]:
    """The encoder an HTTP ``Accept`` header asks for (OpenMetrics or the Prometheus text, as
    ``prometheus_client`` negotiates it), and its content type."""
    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(accept or "")
    return _typed(encoder), content_type


def _typed(encoder: Callable[..., bytes]) -> Callable[[Collector], bytes]:
    # prometheus_client's encoders take any object with collect() (a registry or a collector);
    # its annotations name its Collector class, which ours do not subclass so that importing
    # this module does not import prometheus_client.
    return encoder
