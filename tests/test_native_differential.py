"""Differential tests: the C credential reader against a Python oracle built on ``json.loads``."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any, Union

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_usage import _native
from claude_usage._lib import ffi, lib
from claude_usage._native import CredentialInfo

MAX_DEPTH = int(lib.cu_max_depth())
MAX_TOKEN = int(lib.cu_max_token_bytes())
STATUS_NAMES = {int(getattr(lib, name)): name for name in dir(lib) if name.startswith("CU_ERR_") or name == "CU_OK"}
# What a document that is not JSON (or nests too deep) may come back as.
SCANNER_ERRORS = {"CU_ERR_SYNTAX", "CU_ERR_EMPTY", "CU_ERR_TOO_DEEP"}
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Outcome = tuple[Any, ...]  # ("CU_OK", CredentialInfo, header) | ("CU_ERR_WRONG_TYPE", field) | (status,)


# ---- the C side ----


def c_status(data: bytes) -> tuple[str, str]:
    """The C parser's status name and, for a wrong type, the field it names."""
    err = ffi.new("cu_error *")
    lib.cu_credential_free(lib.cu_parse_credential_json(data, len(data), err))
    return STATUS_NAMES[int(err.status)], ffi.string(err.field).decode("ascii")


def c_outcome(data: bytes) -> Outcome:
    """What C makes of a document, in the oracle's terms (values through ``_native``)."""
    status, field = c_status(data)
    if status == "CU_OK":
        with _native.parse_json(data) as credential:
            return (status, credential.info, credential.authorization())
    if status == "CU_ERR_WRONG_TYPE":
        return (status, field)
    return (status,)


# ---- the oracle: json.loads plus the documented extraction rules (csrc/cu_json.c) ----


class _HugeInt:
    """An integer literal too long for int() (Python caps digits); valid JSON, never an int64."""


class _Rejected(ValueError):
    pass


def _parse_constant(name: str) -> object:
    raise _Rejected(f"{name} is not JSON")


def _parse_int(literal: str) -> object:
    return _HugeInt() if len(literal.lstrip("-")) > 1000 else int(literal)


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(char) <= 0xDFFF for char in text)


def python_parse(data: bytes) -> tuple[bool, object, bool]:
    """(accepted, value, holds a lone surrogate) as Python's json sees the document."""
    lone = False

    def check(value: object) -> None:
        nonlocal lone
        if isinstance(value, str):
            lone = lone or _has_surrogate(value)
        elif isinstance(value, list):
            for item in value:
                check(item)

    def pairs_hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
        # Sees every pair, even duplicates that the dict then drops (C validates those too).
        for key, value in pairs:
            check(key)
            check(value)
        return dict(pairs)

    try:
        value = json.loads(
            data.decode("utf-8"),
            parse_constant=_parse_constant,
            parse_int=_parse_int,
            object_pairs_hook=pairs_hook,
        )
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return False, None, False
    check(value)
    return True, value, lone


