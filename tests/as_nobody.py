"""Running a piece of a test as uid/gid 65534 (root ignores permission bits and same-user rules)."""

from __future__ import annotations

import os
from collections.abc import Callable

NOBODY = 65534


def outcome_as_nobody(task: Callable[[], str], describe_error: Callable[[BaseException], str]) -> str:
    """``task()``'s one-line outcome from a forked child that dropped to 65534 when it was root.

    No exec: the interpreter may live where that uid cannot read it. The child never returns into
    pytest; an exception becomes ``describe_error(error)``.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        outcome = "the child failed before it reported"
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            outcome = task()
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            outcome = describe_error(error)
        finally:
            os.write(write_end, outcome.encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        outcome = pipe.read().decode()
    os.waitpid(pid, 0)
    return outcome
