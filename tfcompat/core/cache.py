"""Cache entries that prove themselves: each names the question it answers and checksums its answer.

An entry is one file: a JSON header line ``{"format": "tfcompat-cache 1", "key": …, "sha256": …,
"size": …}`` and then the payload bytes. ``load`` returns the payload only when the header's key
is the question being asked and the payload has that size and sha256. Anything else (a garbled
byte, a truncated file, an entry copied under another entry's name, a hand edit, an older format)
removes the file with one line saying so, and the caller computes the answer again in the same
run: no cache content can end in a traceback or answer a different question.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfcompat.core.files import write_atomic

FORMAT = "tfcompat-cache 1"
_log = logging.getLogger("tfcompat.core.cache")


def entry_path(folder: Path, key: dict, suffix: str = ".json") -> Path:
    """Where the entry for ``key`` lives in ``folder``: named by the hash of the question."""
    question = json.dumps(_canonical(key), sort_keys=True).encode()
    return folder / f"{hashlib.sha256(question).hexdigest()[:32]}{suffix}"


def load(path: Path, key: dict) -> bytes | None:
    """The payload cached at ``path`` for ``key``, or None (missing, or bad and now removed)."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        _log.warning(f"cache: {path}: cannot read ({exc.strerror}); computing the answer again")
        return None
    header_line, newline, payload = data.partition(b"\n")
    try:
        header = json.loads(header_line) if newline else None
    except (ValueError, RecursionError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return discard(path, "not a cache entry of this format")
    if header.get("key") != _canonical(key):
        return discard(path, "made for another question")
    if header.get("size") != len(payload) or header.get("sha256") != hashlib.sha256(payload).hexdigest():
        return discard(path, "its content does not match its checksum")
    return payload


def store(path: Path, key: dict, payload: bytes) -> None:
    """Cache ``payload`` at ``path`` as the answer to ``key`` (a JSON-able dict)."""
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
        value = json.loads(payload)
    except (ValueError, RecursionError):
        return discard(path, "its content is not JSON")
    if not valid(value):
        return discard(path, "its content is not the answer's shape")
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


def _canonical(key: dict) -> Any:
    """``key`` as it reads back from JSON (tuples become lists), so equal questions compare equal."""
    return json.loads(json.dumps(key, sort_keys=True))