def max_nesting(data: bytes) -> int:
    """How many containers the document nests at most, counted in the text (duplicates included)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


TOKEN_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
INT64 = range(-(2**63), 2**63)


def oracle(data: bytes) -> Outcome:
    """The outcome the documented rules give, computed from json.loads."""
    if not data.strip(b" \t\r\n"):
        return ("CU_ERR_EMPTY",)
    accepted, document, lone = python_parse(data)
    if not accepted or lone:
        return ("CU_ERR_SYNTAX",)
    if max_nesting(data) > MAX_DEPTH:
        return ("CU_ERR_TOO_DEEP",)
    if not isinstance(document, dict):
        return ("CU_ERR_NOT_OBJECT",)
    login = document.get("claudeAiOauth")
    if login is None:
        return ("CU_ERR_NOT_LOGGED_IN",)
    if not isinstance(login, dict):
        return ("CU_ERR_WRONG_TYPE", "claudeAiOauth")
    token = login.get("accessToken")
    if token is None or token == "":
        return ("CU_ERR_NOT_LOGGED_IN",)
    if not isinstance(token, str):
        return ("CU_ERR_WRONG_TYPE", "accessToken")
    if len(token) > MAX_TOKEN or not TOKEN_RE.fullmatch(token):
        return ("CU_ERR_BAD_TOKEN",)
    expires = login.get("expiresAt")
    if expires is not None and not (type(expires) is int and expires in INT64):
        return ("CU_ERR_WRONG_TYPE", "expiresAt")
    scopes = login.get("scopes")
    if scopes is not None and not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
        return ("CU_ERR_WRONG_TYPE", "scopes")
    for name in ("subscriptionType", "rateLimitTier"):
        if login.get(name) is not None and not isinstance(login[name], str):
            return ("CU_ERR_WRONG_TYPE", name)
    info = CredentialInfo(
        expires,
        None if scopes is None else tuple(scopes),
        login.get("subscriptionType"),
        login.get("rateLimitTier"),
    )
    return ("CU_OK", info, b"Bearer " + token.encode("ascii"))


# ---- documents: trees that allow duplicate keys, rendered with varied escapes and spacing ----


@dataclass(frozen=True)
class Obj:
    pairs: tuple[tuple[str, Node], ...]


@dataclass(frozen=True)
class Arr:
    items: tuple[Node, ...]


Node = Union[None, bool, int, float, str, Obj, Arr]

SPACES = ["", "", "", " ", "\n", "\t", "\r\n", "\n    "]
KNOWN_KEYS = ["claudeAiOauth", "accessToken", "refreshToken", "expiresAt", "scopes", "subscriptionType",
              "rateLimitTier", "mcpOAuth"]

texts = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
keys = st.one_of(st.sampled_from(KNOWN_KEYS + ["accesstoken", "scopes ", "expires_at", ""]), texts)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_nodes: st.SearchStrategy[Node] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda items: Arr(tuple(items))),
        st.lists(st.tuples(keys, children), max_size=3).map(lambda pairs: Obj(tuple(pairs))),
    ),
    max_leaves=6,
)
TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
valid_tokens = st.builds(
    lambda body, padding: body + "=" * padding,
    st.text(TOKEN_ALPHABET, min_size=1, max_size=40),
    st.integers(0, 2),
)
tokens = st.one_of(
    valid_tokens,
    valid_tokens.map(lambda t: "sk-ant-oat01-TEST-" + t),
    st.tuples(valid_tokens, st.sampled_from(["\r", "\n", " ", "\x00", "é", "\u2028", "😀", "=x", '"']),
              valid_tokens).map("".join),
    st.sampled_from(["", "=", "A" * MAX_TOKEN, "A" * (MAX_TOKEN + 1), "AB" * (MAX_TOKEN // 2) + "=="]),
    texts,
)
field_values: dict[str, st.SearchStrategy[Node]] = {
    "accessToken": tokens,
    "refreshToken": st.one_of(tokens, json_nodes),
    "expiresAt": st.one_of(st.integers(min_value=-(2**64), max_value=2**64), scalars),
    "scopes": st.one_of(
        st.lists(texts, max_size=4).map(lambda items: Arr(tuple(items))),
        st.lists(st.one_of(texts, scalars), max_size=3).map(lambda items: Arr(tuple(items))),
        json_nodes,
    ),
    "subscriptionType": st.one_of(st.sampled_from(["max", "pro", "team", "enterprise"]), texts, json_nodes),
    "rateLimitTier": st.one_of(st.just("default_claude_max_5x"), texts, json_nodes),
}


@st.composite
def logins(draw: st.DrawFn) -> Node:
    """A claudeAiOauth value: usually an object with fields present, absent, null or odd, some twice."""
    if draw(st.integers(0, 19)) == 0:
        return draw(json_nodes)
    pairs: list[tuple[str, Node]] = []
    for name, values in field_values.items():
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 1, 2]))):
            pairs.append((name, None if draw(st.integers(0, 9)) == 0 else draw(values)))
    pairs += draw(st.lists(st.tuples(keys, json_nodes), max_size=3))
    return Obj(tuple(draw(st.permutations(pairs))))


@st.composite
def documents(draw: st.DrawFn) -> Node:
    """A credential store: claudeAiOauth zero, one or two times, among other members."""
    if draw(st.integers(0, 29)) == 0:
        return draw(json_nodes)  # not an object, or an object without a login
    pairs: list[tuple[str, Node]] = [("claudeAiOauth", draw(logins())) for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2])))]
    pairs += draw(st.lists(st.tuples(keys, json_nodes), max_size=3))
    if draw(st.integers(0, 9)) == 0:  # something deep, around the nesting limit
        levels = draw(st.integers(MAX_DEPTH - 4, MAX_DEPTH + 2))
        deep: Node = draw(scalars)
        for _ in range(levels):
            deep = Arr((deep,)) if draw(st.booleans()) else Obj((("d", deep),))
        pairs.append(("deep", deep))
    return Obj(tuple(draw(st.permutations(pairs))))


def render_string(text: str, rnd: random.Random) -> str:
    """A JSON string literal: json.dumps (ASCII or not), or escapes chosen per character."""
    style = rnd.randrange(4)
    if style < 2:
        return json.dumps(text, ensure_ascii=style == 0)
    short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "/": "\\/"}
    out = []
    for char in text:
        code = ord(char)
        if char in short and (code < 0x20 or char in '"\\' or rnd.random() < 0.5):
            out.append(short[char])
        elif code < 0x20 or rnd.random() < 0.3:
            hex_format = "\\u{:04x}" if rnd.random() < 0.5 else "\\u{:04X}"
            if code >= 0x10000:
                code -= 0x10000
                out.append(hex_format.format(0xD800 + (code >> 10)) + hex_format.format(0xDC00 + (code & 0x3FF)))
            else:
                out.append(hex_format.format(code))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def render(node: Node, rnd: random.Random) -> str:
    """JSON text for a node, with random white space between tokens."""

    def space() -> str:
        return rnd.choice(SPACES)

    if isinstance(node, Obj):
        members = [space() + render_string(k, rnd) + space() + ":" + space() + render(v, rnd) + space()
                   for k, v in node.pairs]
        return "{" + (",".join(members) or space()) + "}"
    if isinstance(node, Arr):
        return "[" + (",".join(space() + render(item, rnd) + space() for item in node.items) or space()) + "]"
    if isinstance(node, str):
        return render_string(node, rnd)
    if isinstance(node, float) and node == int(node) and rnd.random() < 0.3:
        return f"{node:.3e}".replace("e+", "E")  # exponent forms
    return json.dumps(node)


@st.composite
def document_bytes(draw: st.DrawFn) -> bytes:
    """A rendered credential document as bytes (UTF-8)."""
    rnd = draw(st.randoms(use_true_random=False))
    text = rnd.choice(SPACES) + render(draw(documents()), rnd) + rnd.choice(SPACES)
    return text.encode("utf-8")


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    """A document broken (or not) by truncation, byte flips, inserted junk or a deletion."""
    data = bytearray(draw(document_bytes()))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        if kind == "truncate":
            del data[where:]
        elif kind == "flip" and where < len(data):
            data[where] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            junk = draw(st.one_of(
                st.sampled_from([b",", b":", b"{", b"}", b"[", b"]", b'"', b"\\", b"\\u", b"\\ud800", b"0",
                                 b"-", b"e", b".", b"NaN", b"\xef\xbb\xbf", b"\xc0\x80", b"\xed\xa0\x80",
                                 b"\x00", b"\t", b" "]),
                st.binary(min_size=1, max_size=4),
            ))
            data[where:where] = junk
        elif kind == "delete":
            del data[where:where + draw(st.integers(1, 8))]
    return bytes(data)


# ---- the properties ----


@SETTINGS
@given(document_bytes())
def test_c_agrees_with_the_oracle(data: bytes) -> None:
    """On generated credential documents, C gives exactly the oracle's outcome."""
    assert oracle(data) == c_outcome(data)


