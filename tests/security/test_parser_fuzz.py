"""Item 6 (Python side): UsageData.from_json on hostile input raises ParseError or returns data, nothing else.

Four generators: arbitrary bytes, arbitrary text, realistic bodies mutated byte-wise, and JSON documents built
from the real keys with values of every type (which reach the typed parsing behind json.loads). Each input is
parsed in both modes: tolerant (the default) raises nothing but ParseError, and nothing at all for a JSON
object; strict raises only ParseError, and exactly when tolerant parsing lists a problem (the first one).
``CLAUDE_USAGE_FUZZ_EXAMPLES`` sets the examples per generator (default 1000).
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_usage import ParseError, UsageData
from conftest import FIXTURES
from security.probes import record

EXAMPLES = int(os.environ.get("CLAUDE_USAGE_FUZZ_EXAMPLES", "1000"))
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
BODIES = [path.read_bytes() for path in sorted(FIXTURES.glob("*.json"))]

runs: Counter[str] = Counter()
escaped: list[str] = []  # findings: an exception other than ParseError, or the modes disagreeing


@pytest.fixture(scope="module", autouse=True)
def fuzzing_row() -> Iterator[None]:
    """One table row for all generators, written when the module's tests are done."""
    yield
    total = sum(runs.values())
    detail = ", ".join(f"{name} {count:,}" for name, count in sorted(runs.items()))
    record("response parser: hypothesis fuzzing", f"{total:,} examples ({detail}) in both modes, {len(escaped)} findings", "0 findings", total > 0 and not escaped)


def finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("out of range")
    return value


def refuse(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def is_json_object(body: bytes | str) -> bool:
    """A JSON object as RFC 8259 exchanges it (UTF-8, one BOM allowed), numbers within a float's range."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        document = json.loads(text.removeprefix("\ufeff"), parse_constant=refuse, parse_float=finite)
    except (ValueError, RecursionError):
        return False
    return isinstance(document, dict)


def parse(body: bytes | str, generator: str) -> None:
    """Parse one input in both modes; anything but ParseError escaping is recorded, then re-raised, and
    so is a ParseError from a JSON object in tolerant mode, or a strict outcome that disagrees with it."""
    runs[generator] += 1
    tolerant: UsageData | ParseError
    try:
        try:
            tolerant = UsageData.from_json(body)
        except ParseError as error:
            tolerant = error
        try:
            strict: UsageData | str = UsageData.from_json(body, strict=True)
        except ParseError as error:
            strict = error.message
    except BaseException as exc:
        escaped.append(f"{generator}: {type(exc).__name__}: {exc!s:.200}")
        raise
    if isinstance(tolerant, ParseError):
        expected: UsageData | str = tolerant.message
        if is_json_object(body):
            escaped.append(f"{generator}: tolerant ParseError for a JSON object: {tolerant.message:.200}")
    else:
        expected = tolerant.problems[0] if tolerant.problems else tolerant
    if expected != strict:
        escaped.append(f"{generator}: strict gave {strict!r:.200}, tolerant {expected!r:.200}")
    assert [] == escaped


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A realistic body with a few byte-level edits: flips, deletions, insertions, duplications."""
    body = bytearray(draw(st.sampled_from(BODIES)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(body)))
        edit = draw(st.sampled_from(["flip", "delete", "insert", "duplicate", "truncate"]))
        if edit == "flip" and at < len(body):
            body[at] = draw(st.integers(0, 255))
        elif edit == "delete":
            del body[at : at + draw(st.integers(1, 16))]
        elif edit == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b"null", b"[", b"{", b'"', b"-1e999", b"\\u0000"]))
        elif edit == "duplicate":
            body[at:at] = body[at : at + draw(st.integers(1, 64))]
        elif edit == "truncate":
            del body[at:]
    return bytes(body)


KEYS = [
    "five_hour", "seven_day", "seven_day_sonnet", "seven_day_opus", "seven_day_oauth_apps", "seven_day_cowork",
    "utilization", "resets_at", "extra_usage", "is_enabled", "monthly_limit", "used_credits", "currency",
    "disabled_reason", "limits", "kind", "group", "percent", "scope", "model", "id", "display_name",
    "surface", "is_active",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["2026-03-02T11:00:00.521744+00:00", "2026-03-02T11:00:00Z", "2026-13-45T99:00:00", "", "USD", "session"])
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=5),
    max_leaves=16,
)


def fuzz(generator: str, strategy: st.SearchStrategy[bytes | str]) -> Callable[[], None]:
    @FUZZ_SETTINGS
    @given(strategy)
    def run(body: bytes | str) -> None:
        parse(body, generator)

    return run


def test_arbitrary_bytes_raise_only_parse_error() -> None:
    """Arbitrary bytes either parse or raise ParseError."""
    fuzz("arbitrary bytes", st.binary(max_size=4096))()
    assert [] == escaped


def test_arbitrary_text_raises_only_parse_error() -> None:
    """Arbitrary text (lone surrogates included) either parses or raises ParseError."""
    fuzz("arbitrary text", st.text(max_size=2048))()
    assert [] == escaped


def test_mutated_realistic_bodies_raise_only_parse_error() -> None:
    """Realistic bodies with byte-level damage either parse or raise ParseError."""
    fuzz("mutated bodies", mutated())()
    assert [] == escaped


def test_documents_of_every_shape_raise_only_parse_error() -> None:
    """JSON documents with the real keys and values of any type either parse or raise ParseError."""
    fuzz("JSON of any shape", DOCUMENTS.map(lambda document: json.dumps(document).encode()))()
    assert [] == escaped
