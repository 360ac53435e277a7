"""Files: replace a file in one step, so a reader sees the old one or the whole new one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` through a hidden temporary file beside it.

    The temporary file is removed on any failure, so an interrupted write leaves nothing behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_new(folder: Path, stem: str, suffix: str, data: bytes) -> Path:
    """Write ``data`` to a new file ``folder/stem[-N]suffix`` and return its path; never overwrite.

    A crash leaves either no file or a whole one: the data goes to a hidden temporary file
    first, which is then hard-linked to its final name; ``link`` fails rather than replace an
    existing file, so two runs never overwrite each other. On a file system without hard
    links (exFAT, some network shares) an exclusive create still never overwrites, at the
    price of atomicity.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        for attempt in range(100):
            path = folder / (f"{stem}{suffix}" if attempt == 0 else f"{stem}-{attempt}{suffix}")
            try:
                _link_or_create(tmp, path, data)
                return path
            except FileExistsError:
                continue
        raise FileExistsError(f"{folder / stem}{suffix}: 100 files with this name already exist")
    finally:
        tmp.unlink(missing_ok=True)


def _link_or_create(tmp: Path, path: Path, data: bytes) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        with open(path, "xb") as handle:
            handle.write(data)
