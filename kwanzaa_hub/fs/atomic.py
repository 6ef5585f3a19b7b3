"""Atomic output writing: a failed stage leaves the previous output or none, never half of one."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _new_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 less the umask (``mkstemp`` would leave 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temp file beside ``path``, fsync, then rename over it. A symlink is written through
    (its target is replaced, the link stays) and an existing file keeps its mode."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else _new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


@contextmanager
def atomic_dir(path: str | Path, key: str) -> Iterator[Path]:
    """Yield a temp directory beside ``path``; on success it replaces ``path``, on error it is removed.

    ``key`` is the params key naming the folder: the folder must be one this tool wrote (or absent, or
    empty) before anything happens and again just before the swap, and the new one carries the ownership marker
    (``kwanzaa_hub.fs.ownership``).
    """
    from kwanzaa_hub.fs.ownership import claim, mark

    path = claim(key, path, "dir")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        mark(tmp, key)
        claim(key, path, "dir")  # again: a folder someone made at the path during the long work is not replaced
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            path.rename(old / path.name)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def all_or_nothing(*paths: str | Path) -> Iterator[None]:
    """Write a stage's outputs inside this block; if any write fails (disk full, ...), remove all of them, so the
    stage leaves no mix of new and old outputs for DVC to cache or a later stage to read. Only pass paths the
    stage has claimed (``kwanzaa_hub.fs.ownership.claim``): they are removed without another look."""
    try:
        yield
    except BaseException:
        from kwanzaa_hub.fs.ownership import is_owned

        for p in map(Path, paths):
            if p.is_symlink():
                continue
            if p.is_dir():
                if is_owned(p):  # a folder that is not (or no longer) the tool's is left alone
                    shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        raise


@contextmanager
def exclusive(folder: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (``flock`` on the folder itself: no lock file is left behind) while the
    block runs: a second holder in any process waits for the first. Where ``flock`` does not exist (Windows), the
    block runs unlocked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
