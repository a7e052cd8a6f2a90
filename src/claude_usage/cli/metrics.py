"""``claude-usage metrics``: the usage as OpenMetrics (or Prometheus text) on stdout or in a file.

The data comes from the shared cache like every other mode; ``--write`` replaces the file
atomically, so node_exporter's textfile collector never reads half of one.
"""

from __future__ import annotations

import os

from claude_usage._typing import TYPE_CHECKING
from claude_usage.cli import write
from claude_usage.cli.arguments import UsageError
from claude_usage.errors import EXIT_OK

if TYPE_CHECKING:
    from claude_usage.cli import Context
    from claude_usage.cli.arguments import Arguments


def require_prometheus_client() -> None:
    """A usage error (exit 2) saying how to install the extra, when ``prometheus_client`` is missing."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        from claude_usage.metrics import INSTALL_HINT

        raise UsageError(f"this needs prometheus_client, an optional extra: {INSTALL_HINT}") from None


def metrics(args: Arguments, context: Context) -> int:
    require_prometheus_client()
    from claude_usage.metrics import UsageCollector, exposition

    with context.client(args.timeout) as client:
        result = client.get_result(max_age=args.max_age)
        state = client.cache_state()
    collector = UsageCollector(result, state, now=result.now, account=args.account_label)
    body = exposition(collector, openmetrics=not args.prometheus)
    if args.write is None:
        write(context.out, body.decode())
    else:
        replace_file(args.write, body)
    if result.data is None:
        # The exposition says so too (up 0 and the error's kind), but a cron job's status should.
        assert result.error is not None
        raise result.error
    context.warn_of_problems(result)
    context.warn_if_stale(result)
    return EXIT_OK


def replace_file(path: str, body: bytes) -> None:
    """Write ``path`` through a temporary file in its directory and an atomic rename.

    The temporary name ends in ``.tmp``: the textfile collector reads only ``*.prom``. Mode 0644,
    since node_exporter usually runs as another user; the file holds no secret.
    """
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise UsageError(f"cannot write {path}: {error.strerror}") from None

