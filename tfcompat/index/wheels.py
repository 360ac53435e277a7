"""A wheel on the index: where it is, what its content hash must be, and getting it whole.

``WheelRef`` is what a resolution names for one distribution; ``download`` streams it to a
folder and checks its sha256 (a wheel that is not the one resolved is never read);
``installed_path`` says where a member of a wheel lands in site-packages. ``ref_problem`` and
``file_problem`` tell whether a reference read back from a cache is what it claims to be: a
checksum over a cache entry proves nothing about who wrote it.
"""

from __future__ import annotations

import errno
import hashlib
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from tfcompat.core.errors import TfcompatError
from tfcompat.core.files import DiskFull
from tfcompat.index import net

_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TIMEOUT = 60.0  # seconds without data before a download is given up


class WheelError(TfcompatError):
    """A wheel cannot be resolved, downloaded or read; the message is one line naming it."""

    no_verdict = True


@dataclass(frozen=True)
class WheelRef:
    """A resolved wheel: where it is and what its content hash must be."""

    name: str
    version: str
    filename: str
    url: str
    sha256: str
    size: int


def download(ref: WheelRef, folder: Path) -> Path:
    """Stream the wheel to ``folder`` and check its sha256; ``DiskFull`` if it does not fit."""
    target = folder / ref.filename
    digest = hashlib.sha256()
    size = ref.size
    try:
        with net.urlopen(ref.url, timeout=_TIMEOUT) as response, open(target, "wb") as out:
            length = response.headers.get("Content-Length") or ""
            size = max(size, int(length) if length.isdigit() else 0)
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.URLError as exc:
        raise WheelError(f"{ref.filename}: download failed ({exc})") from None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(folder, what=f"downloading {ref.filename}", needed=size or None) from None
        raise WheelError(f"{ref.filename}: download failed ({exc})") from None
    if digest.hexdigest() != ref.sha256:
        raise WheelError(f"{ref.filename}: sha256 {digest.hexdigest()} is not {ref.sha256}")
    return target


def ref_problem(ref: WheelRef, name: str, version: str) -> str | None:
    """Why ``ref`` is not the wheel of ``name`` ``version``; None when it is. Its file name must
    name that release and its URL end in that file name (``file:///etc/os-release`` does not;
    where URLs enter, the index's answers, ``pypi`` allows https and the index's host only)."""
    if canonicalize_name(ref.name) != canonicalize_name(name) or ref.version != version:
        return f"it names {ref.name} {ref.version}"
    problem = file_problem(ref.filename, name, version, wheel=True)
    if problem:
        return problem
    if urllib.parse.unquote(urllib.parse.urlsplit(ref.url).path.rsplit("/", 1)[-1]) != ref.filename:
        return f"its URL {ref.url[:80]!r} is not one of {ref.filename}"
    if not _SHA256.fullmatch(ref.sha256) or ref.size < 0:
        return "its sha256 or size is not one"
    return None


def file_problem(filename: str, name: str, version: str, *, wheel: bool = False) -> str | None:
    """Why ``filename`` is not a file of ``name`` ``version``; None when it is one. A wheel's
    name always says; unless ``wheel``, an sdist's says too where it has the standard form (old
    sdists on an index often do not, and are left unjudged)."""
    try:
        if len(filename) > 255 or len(version) > 64:  # before parsing: digits become ints
            raise ValueError
        if filename.endswith(".whl"):
            named, numbered, _, _ = parse_wheel_filename(filename)
        elif wheel:
            raise ValueError
        else:
            try:
                named, numbered = parse_sdist_filename(filename)
            except InvalidSdistFilename:
                return None
        same = named == canonicalize_name(name) and numbered == Version(version)
    except (InvalidWheelFilename, InvalidVersion, ValueError):
        return f"{filename[:80]!r} is not the name of a {'wheel' if wheel else 'wheel or sdist'}"
    return None if same else f"{filename} is not a file of {name} {version}"


def installed_path(member: str) -> str:
    """Where a wheel member lands, relative to site-packages: ``<dist>.data/purelib/`` and
    ``<dist>.data/platlib/`` go to the root (the old tensorflow-metal wheels use them)."""
    top, _, rest = member.partition("/")
    scheme, _, path = rest.partition("/")
    if top.endswith(".data") and scheme in ("purelib", "platlib"):
        return path
    return member
