"""A wheel on the index: where it is, what its content hash must be, and getting it whole.

``WheelRef`` is what a resolution names for one distribution; ``download`` streams it to a
folder and checks its sha256 (a wheel that is not the one resolved is never read);
``installed_path`` says where a member of a wheel lands in site-packages.
"""

from __future__ import annotations

import errno
import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tfcompat.core.errors import TfcompatError
from tfcompat.core.files import DiskFull
from tfcompat.index import net

_CHUNK = 1 << 20
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


def installed_path(member: str) -> str:
    """Where a wheel member lands, relative to site-packages: ``<dist>.data/purelib/`` and
    ``<dist>.data/platlib/`` go to the root (the old tensorflow-metal wheels use them)."""
    top, _, rest = member.partition("/")
    scheme, _, path = rest.partition("/")
    if top.endswith(".data") and scheme in ("purelib", "platlib"):
        return path
    return member
