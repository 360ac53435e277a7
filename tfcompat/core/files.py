"""Files: written whole or not at all, readable as the umask says, and nothing left behind.

- ``write_atomic`` replaces a file in one step (a reader sees the old file or the whole new one);
  a path that is a symlink is written at its target, so the link stays a link.
- ``write_new`` creates a file under the first free name and never replaces one (records).
- Files get the mode the umask gives a new file (0644 under umask 022), not mkstemp's 0600.
- Temporary files (``.tmp-<pid>-…``) and folders (``tfcompat-<kind>-<pid>-…``) carry their
  owner's pid and hold an advisory lock while the owner lives. A run killed with SIGKILL or by a
  power cut cannot remove them, so the next run that writes to the same folder does:
  ``sweep`` removes those whose owner is gone.
- A full disk is ``DiskFull``: one line naming the folder, the space needed and the space free.
- ``folder_line`` tells, before anything runs, whether a configured folder is usable.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tfcompat.core.errors import TfcompatError

#: A temporary file or folder of this suite, and the pid of the process that made it.
_TEMPORARY = re.compile(r"(?:\.tmp-|tfcompat-[a-z]+-)(\d+)-")
_FULL = (errno.ENOSPC, errno.EDQUOT)
_swept: set[str] = set()


class FilesError(TfcompatError, OSError):
    """A file or folder cannot be written; the message is one line naming it and why. An
    ``OSError`` too: the callers that handle any failure of the file system handle it."""

    no_verdict = True


class DiskFull(FilesError):
    """No space left for a write: the message names the folder and the space needed and free."""

    def __init__(self, folder: Path, *, what: str, needed: int | None, hint: str = ""):
        self.folder = folder
        self.needed = needed
        self.free = free_space(folder)
        need = f"needs {size_text(needed)}" if needed is not None else "needs more"
        super().__init__(
            f"disk full: {folder}: {what} {need}, {size_text(self.free)} free" + (f"; {hint}" if hint else "")
        )


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` through a temporary file beside its target.

    Raises ``DiskFull`` or ``FilesError`` (one line); the temporary file never outlives a failure.
    """
    target = Path(os.path.realpath(path))  # a symlink is edited at its target, and stays a link
    payload = data.encode("utf-8") if isinstance(data, str) else data
    folder = _folder_for_writing(target.parent)
    try:
        with _temporary_file(folder, target.suffix) as (handle, tmp):
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(tmp, target)
    except OSError as exc:
        raise write_failure(exc, folder, what=f"writing {target.name}", needed=len(payload)) from None


def write_new(folder: Path, stem: str, suffix: str, data: bytes) -> Path:
    """Write ``data`` to a new file ``folder/stem[-N]suffix`` and return its path; never overwrite.

    The file appears whole or not at all: it is written to a temporary file and hard-linked to
    its name, and ``link`` fails rather than replace an existing file, so two runs never
    overwrite each other. On a file system without hard links (exFAT, some network shares) an
    exclusive create still never replaces a file, at the price of atomicity. Raises
    ``FileExistsError`` when 100 names are taken, ``DiskFull`` or ``FilesError`` (one line).
    """
    folder = _folder_for_writing(folder)
    try:
        with _temporary_file(folder, suffix) as (handle, tmp):
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            for attempt in range(100):
                path = folder / (f"{stem}{suffix}" if attempt == 0 else f"{stem}-{attempt}{suffix}")
                try:
                    _link_or_copy(tmp, path, data)
                    return path
                except FileExistsError:
                    continue
    except OSError as exc:
        raise write_failure(exc, folder, what=f"writing {stem}{suffix}", needed=len(data)) from None
    raise FileExistsError(f"{folder / stem}{suffix}: 100 files with this name already exist")


def _link_or_copy(tmp: Path, path: Path, data: bytes) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno in _FULL:
            raise
        with open(path, "xb") as handle:
            handle.write(data)
        os.chmod(path, file_mode())


