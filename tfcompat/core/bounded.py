"""Reading what tfcompat did not write, within bounds: files and JSON.

Everything read from outside (the matrix, records, cache entries, index answers) is untrusted:
another user's folder, a mirror, a hand edit, a file swapped for a device. So every read here is

- of a regular file only (a FIFO is opened without blocking and refused, so it cannot hang a
  read; a device such as ``/dev/zero`` is refused before a byte is read) and up to a size cap;
- JSON nested at most ``MAX_DEPTH`` deep (checked by a linear scan before anything recursive
  parses it), with no key given twice in one object (a reader and a writer that keep different
  copies of a key would each believe another record) and only finite numbers.

Version strings are bounded where they are read (the matrix, file names of at most 255
characters): a version of 5,000 digits ends in Python's integer-conversion limit, a ValueError
``packaging`` does not turn into InvalidVersion.

A problem is ``BoundsError``: one line that names what was read and why it was refused.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from tfcompat.core.errors import TfcompatError

#: How deep JSON from outside may nest: records, index answers and cache entries nest less than 10.
MAX_DEPTH = 64
#: Braces become brackets, and everything but brackets goes: nesting is all that is left.
_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


class BoundsError(TfcompatError, ValueError):
    """Data from outside that is out of bounds; the message is one line naming it. A
    ``ValueError`` too: callers that refuse any bad value refuse this one."""


class TooLarge(BoundsError):
    """A regular file larger than its cap: not read."""


def read_file(path: Path, *, limit: int, what: str = "") -> bytes:
    """The bytes of the regular file at ``path`` (a link is followed), at most ``limit`` of them.

    Raises ``FileNotFoundError`` when there is no file (the caller decides what that means) and
    ``BoundsError`` (one line: ``<what or path>: <why>``) for anything else.
    """
    name = what or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise BoundsError(f"{name}: cannot read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BoundsError(f"{name}: not a regular file (a FIFO, device or folder): not read")
        if info.st_size > limit:
            raise TooLarge(f"{name}: larger than {_size(limit)}: not read")
        data = os.read(fd, info.st_size + 1)
        while len(data) <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - len(data)))):
            data += chunk  # the file grew while it was read, or its size was not real
    except OSError as exc:
        raise BoundsError(f"{name}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise TooLarge(f"{name}: larger than {_size(limit)}: not read")
    return data


def json_depth(data: bytes | str, *, limit: int = MAX_DEPTH) -> int:
    """How deep the JSON text ``data`` nests, up to ``limit + 1`` (deeper is not counted), found
    in linear time without parsing it.

    Escaped backslashes, then escaped quotes, are dropped; what is left between quotes is
    string content, and the brackets outside it are the structure. Each pass removes the
    innermost pairs, one level; a run of brackets opened at once ends it early. Text whose
    brackets do not pair is not JSON, and the parser says so.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    outside = b"".join(raw.replace(b"\\\\", b"").replace(b'\\"', b"").split(b'"')[::2])
    skeleton = outside.translate(_SQUARE, _NOT_BRACKETS)
    for level in range(limit + 1):
        if b"[" * (limit + 1 - level) in skeleton:
            return limit + 1  # that many open at once, below the ``level`` already removed
        shorter = skeleton.replace(b"[]", b"")
        if len(shorter) == len(skeleton):
            return level
        skeleton = shorter
    return limit + 1 if skeleton else limit


def json_value(data: bytes | str, *, what: str, depth: int = MAX_DEPTH) -> Any:
    """The JSON value ``data`` holds, refused (``BoundsError``, one line starting with ``what``)
    when it nests deeper than ``depth``, gives a key twice in one object, holds a number that
    is not finite (``NaN``, ``1e400``) or an integer too long to convert, or is not JSON."""
    if json_depth(data, limit=depth) > depth:
        raise BoundsError(f"{what}: nested deeper than {depth} levels: not read")
    try:
        return json.loads(data, object_pairs_hook=_unique, parse_constant=_no_constant, parse_float=_finite)
    except BoundsError as exc:
        raise BoundsError(f"{what}: {exc}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, int digits
        raise BoundsError(f"{what}: not valid JSON ({_one_line(exc)})") from None


def _unique(pairs: list[tuple[str, Any]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise BoundsError(f"key {twice[:40]!r} given twice in one object")
    return result


def _no_constant(name: str) -> None:
    raise BoundsError(f"{name} is not a finite number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BoundsError(f"{text[:20]} is not a finite number")
    return value


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160]


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"
