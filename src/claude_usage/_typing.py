"""The one home of ``TYPE_CHECKING`` for this package: ``from claude_usage._typing import TYPE_CHECKING``.

Not :data:`typing.TYPE_CHECKING`: importing :mod:`typing` costs the command's cache hit about
10 ms, more than the rest of its work. Type checkers treat any constant named ``TYPE_CHECKING``
as true, wherever it is imported from, so the guarded imports are still checked.
"""

TYPE_CHECKING = False
