"""What Claude Code writes to a status-line command's stdin, read within a bound of size and time.

Claude Code writes one JSON object and closes the pipe at once. Anything else (an empty pipe,
``/dev/null``, a pipe its writer keeps open, binary garbage, more than 1 MiB, JSON of another
shape) is ignored: the command then behaves as without stdin, after at most ``WAIT_SECONDS``.

Only a few values are kept: the ``rate_limits`` numbers (as a cache
:class:`~claude_usage.cache.Observation`), the model's display name, the context window's used
percent and the session's cost. Paths, session ids and the rest are dropped here, so nothing
else of stdin can reach the cache or the output.

Imported only when stdin is a pipe, a socket or a file (not a terminal or another device); standard library only, no threads (``select`` on
the descriptor, and never ``O_NONBLOCK``: the pipe's file description is shared with its writer).
"""

from __future__ import annotations

import json
import os
import select
import time

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cache import Observation, finite_number

if TYPE_CHECKING:
    from typing import Any

__all__ = ["MAX_BYTES", "WAIT_SECONDS", "Session", "read_session"]

MAX_BYTES = 1024 * 1024
#: Claude Code writes and closes at once; a writer slower than this is not Claude Code.
WAIT_SECONDS = 0.1


class Session:
    """The parts of Claude Code's status-line JSON the command uses; ``None`` when absent or odd."""

    __slots__ = ("observation", "model", "context_percent", "cost_usd")

    def __init__(
        self,
        observation: Observation | None,
        model: str | None = None,
        context_percent: float | None = None,
        cost_usd: float | None = None,
    ) -> None:
        self.observation = observation
        self.model = model
        self.context_percent = context_percent
        self.cost_usd = cost_usd


def read_session(fd: int, observed_at: float) -> Session | None:
    """The session Claude Code described on ``fd``, or ``None`` (nothing usable came in time)."""
    raw = read_bounded(fd)
    if not raw:
        return None
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):  # not UTF-8 or not JSON (UnicodeDecodeError is a ValueError)
        return None
    if not isinstance(document, dict):
        return None
    observation = Observation.from_rate_limits(document.get("rate_limits"), observed_at)
    model = _get(document, "model", "display_name")
    cost = finite_number(_get(document, "cost", "total_cost_usd"))
    return Session(
        observation if observation.windows else None,
        model if isinstance(model, str) and model else None,
        _context_percent(document.get("context_window")),
        cost,
    )


def read_bounded(fd: int, limit: int = MAX_BYTES, wait: float = WAIT_SECONDS) -> bytes | None:
    """Everything up to EOF on ``fd`` if it came within ``wait`` seconds and ``limit`` bytes, else
    ``None``. ``fd`` is a pipe, a socket or a file: :meth:`Context.session` never passes a terminal
    (a person typing: never wait for them) or another device."""
    deadline = time.monotonic() + wait
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None  # a writer that keeps the pipe open
        try:
            ready, _, _ = select.select([fd], [], [], left)
        except (OSError, ValueError):  # e.g. a descriptor select cannot watch
            return None
        if not ready:
            return None
        try:
            # At most what is left of the bound, plus one byte to tell "too large" from "exactly".
            chunk = os.read(fd, limit + 1 - size)
        except OSError:
            return None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None  # far larger than any status-line JSON: not Claude Code's


def _get(document: dict[str, Any], outer: str, inner: str) -> Any:
    part = document.get(outer)
    return part.get(inner) if isinstance(part, dict) else None




def _context_percent(context: Any) -> float | None:
    """``context_window.used_percentage`` when sent; else the current usage over the window's size."""
    if not isinstance(context, dict):
        return None
    used = finite_number(context.get("used_percentage"))
    if used is not None:
        return used
    size = finite_number(context.get("context_window_size"))
    current = context.get("current_usage")
    if not size or size <= 0 or not isinstance(current, dict):
        return None
    parts = [finite_number(current.get(name)) for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
    tokens = sum(part for part in parts if part is not None)
    return tokens / size * 100
