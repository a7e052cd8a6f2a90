"""``python -m claude_usage``: the ``claude-usage`` command."""

from claude_usage.cli import main

raise SystemExit(main())
