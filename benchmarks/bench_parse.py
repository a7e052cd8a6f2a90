"""Case 2: typed parsing of a response body against ``json.loads`` of the same bytes.

``body`` is a realistic ~460-byte response, ``limits`` one that carries a ``limits`` list; the
sides take turns (common.taking_turns).
"""

from __future__ import annotations

import json
from typing import Any

from claude_usage.models import UsageData
from common import taking_turns

PARSERS = {"ours": UsageData.from_json, "json": json.loads}
FIVE_HOUR = {"body": 48.0, "limits": 23.0}  # five_hour.utilization in each body


@taking_turns("ours-body", "json-body", "ours-limits", "json-limits")
def test_parse(benchmark: Any, body: bytes, limits_body: bytes, side: str, turn: int) -> None:
    """One turn of one parser on one body; both parsers must read the same values."""
    parser, which = side.split("-")
    parsed = benchmark(PARSERS[parser], body if which == "body" else limits_body)
    five_hour = parsed.five_hour.utilization if parser == "ours" else parsed["five_hour"]["utilization"]
    assert FIVE_HOUR[which] == five_hour
