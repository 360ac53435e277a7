"""Writing the outputs as one set: every file is written in full to a hidden temporary file
beside its place first, and only when all of them are written does each replace the old one
(a rename, which needs no space). A full disk or any other write error leaves the old set
untouched, removes the temporary files and ends in one line.

Files get the umask's mode (0644 under umask 022), so a published report is readable.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from tfcompat.core.errors import TfcompatError
from tfcompat.core.files import free_space, size_text, sweep

LOCKS = "locks"


class ReportError(TfcompatError):
    """The report could not be written; the message is one line. The report is no verdict about
    a pair, so its failure is printed as it is, not as "no verdict"."""


def write_together(folder: Path, outputs: dict[str, bytes]) -> list[Path]:
    """Write ``outputs`` (path under ``folder`` → bytes) together; return their paths.

    Lock files no longer named in ``outputs`` are removed from ``folder/locks`` afterwards.
    """
    staged: list[tuple[Path, Path]] = []
    kept: set[Path] = set()
    for place in (folder, folder / LOCKS):
        sweep(place)  # what a killed earlier run left
    try:
        for name, data in outputs.items():
            path = folder / name
            _folder_for(path, folder)
            if name.startswith(f"{LOCKS}/") and _holds(path, data):
                kept.add(path)  # a lock file is named after its run: the same name, the same text
                continue
            # The owner's pid in the name: files.sweep removes it if this run is killed.
            temporary = path.parent / f".tmp-{os.getpid()}-{secrets.token_hex(6)}-{path.name}"
            staged.append((temporary, path))
            _write(temporary, data)
    except OSError as exc:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            needed = sum(len(data) for data in outputs.values())
            reason = f"disk full: it needs {size_text(needed)}, {size_text(free_space(folder))} free"
        raise ReportError(
            f"cannot write the report in {folder}: {reason}; the previous compatibility.* are unchanged"
        ) from None
    # Locks first, so that the pages never link to a lock that is not there yet.
    for temporary, path in sorted(staged, key=lambda item: not item[1].is_relative_to(folder / LOCKS)):
        os.replace(temporary, path)
    _remove_stale_locks(folder, kept | {path for _, path in staged})
    return [path for _, path in staged]


def _folder_for(path: Path, folder: Path) -> None:
    """Make the folder of ``path``; a link there would lead the write out of the folder."""
    if path.parent == folder:
        return
    if path.parent.is_symlink() or (path.parent.exists() and not path.parent.is_dir()):
        raise OSError(0, f"{path.parent.name} is not a folder (a link or a file)")
    path.parent.mkdir(exist_ok=True)


def _holds(path: Path, data: bytes) -> bool:
    try:
        return not path.is_symlink() and path.is_file() and path.read_bytes() == data
    except OSError:
        return False


def _write(path: Path, data: bytes) -> None:
    # 0o666 and the umask: the mode a file made by any tool gets, never mkstemp's 0600.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    with open(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _remove_stale_locks(folder: Path, written: set[Path]) -> None:
    locks = folder / LOCKS
    if not locks.is_dir() or locks.is_symlink():
        return
    for path in locks.glob("py*-tf*-metal*.txt"):
        if path not in written:
            path.unlink(missing_ok=True)
