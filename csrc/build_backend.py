"""The build backend: setuptools' own, with an sdist that is the same bytes from any checkout.

setuptools writes each sdist entry with the file's mtime and owner, in the order the file
system lists them, and stamps the gzip header with the current time, so two checkouts of one
commit give two archives. When ``SOURCE_DATE_EPOCH`` is set (the reproducible-builds
convention; SECURITY.md takes it from the last commit), the archive setuptools made is
written again: entries in name order, every mtime clamped to ``SOURCE_DATE_EPOCH``, owner
0:0 without names, modes 0644 or 0755, and a gzip header with that time and no file name.
Wheels need nothing of the kind: setuptools already honours ``SOURCE_DATE_EPOCH`` there.

A small backend of our own rather than a package from the index: it runs in every build of a
security-sensitive package, and the candidates there are single-release projects.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 - every other hook exactly as setuptools has it


def build_sdist(sdist_directory: str, config_settings: dict[str, object] | None = None) -> str:
    name: str = _setuptools.build_sdist(sdist_directory, config_settings)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        normalise_sdist(os.path.join(sdist_directory, name), int(epoch))
    return name


def _normalised(member: tarfile.TarInfo, epoch: int) -> tarfile.TarInfo:
    member.mtime = min(int(member.mtime), epoch)
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    member.mode = 0o755 if member.isdir() or member.mode & 0o111 else 0o644
    member.pax_headers = {}
    return member


def normalise_sdist(path: str, epoch: int) -> None:
    """Rewrite the ``.tar.gz`` at ``path`` so that it depends only on its files' names, modes and bytes."""
    with tarfile.open(path, "r:gz") as source:
        members = sorted(source.getmembers(), key=lambda member: member.name)
        tar_bytes = io.BytesIO()
        with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as target:
            for member in members:
                data = source.extractfile(member) if member.isfile() else None
                target.addfile(_normalised(member, epoch), data)
    # Written aside and renamed: an interrupted build leaves setuptools' archive, never half of ours.
    partial = path + ".partial"
    with open(partial, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch) as packed:
        packed.write(tar_bytes.getvalue())
    os.replace(partial, path)
