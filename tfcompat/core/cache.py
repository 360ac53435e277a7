"""Cache entries that prove themselves: each names the question it answers and checksums its answer.

An entry is one file: a JSON header line ``{"format": "tfcompat-cache 1", "key": …, "sha256": …,
"size": …}`` and then the payload bytes. ``load`` returns the payload only when the header's key
is the question being asked and the payload has that size and sha256. Anything else (a garbled
byte, a truncated file, an entry copied under another entry's name, a hand edit, an older format)
removes the file with one line saying so, and the caller computes the answer again in the same
run: no cache content can end in a traceback or answer a different question.

A checksum proves only that nobody changed an entry by accident: whoever can write the cache
can write a valid one. So ``load_json`` also asks the caller's ``valid`` whether the content
answers the question (the right types, and, for a resolution, the releases it was asked for),
and an entry that does not is removed and computed again too. Entries are read within bounds
(a regular file that is not a link, at most ``MAX_ENTRY_BYTES``, JSON per ``bounded``); a path
that is not a regular file is neither read nor written through, and not removed: tfcompat did
not make it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfcompat.core.bounded import BoundsError, TooLarge, json_value, read_file
from tfcompat.core.files import write_atomic

FORMAT = "tfcompat-cache 1"
#: The largest entry read: a TensorFlow wheel's facts are about 5 MB, its sources 100 kB.
MAX_ENTRY_BYTES = 256 << 20
_log = logging.getLogger("tfcompat.core.cache")


def entry_path(folder: Path, key: dict, suffix: str = ".json") -> Path:
    """Where the entry for ``key`` lives in ``folder``: named by the hash of the question."""
    question = json.dumps(_canonical(key), sort_keys=True).encode()
    return folder / f"{hashlib.sha256(question).hexdigest()[:32]}{suffix}"


def load(path: Path, key: dict) -> bytes | None:
    """The payload cached at ``path`` for ``key``, or None (missing, or bad and now removed)."""
    if _foreign(path):
        _log.warning(f"cache: {path}: not a regular file: not read; computing the answer again")
        return None
    try:
        data = read_file(path, limit=MAX_ENTRY_BYTES)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except TooLarge as exc:  # a regular file at an entry's name: an entry gone wrong
        return discard(path, str(exc).removeprefix(f"{path}: "))
    except BoundsError as exc:
        _log.warning(f"cache: {exc}; computing the answer again")  # cannot read it: leave it
        return None
    header_line, newline, payload = data.partition(b"\n")
    try:
        header = json_value(header_line, what="header") if newline else None
    except BoundsError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return discard(path, "not a cache entry of this format")
    if header.get("key") != _canonical(key):
        return discard(path, "made for another question")
    if header.get("size") != len(payload) or header.get("sha256") != hashlib.sha256(payload).hexdigest():
        return discard(path, "its content does not match its checksum")
    return payload


def store(path: Path, key: dict, payload: bytes) -> None:
    """Cache ``payload`` at ``path`` as the answer to ``key`` (a JSON-able dict); not where
    something that is not a regular file is (a link would take the write elsewhere)."""
    if _foreign(path):
        _log.warning(f"cache: {path}: not a regular file: the answer is not cached there")
        return
    header = {
        "format": FORMAT,
        "key": _canonical(key),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "size": len(payload),
    }
    write_atomic(path, json.dumps(header, sort_keys=True).encode() + b"\n" + payload)


def load_json(path: Path, key: dict, *, valid: Callable[[Any], bool]) -> Any | None:
    """The JSON value cached for ``key``, if ``valid(value)``; else None (and the entry removed)."""
    payload = load(path, key)
    if payload is None:
        return None
    try:
        value = json_value(payload, what="its content")
    except BoundsError as exc:
        return discard(path, str(exc))
    if not valid(value):
        return discard(path, "its content does not answer its question")
    return value


def store_json(path: Path, key: dict, value: Any) -> None:
    store(path, key, json.dumps(value, sort_keys=True).encode())


def discard(path: Path, why: str) -> None:
    """Remove a bad entry, saying so in one line; returns None for the caller's convenience."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        _log.warning(f"cache: {path}: {why}; cannot remove it ({exc.strerror}), computing the answer again")
        return None
    _log.warning(f"cache: {path}: {why}; removed it, computing the answer again")
    return None


def _foreign(path: Path) -> bool:
    """Whether something that is not a regular file (a link, a FIFO, a folder) is at ``path``."""
    try:
        return not stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False  # nothing there (or its folder cannot be read: ``read_file`` says so)


def _canonical(key: dict) -> Any:
    """``key`` as it reads back from JSON (tuples become lists), so equal questions compare equal."""
    return json.loads(json.dumps(key, sort_keys=True))
