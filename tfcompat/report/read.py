"""Reading a reports folder that nobody vouches for: every ``*.json`` under it, as a record or a
reason it was skipped.

Reading is in two steps, because a folder of 100,000 records is mostly output tails the report
never shows: ``scan_folder`` reads and decodes only the head of every file (``Header``: kind,
row, host, start, verdict; the first 8 KiB hold it), and ``load`` decodes the whole record into
the model (``tfcompat.record.Record``, which validates it) only for the few the report shows.

Nothing in the folder can stop the report: only regular files are read (a FIFO is opened
non-blocking and refused by ``fstat``, so it cannot hang the read), a link is followed only when
it stays inside the folder (so ``x.json -> /dev/zero`` or a link to another user's files is
skipped; a link to a folder is listed, never entered), each file is read up to a cap and
nested at most ``bounded.MAX_DEPTH`` deep, and text that is not valid Unicode (invalid UTF-8, a
lone surrogate escape) is replaced with U+FFFD and the record listed as repaired, not lost.

A record that reads is still not believed until it agrees with itself (``record.head_problem``
for the head, ``record_problem`` for the whole, and no key given twice and no number that is not
finite, which could make the head and the body say different things): one that does not is
``Rejected`` with the reason, and never counts.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import msgspec

from tfcompat.core.bounded import MAX_DEPTH, BoundsError, json_depth, json_value
from tfcompat.core.record import (
    MAX_RECORD_BYTES,
    Host,
    Kind,
    Record,
    RecordError,
    RowFields,
    Verdict,
    load_record,
    record_problem,
)
from tfcompat.report.text import clean, cut

#: Folders the suite writes beside records that hold no records: skipped without a look.
NOT_RECORDS = re.compile(r".*\.logs|locks")
_LEADS_OUT = "a link that leads out of the folder: not followed"
_FOLDER_LINK = "a link to a folder: not followed"
_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels: not read"
#: How much of a record ``scan_folder`` reads first: its head is a few hundred bytes.
HEAD_BYTES = 8192
#: Where the head of a record laid out by ``write_record`` ends: its first section, a key at the
#: top level (one space in). A newline cannot occur inside a JSON string, so this is structure.
_SECTION = re.compile(rb'\n "(?:provision|probes|abi|map)":')
#: Decodes straight into the record model (a reused decoder is the fastest way msgspec has).
_RECORD = msgspec.json.Decoder(Record)
#: A JSON string escape of a lone UTF-16 surrogate, or an escaped backslash (consumed first, so a
#: literal ``\\ud800`` is left alone), or a valid surrogate pair (kept).
_ESCAPES = re.compile(
    rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)


class Header(msgspec.Struct, kw_only=True):
    """The head of a record: these fields of ``tfcompat.record.Record``, with the same types."""

    schema: Literal[2]
    kind: Kind
    row: RowFields | None
    host: Host
    started: datetime
    verdict: Verdict


_HEADER = msgspec.json.Decoder(Header)


@dataclass(slots=True)
class Scanned:
    name: str  # relative to the folder, as the report shows it
    path: str  # the file (a link's target inside the folder)
    header: Header
    repaired: bool  # text that could not be encoded was replaced with U+FFFD


@dataclass(frozen=True)
class Unread:
    name: str
    reason: str  # one line


@dataclass(frozen=True)
class Rejected:
    """A record that reads but does not agree with itself."""

    reason: str  # one line


def scan_folder(folder: Path, *, outputs: set[str]) -> Iterator[Scanned | Unread]:
    """The head of every ``*.json`` under ``folder`` (sorted, hidden files and ``outputs`` left out)."""
    root = os.path.realpath(folder)
    seen: set[tuple[int, int]] = set()
    for name, path, is_link in _json_files(root, ""):
        if name in outputs:
            continue
        shown = clean(name)
        if path is None:
            yield Unread(shown, _FOLDER_LINK)
            continue
        target = os.path.realpath(path) if is_link else path
        read = _read_bytes(target, seen, HEAD_BYTES) if not is_link or _inside(root, target) else _LEADS_OUT
        if read is None:
            continue  # the same file again, through a link
        if isinstance(read, str):
            yield Unread(shown, read)
            continue
        try:
            yield Scanned(shown, target, *_header(target, *read))
        except RecordError as exc:
            yield Unread(shown, cut(str(exc).removeprefix(f"{os.path.basename(target)}: ")))


def load(scanned: Scanned, *, now: datetime | None = None) -> tuple[Record, bool] | Rejected | str:
    """(the whole record of ``scanned`` decoded into the model, whether text was replaced); a
    ``Rejected`` when it does not agree with itself; or a one-line reason it cannot be read."""
    read = _read_bytes(scanned.path, None)
    if not isinstance(read, tuple):
        return read or "changed while the report read it"
    data, _ = read
    try:
        record, repaired, used = _decode(_RECORD, scanned.path, data)
    except RecordError as exc:
        return cut(str(exc).removeprefix(f"{os.path.basename(scanned.path)}: "))
    try:
        json_value(used, what="")  # no key twice, only finite numbers: what msgspec lets pass
    except BoundsError as exc:
        return Rejected(cut(str(exc).removeprefix(": ")))
    problem = record_problem(record, now=now)
    if problem:
        return Rejected(cut(problem))
    return _slim(record), repaired or scanned.repaired


def _json_files(folder: str, prefix: str) -> Iterator[tuple[str, str | None, bool]]:
    """(name relative to the root, path, is a link) of each ``*.json``; a link to a folder is
    not entered, and comes as (its name, None, True)."""
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
        elif entry.is_symlink() and _is_folder(entry):
            yield f"{prefix}{entry.name}", None, True
        elif entry.name.endswith(".json"):
            yield f"{prefix}{entry.name}", entry.path, entry.is_symlink()


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _inside(root: str, target: str) -> bool:
    return os.path.commonpath([root, target]) == root


def _header(path: str, data: bytes, whole: bool) -> tuple[Header, bool]:
    """(the head of the record in ``data``, whether text was replaced). Raises ``RecordError``.

    From the first ``HEAD_BYTES`` of a file written by ``write_record`` (its head comes first, one
    field a line), closed where its first section starts; any other file is read whole.
    """
    if not whole:
        section = _SECTION.search(data)
        if section is not None:
            with contextlib.suppress(RecordError):
                return _decode(_HEADER, path, data[: section.start()].rstrip().rstrip(b",") + b"\n}")[:2]
        data = _read_bytes(path, None)
        if not isinstance(data, tuple):
            raise RecordError(f"{os.path.basename(path)}: {data or 'changed while the report read it'}")
        data = data[0]
    return _decode(_HEADER, path, data)[:2]


def _read_bytes(path: str, seen: set | None, most: int = MAX_RECORD_BYTES) -> tuple[bytes, bool] | str | None:
    """(the file's first ``most`` bytes, whether that is all of it), a one-line reason it was not
    read, or None for a file already read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        return f"cannot read: {exc.strerror}"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file (a FIFO, device or folder): not read"
        if seen is not None:
            if (info.st_dev, info.st_ino) in seen:
                return None
            seen.add((info.st_dev, info.st_ino))
        if info.st_size > MAX_RECORD_BYTES:
            return f"larger than {MAX_RECORD_BYTES >> 20} MiB: not read"
        if info.st_size > most:
            return os.read(fd, most), False
        data = _read_capped(fd, info.st_size)
    except OSError as exc:
        return f"cannot read: {exc.strerror}"
    finally:
        os.close(fd)
    if len(data) > MAX_RECORD_BYTES:
        return f"larger than {MAX_RECORD_BYTES >> 20} MiB: not read"
    return data, True


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


def _decode(decoder: msgspec.json.Decoder, path: str, data: bytes):
    """(decoded, whether text had to be replaced to read it, the bytes decoded). Raises
    ``RecordError``: for JSON nested too deep before anything recursive reads it, and for a file
    that does not fit (through ``load_record``, for the model's own reason)."""
    if json_depth(data) > MAX_DEPTH:
        raise RecordError(f"{os.path.basename(path)}: {_TOO_DEEP}")
    try:
        return _checked(decoder.decode(data)), False, data
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError):
        pass
    try:
        load_record(Path(path), data)
    except (RecordError, UnicodeDecodeError) as exc:  # the latter: msgspec's word for bad UTF-8
        repaired = _repaired(data)
        if repaired is None:
            raise RecordError(str(exc)) from None
        load_record(Path(path), repaired)
        return _checked(decoder.decode(repaired)), True, repaired
    raise RecordError(f"{os.path.basename(path)}: does not fit the model")  # the header did not


def _checked(decoded):
    """The header's share of the model's own checks (``Record.__post_init__``)."""
    if isinstance(decoded, Header):
        if decoded.started.tzinfo is None or (decoded.row is None) != (decoded.kind == "map"):
            raise ValueError("see the model's reason")
    return decoded


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
