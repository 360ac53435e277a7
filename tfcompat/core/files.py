"""Files: written whole or not at all, readable as the umask says, and nothing left behind.

- ``write_atomic`` replaces a file in one step (a reader sees the old file or the whole new one);
  a path that is a symlink is written at its target, so the link stays a link.
- ``write_new`` creates a file under the first free name and never replaces one (records).
- Files get the mode the umask gives a new file (0644 under umask 022), not mkstemp's 0600.
- Temporaries live in folders tfcompat can prove it made (``owned_folder``): a temporary file in
  ``.tmp-<pid>-<token>/`` beside its place, a temporary folder ``tfcompat-<kind>-<pid>-<token>``
  in the system's temporary folder. Each holds a marker file with its owner's pid and random
  token, written at creation, and holds an advisory lock while the owner lives. A run killed
  with SIGKILL or by a power cut cannot remove them, so the next run that writes to the same
  folder does: ``sweep`` removes those whose marker proves them tfcompat's and whose owner is
  gone. A name alone proves nothing: ``tfcompat-backup-2024-12-07/`` is someone's backup.
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
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tfcompat.core.errors import TfcompatError

#: The name of a folder of temporaries: its owner's pid and the token its marker holds too.
_OWNED = re.compile(r"(?:\.tmp|tfcompat-[a-z]+)-([0-9]{1,10})-([0-9a-f]{16})")
#: The marker file in a folder of temporaries: ``tfcompat <pid> <token>``, written at creation.
MARKER = ".tfcompat-owner"
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
def owned_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A new folder ``parent/<prefix>-<pid>-<token>`` that proves it is tfcompat's, removed when
    the block ends, however it ends (an exception, Ctrl-C, SIGTERM made an interrupt).

    It is made with mode 0700, locked, and only then given its marker (pid and token): a sweep
    that finds the marker finds the lock held for as long as the owner lives.
    """
    token = secrets.token_hex(8)
    path = parent / f"{prefix}-{os.getpid()}-{token}"
    os.mkdir(path, 0o700)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        os.rmdir(path)
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held until closed: a sweep never takes a live owner's folder
        marker = os.open(path / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(marker, _marker_text(os.getpid(), token))
        finally:
            os.close(marker)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


@contextlib.contextmanager
def _temporary_file(folder: Path, suffix: str) -> Iterator[tuple]:
    """A new file with the umask's mode in a folder of this run's own in ``folder``, removed
    afterwards (with the file, unless it was moved out of it)."""
    _sweep_once(folder)
    with owned_folder(folder, ".tmp") as private:
        tmp = private / f"payload{suffix}"
        # 0o666 and the umask: the mode any tool's new file gets, never mkstemp's 0600.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        handle = os.fdopen(fd, "wb")
        try:
            yield handle, tmp
        finally:
            # The callers flush and sync what matters; closing after a failed write must not raise
            # again (the buffer of a write that hit a full disk) over the error that says why.
            with contextlib.suppress(OSError):
                handle.close()


@contextlib.contextmanager
def temporary_folder(kind: str, *, needed: int = 0, what: str = "") -> Iterator[Path]:
    """A new folder ``tfcompat-<kind>-<pid>-<token>`` in the system's temporary folder, removed
    afterwards; besides what the caller puts there it holds its marker file (``MARKER``).

    ``needed`` bytes must be free there first (``DiskFull`` otherwise, before anything is written):
    a 600 MB wheel download should not start on a disk that cannot hold it.
    """
    base = Path(tempfile.gettempdir())
    _sweep_once(base)
    if needed and free_space(base) < needed:
        raise DiskFull(base, what=what or f"a temporary {kind} folder", needed=needed)
    with owned_folder(base, f"tfcompat-{kind}") as path:
        yield path


def sweep(folder: Path) -> list[Path]:
    """Remove the folders of temporaries in ``folder`` that are tfcompat's and whose owner is
    gone; return them.

    A folder is tfcompat's when its name has the form ``owned_folder`` gives it and it holds a
    regular marker file naming the same pid and token. An owner is gone when no process has
    its pid and nobody holds its lock. Both are asked: the pid alone would be fooled by a
    process in another pid namespace sharing the folder (a container), the lock alone by the
    instant between making the folder and locking it (it has no marker yet then).
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _OWNED.fullmatch(entry.name)
        if not match:
            continue
        pid, token = int(match.group(1)), match.group(2)
        if not _proves(entry.path, pid, token) or _alive(pid) or _locked(entry.path):
            continue
        try:
            shutil.rmtree(entry.path)  # never through a link: rmtree refuses one
        except OSError:
            continue  # another run swept it first, or it is not ours to remove
        removed.append(Path(entry.path))
    return removed


def _marker_text(pid: int, token: str) -> bytes:
    return f"tfcompat {pid} {token}\n".encode()


def _proves(folder: str, pid: int, token: str) -> bool:
    """Whether ``folder`` holds the marker of owner ``pid`` with ``token``: a regular file, not
    a link, with exactly that text."""
    expected = _marker_text(pid, token)
    try:
        fd = os.open(os.path.join(folder, MARKER), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode) and os.read(fd, len(expected) + 1) == expected
    except OSError:
        return False
    finally:
        os.close(fd)


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
