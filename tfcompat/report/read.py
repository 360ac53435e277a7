"""Reading a reports folder that nobody vouches for: every ``*.json`` under it, as a record or a
reason it was skipped.

Nothing in the folder can stop the report: only regular files are read (a FIFO is opened
non-blocking and refused by ``fstat``, so it cannot hang the read), a link is followed only when
it stays inside the folder (so ``x.json -> /dev/zero`` or a link to another user's files is
skipped), each file is read up to a cap, and text that is not valid Unicode (invalid UTF-8, a
lone surrogate escape) is replaced with U+FFFD and the record listed as repaired, not lost.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from tfcompat.record import Record, RecordError, load_record
from tfcompat.report.text import clean, cut

#: The largest record read (a map record of every release and Python is a few MB).
MAX_RECORD_BYTES = 32 * 1024 * 1024
#: Folders the suite writes beside records that hold no records: skipped without a look.
NOT_RECORDS = re.compile(r".*\.logs|locks")
#: Decodes straight into the record model (a reused decoder is the fastest way msgspec has).
_RECORD = msgspec.json.Decoder(Record)
#: A JSON string escape of a lone UTF-16 surrogate, or an escaped backslash (consumed first, so a
#: literal ``\\ud800`` is left alone), or a valid surrogate pair (kept).
_ESCAPES = re.compile(
    rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)


@dataclass(frozen=True)
class Loaded:
    name: str  # relative to the folder, as the report shows it
    path: str
    record: Record
    repaired: bool  # text that could not be encoded was replaced with U+FFFD


@dataclass(frozen=True)
class Unread:
    name: str
    reason: str  # one line


def read_folder(folder: Path, *, outputs: set[str]) -> Iterator[Loaded | Unread]:
    """Every ``*.json`` under ``folder`` (sorted, hidden files and ``outputs`` left out)."""
    root = os.path.realpath(folder)
    seen: set[tuple[int, int]] = set()
    for name, path, is_link in _json_files(root, ""):
        if name in outputs:
            continue
        shown = clean(name)
        data = _read_bytes(path, root, is_link, seen)
        if data is None:
            continue  # the same file again, through a link
        if isinstance(data, str):
            yield Unread(shown, data)
            continue
        try:
            record, repaired = _decode(path, data)
        except RecordError as exc:
            yield Unread(shown, cut(str(exc).removeprefix(f"{os.path.basename(path)}: ")))
            continue
        yield Loaded(shown, path, _slim(record), repaired)


def _json_files(folder: str, prefix: str) -> Iterator[tuple[str, str, bool]]:
    """(name relative to the root, path, is a link) of each ``*.json``; links to folders are not entered."""
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue  # hidden: a record being written (files.write_new's temporary files)
        if entry.is_dir(follow_symlinks=False):
            if not NOT_RECORDS.fullmatch(entry.name):
                yield from _json_files(entry.path, f"{prefix}{entry.name}/")
        elif entry.name.endswith(".json"):
            yield f"{prefix}{entry.name}", entry.path, entry.is_symlink()


def _read_bytes(path: str, root: str, is_link: bool, seen: set) -> bytes | str | None:
    """The file's bytes, a one-line reason it was not read, or None for a file already read."""
    target = path
    if is_link:
        target = os.path.realpath(path)
        if os.path.commonpath([root, target]) != root:
            return "a link that leads out of the folder: not followed"
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        return f"cannot read: {exc.strerror}"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file (a FIFO, device or folder): not read"
        if (info.st_dev, info.st_ino) in seen:
            return None
        seen.add((info.st_dev, info.st_ino))
        if info.st_size > MAX_RECORD_BYTES:
            return f"larger than {MAX_RECORD_BYTES >> 20} MiB: not read"
        data = _read_capped(fd, info.st_size)
    except OSError as exc:
        return f"cannot read: {exc.strerror}"
    finally:
        os.close(fd)
    if len(data) > MAX_RECORD_BYTES:
        return f"larger than {MAX_RECORD_BYTES >> 20} MiB: not read"
    return data


def _read_capped(fd: int, size: int) -> bytes:
    """At most ``MAX_RECORD_BYTES + 1`` bytes: the size ``fstat`` gave first (no large buffer
    for a small file), then on until the end, in case the file grew or its size was not real."""
    parts = [os.read(fd, size + 1)]
    total = len(parts[0])
    while total > size and total <= MAX_RECORD_BYTES:
        chunk = os.read(fd, min(1 << 20, MAX_RECORD_BYTES + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)


def _decode(path: str, data: bytes) -> tuple[Record, bool]:
    """The record, and whether text had to be replaced to read it. Raises ``RecordError``.

    The fast path decodes straight into the model; only a file that does not fit goes through
    ``load_record`` again, for its reason.
    """
    try:
        return _RECORD.decode(data), False
    except (msgspec.DecodeError, UnicodeDecodeError):
        pass
    try:
        return load_record(Path(path), data), False
    except (RecordError, UnicodeDecodeError) as exc:  # the latter: msgspec's word for bad UTF-8
        repaired = _repaired(data)
        if repaired is None:
            raise RecordError(str(exc)) from None
    return load_record(Path(path), repaired), True


def _repaired(data: bytes) -> bytes | None:
    """``data`` with invalid UTF-8 and lone surrogate escapes replaced by U+FFFD; None if it had neither."""
    text = data.decode("utf-8", "replace").encode("utf-8")

    def replace(match: re.Match) -> bytes:
        token = match.group()
        return token if len(token) != 6 else rb"\ufffd"

    fixed = _ESCAPES.sub(replace, text)
    return None if fixed == data else fixed


def _slim(record: Record) -> Record:
    """Drop what the report never shows, so that 100,000 records fit in memory: a passing probe's
    output tails. A failed probe keeps its stderr tail only when it has no error text (a timeout)."""
    for probe in (record.probes or {}).values():
        probe.stdout_tail = ""
        if probe.status != "fail" or probe.error:
            probe.stderr_tail = ""
    return record
