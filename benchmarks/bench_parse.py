"""Case 2: typed parsing of a response body against ``json.loads`` of the same bytes."""

from __future__ import annotations

import json
from typing import Any

from claude_usage.models import UsageData


def test_parse_ours(benchmark: Any, body: bytes) -> None:
    """``UsageData.from_json`` of a realistic ~460-byte body."""
    assert 48.0 == benchmark(UsageData.from_json, body).five_hour.utilization


def test_parse_json(benchmark: Any, body: bytes) -> None:
    """Baseline: ``json.loads`` of the same bytes."""
    assert 48.0 == benchmark(json.loads, body)["five_hour"]["utilization"]


def test_parse_limits_ours(benchmark: Any, limits_body: bytes) -> None:
    """``UsageData.from_json`` of a body that carries a ``limits`` list."""
    assert 4 == len(benchmark(UsageData.from_json, limits_body).limits)


def test_parse_limits_json(benchmark: Any, limits_body: bytes) -> None:
    """Baseline: ``json.loads`` of the same bytes."""
    assert 4 == len(benchmark(json.loads, limits_body)["limits"])