@SETTINGS
@given(mutated_bytes())
def test_c_rejects_what_json_rejects(data: bytes) -> None:
    """Text json.loads rejects, C rejects; text it accepts (within C's limits), C scans."""
    accepted, _, lone = python_parse(data)
    status, _ = c_status(data)
    if not accepted:
        assert status in SCANNER_ERRORS
    elif not lone and max_nesting(data) <= MAX_DEPTH:
        assert status not in SCANNER_ERRORS


def test_oracle_and_c_disagree_would_be_seen() -> None:
    """The comparison can fail: a document C and the oracle see differently is told apart."""
    valid = b'{"claudeAiOauth": {"accessToken": "sk-ant-oat01-TEST-x", "scopes": ["user:profile"]}}'
    assert ("CU_OK", CredentialInfo(None, ("user:profile",), None, None), b"Bearer sk-ant-oat01-TEST-x") == oracle(valid)
    assert oracle(valid) == c_outcome(valid)
    assert oracle(valid) != c_outcome(valid.replace(b"profile", b"inference"))


def test_oracle_covers_every_category() -> None:
    """The oracle's categories are all reachable (guards against a generator that only builds one kind)."""
    samples = [
        b"", b"[]", b"{}", b'{"claudeAiOauth": 1}', b'{"claudeAiOauth": {"accessToken": "a b"}}',
        b'{"claudeAiOauth": {"accessToken": "x", "expiresAt": 1.0}}', b"{", b"[" * (MAX_DEPTH + 1),
    ]
    assert [
        ("CU_ERR_EMPTY",), ("CU_ERR_NOT_OBJECT",), ("CU_ERR_NOT_LOGGED_IN",), ("CU_ERR_WRONG_TYPE", "claudeAiOauth"),
        ("CU_ERR_BAD_TOKEN",), ("CU_ERR_WRONG_TYPE", "expiresAt"), ("CU_ERR_SYNTAX",), ("CU_ERR_SYNTAX",),
    ] == [oracle(sample) for sample in samples]
