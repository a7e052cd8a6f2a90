"""Several accounts at once: each asked on its own thread, all within one deadline, so that a slow
or failing account never delays or hides another's data."""

from __future__ import annotations

from claude_usage._typing import TYPE_CHECKING
from claude_usage.client import DEFAULT_TIMEOUT, LOCK_GRACE_SECONDS
from claude_usage.errors import ClaudeUsageError, NetworkError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TypeVar

    from claude_usage.profiles import Account
    from claude_usage.cli import Context

    T = TypeVar("T")



def each_account(
    accounts: Sequence[Account], work: Callable[[Account], T], timeout: float | None = None
) -> list[tuple[Account, T | ClaudeUsageError]]:
    """``work(account)`` for every account, concurrently, in the accounts' order: its value, or
    the ``ClaudeUsageError`` it raised. An account still busy ``timeout`` (the request timeout,
    by default the client's) plus the lock's grace after the start is reported as a
    ``NetworkError`` and left behind (its thread is a daemon: the command exits without it)."""
    if len(accounts) == 1:  # no thread to start for one
        return [(accounts[0], _run(work, accounts[0]))]
    import threading
    import time

    answers: dict[int, T | ClaudeUsageError] = {}

    def run(index: int, account: Account) -> None:
        answers[index] = _run(work, account)

    threads = [threading.Thread(target=run, args=(index, account), daemon=True) for index, account in enumerate(accounts)]
    for thread in threads:
        thread.start()
    limit = (DEFAULT_TIMEOUT if timeout is None else timeout) + LOCK_GRACE_SECONDS
    deadline = time.monotonic() + limit
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    late = NetworkError(f"no answer within {limit:g} s", hint="the other accounts were not held up; try again")
    return [(account, answers.get(index, late)) for index, account in enumerate(accounts)]


def _run(work: Callable[[Account], T], account: Account) -> T | ClaudeUsageError:
    try:
        return work(account)
    except ClaudeUsageError as error:
        return error


def heading(account: Account, context: Context, color: str = "auto") -> str:
    """The account's label as the heading of its block (bold when colour is on; see --color)."""
    from claude_usage.cli import render

    style = render.style(color, context.environ, context.out)
    return render.paint(render.printable(account.label, 200), "1", style)


def accounts_document(answers: Sequence[tuple[Account, T | ClaudeUsageError]], document: Callable[[T], dict[str, Any]]) -> str:
    """``{"accounts": [...]}``, the ``--json`` of several accounts: per account its ``account``
    (label) and ``config_dir``, then ``document(answer)``'s fields, or ``"error"`` with the
    object a failed ``--json`` prints."""
    import json

    from claude_usage.cli.render import error_object

    documents = []
    for account, answer in answers:
        head: dict[str, Any] = {"account": account.label, "config_dir": account.config_dir}
        if isinstance(answer, ClaudeUsageError):
            head["error"] = error_object(answer)
        else:
            head.update(document(answer))
        documents.append(head)
    return json.dumps({"accounts": documents}) + "\n"
