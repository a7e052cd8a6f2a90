"""A credential file rewritten in place while it is read: re-read until whole, typed error if it stays bad."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from claude_usage.credentials import CredentialSource, open_credentials
from claude_usage.errors import ParseError
from conftest import ACCESS_TOKEN, write_credentials

# Runs in its own process, so it really races the reader. Rewrites `path` in place (no temporary
# file, no rename) with each file named after it in turn, as fast as it can, until killed or
# orphaned. O_TRUNC empties the very file a reader may hold open, as account switchers do.
_WRITER = """
import os, sys
path, parent = sys.argv[1], os.getppid()
documents = [open(name, "rb").read() for name in sys.argv[2:]]
announced = False
while os.getppid() == parent:
    for _ in range(1000):
        for data in documents:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            os.write(fd, data)
            os.close(fd)
    if not announced:
        print("writing", flush=True)
        announced = True
"""

READS = 100_000


@contextmanager
def rewriting_in_place(path: Path, *documents: bytes) -> Iterator[None]:
    """A separate process rewrites path in place with documents, in turn, for the block's duration."""
    sources = []
    for number, data in enumerate(documents):
        source = path.with_name(f"document-{number}")
        source.write_bytes(data)
        sources.append(str(source))
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), *sources], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert "writing\n" == writer.stdout.readline()  # the race is on before the first read
        yield
    finally:
        writer.kill()
        writer.wait()


@pytest.fixture
def race_home(tmp_path: Path) -> Iterator[Path]:
    """A home for the race, in memory (tmpfs) where there is one.

    On a disk file system a writer looping as fast as it can stalls in its own truncate, which
    waits for the writeback its previous close started (ext4's auto_da_alloc): the file then
    stays empty for as long as the disk takes, now and then longer than the re-read's bound.
    That is the loop's disk, not the race; a single rewrite has no writeback to wait for.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK | os.X_OK)):
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="cu-race-", dir=shm))
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def test_reads_racing_an_in_place_rewriter_all_succeed(race_home: Path) -> None:
    """Every read of a file an in-place rewriter keeps truncating and refilling gets the login."""
    path = write_credentials(race_home)
    source = CredentialSource("file", str(path))
    expected = b"Bearer " + ACCESS_TOKEN.encode()
    outcomes: collections.Counter[str] = collections.Counter()
    with rewriting_in_place(path, path.read_bytes()):
        for _ in range(READS):
            try:
                with open_credentials(source) as credential:
                    outcomes["login" if expected == credential.authorization() else "other login"] += 1
            except ParseError as error:
                outcomes[type(error).__name__] += 1
    assert {"login": READS} == dict(outcomes)


def test_a_file_rewritten_with_garbage_still_gives_the_typed_error(home: Path) -> None:
    """Retrying has a bound: a file that is only ever empty, cut short or not JSON is a ParseError."""
    path = write_credentials(home)
    whole = path.read_bytes()
    garbage = (b"", whole[: len(whole) // 2], b"not json " + whole)
    source = CredentialSource("file", str(path))
    with rewriting_in_place(path, *garbage):
        for _ in range(10):
            with pytest.raises(ParseError):
                open_credentials(source).close()
