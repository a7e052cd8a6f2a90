"""``python -m claude_usage``: the ``claude-usage`` command."""

from claude_usage.cli import run

run()