@functools.cache
def file_mode() -> int:
    """The mode the umask gives a new regular file: 0o644 under umask 022."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def _temporary_file(folder: Path, suffix: str) -> Iterator[tuple]:
    """A locked ``.tmp-<pid>-…`` file in ``folder`` with the umask's mode, removed afterwards."""
    _sweep_once(folder)
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".tmp-{os.getpid()}-", suffix=suffix)
    tmp = Path(name)
    handle = os.fdopen(fd, "wb")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held until closed: a sweep never takes a live owner's file
        os.fchmod(fd, file_mode())
        yield handle, tmp
    finally:
        # The callers flush and sync what matters; closing after a failed write must not raise
        # again (the buffer of a write that hit a full disk) over the error that says why.
        with contextlib.suppress(OSError):
            handle.close()
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def temporary_folder(kind: str, *, needed: int = 0, what: str = "") -> Iterator[Path]:
    """A new folder ``tfcompat-<kind>-<pid>-…`` in the system's temporary folder, removed afterwards.

    ``needed`` bytes must be free there first (``DiskFull`` otherwise, before anything is written):
    a 600 MB wheel download should not start on a disk that cannot hold it.
    """
    base = Path(tempfile.gettempdir())
    _sweep_once(base)
    if needed and free_space(base) < needed:
        raise DiskFull(base, what=what or f"a temporary {kind} folder", needed=needed)
    path = Path(tempfile.mkdtemp(prefix=f"tfcompat-{kind}-{os.getpid()}-", dir=base))
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


def sweep(folder: Path) -> list[Path]:
    """Remove the temporary files and folders in ``folder`` whose owner is gone; return them.

    An owner is gone when no process has its pid and nobody holds its lock. Both are asked: the
    pid alone would be fooled by a process in another pid namespace sharing the folder (a
    container), the lock alone by the instant between creating a file and locking it.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if not match or _alive(int(match.group(1))) or _locked(entry.path):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue  # another run swept it first, or it is not ours to remove
        removed.append(Path(entry.path))
    return removed


def _sweep_once(folder: Path) -> None:
    """Sweep ``folder`` the first time this process writes there."""
    key = os.fspath(folder)
    if key not in _swept:
        _swept.add(key)
        sweep(folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _locked(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True  # gone already, or unreadable: leave it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _folder_for_writing(folder: Path) -> Path:
    """``folder``, made if missing; ``FilesError`` (one line) when it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = folder_problem(folder)
        if problem is None and exc.errno in _FULL:
            raise DiskFull(folder, what="making the folder", needed=None) from None
        raise FilesError(f"{folder}: {problem or exc.strerror}") from None
    return folder


def write_failure(exc: OSError, folder: Path, *, what: str, needed: int | None) -> FilesError:
    """``exc``, an error writing into ``folder``, as one line: ``DiskFull`` when it is for space."""
    if isinstance(exc, FilesError):
        return exc
    if exc.errno in _FULL:
        return DiskFull(folder, what=what, needed=needed)
    return FilesError(f"{folder}: {what}: {exc.strerror or exc}")


def free_space(folder: Path) -> int:
    """Bytes free for this user on the disk of ``folder`` (or of its nearest existing parent)."""
    for candidate in (folder, *folder.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return 0


def size_text(size: int) -> str:
    """``size`` bytes in SI units, 3 significant digits: ``12.3 kB``, ``1.21 GB``."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{size} B" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be used to write into (missing is fine if it can be made), or None."""
    if folder.exists():
        if not folder.is_dir():
            return "is a file, not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            return "is not writable"
        return None
    for parent in folder.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"cannot be made: {parent} is a file, not a folder"
            if not os.access(parent, os.W_OK | os.X_OK):
                return f"cannot be made: {parent} is not writable"
            return None
    return None


def folder_line(what: str, folder: Path, variable: str) -> str | None:
    """One line saying why ``folder`` (set by ``variable``) cannot be written into, or None."""
    problem = folder_problem(folder)
    return f"the {what} {folder} {problem}: set {variable} to a folder you can write to" if problem else None
