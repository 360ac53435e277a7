"""An environment's installed files, checked against what their installer recorded.

Every installer (pip, uv) writes ``<dist>.dist-info/RECORD``: each installed file's path, sha256
and size. Hashing all of them is the full proof, but TensorFlow's environment is ~13,400 files
and 1.2 GB: about 3 s of hashing here, half the budget of a warm session. So:

- Both first compare the ``*.dist-info`` folders with the resolved set: nothing added or missing.
- ``seal`` hashes every file against RECORD (right after an environment is built, or when it has
  no manifest) and, when all match, writes a manifest: each file's size, mtime and inode.
- ``check`` (every reuse, ~0.1 s) stats each file against the manifest. A deleted file fails
  stat; a truncated or extended one has another size than RECORD says; a replaced file (a new
  inode) or one rewritten in place (a new mtime) of the right size is hashed against RECORD,
  and the manifest refreshed when it still matches. A missing or damaged manifest means a seal.

Not caught: a same-size rewrite in place that also restores the mtime (deliberate tampering).
Bytecode is not checked: uv compiles it after installing, so it is not in RECORD (and the few
``.pyc`` files a wheel ships are recompiled, so RECORD's hashes no longer hold); Python checks a
``.pyc`` against its source and recompiles it when it is stale.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tfcompat.core import cache
from tfcompat.core.errors import TfcompatError

MANIFEST = ".tfcompat-manifest"
_CHUNK = 1 << 20


class Damaged(TfcompatError):
    """The first file that is not what its RECORD says; the message is one line naming it."""

    no_verdict = True

    def __init__(self, message: str, *, dist: str | None = None):
        super().__init__(message)
        self.dist = dist  # the distribution whose file it is, for ``uv cache clean``


@dataclass
class Checked:
    """How an environment was checked: the files, what was hashed, and how long it took."""

    files: int
    hashed_bytes: int
    sealed: bool  # every file was hashed (no usable manifest, or a new environment)
    seconds: float


@dataclass(frozen=True)
class _Entry:
    path: str  # absolute, normalised
    name: str  # as RECORD spells it, relative to site-packages
    dist: str  # the dist-info folder's name
    sha256: str | None  # urlsafe base64 without padding, as RECORD spells it
    size: int | None


def check(env_dir: Path, site: Path, *, key: dict, expected: list[str]) -> Checked:
    """Check the environment at ``env_dir``: it holds the ``expected`` pins ("name==version"),
    and their files match RECORD; raise ``Damaged``.

    ``key`` names what the environment should hold (the resolved set); a manifest made for
    anything else does not count. Without a usable manifest this is ``seal``.
    """
    started = time.monotonic()
    manifest = cache.load_json(env_dir / MANIFEST, key, valid=_valid_manifest)
    if manifest is None:
        return seal(env_dir, site, key=key, expected=expected)
    _check_set(site, expected)
    if _dist_infos(site) != sorted(manifest):
        raise Damaged(f"{site}: its dist-info folders are not the ones its manifest lists")
    changed: set[tuple[str, str]] = set()
    count = 0
    for dist, files in manifest.items():
        for name, size, mtime, inode in files:
            path = os.path.normpath(os.path.join(site, name))
            try:
                stat = os.stat(path)
            except OSError:
                raise Damaged(f"{path}: missing", dist=_dist_name(dist)) from None
            if stat.st_size != size:
                raise Damaged(f"{path}: {stat.st_size} bytes, its RECORD says {size}", dist=_dist_name(dist))
            if stat.st_mtime_ns != mtime or stat.st_ino != inode:
                changed.add((dist, name))
        count += len(files)
    hashed = 0
    if changed:
        # Rewritten or replaced, still the right size: only RECORD's hash can tell.
        entries = _records(env_dir, site)
        hashed = _verify([entry for entry in entries if (entry.dist, entry.name) in changed])
        _write_manifest(env_dir, key=key, entries=entries)
    return Checked(count, hashed, False, round(time.monotonic() - started, 3))


def seal(env_dir: Path, site: Path, *, key: dict, expected: list[str]) -> Checked:
    """Check the installed set and hash every file against RECORD; raise ``Damaged``, or write
    the manifest."""
    started = time.monotonic()
    (env_dir / MANIFEST).unlink(missing_ok=True)
    _check_set(site, expected)
    entries = _records(env_dir, site)
    hashed = _verify(entries)
    count = _write_manifest(env_dir, key=key, entries=entries)
    return Checked(count, hashed, True, round(time.monotonic() - started, 3))


def site_packages(env_dir: Path, version: str) -> Path:
    """The site-packages folder of a virtual environment of Python ``version`` ("3.11.7")."""
    if os.name == "nt":
        return env_dir / "Lib" / "site-packages"
    major, minor = version.split(".")[:2]
    return env_dir / "lib" / f"python{major}.{minor}" / "site-packages"


def _check_set(site: Path, expected: list[str]) -> None:
    """``Damaged`` unless the distributions installed in ``site`` are exactly the ``expected`` pins."""
    want = set()
    for pin in expected:
        requirement = Requirement(pin)
        want.add(_canonical(requirement.name, next(iter(requirement.specifier)).version))
    have = {_canonical(*name.removesuffix(".dist-info").split("-", 1)) for name in _dist_infos(site)}
    if have != want:
        extra = sorted(f"{name}=={version}" for name, version in have - want)
        missing = sorted(f"{name}=={version}" for name, version in want - have)
        raise Damaged(f"{site}: not the resolved set: " + _difference(extra, missing))


def _canonical(name: str, version: str = "") -> tuple[str, str]:
    try:
        return canonicalize_name(name), str(Version(version))
    except InvalidVersion:
        return canonicalize_name(name), version


def _dist_infos(site: Path) -> list[str]:
    try:
        return sorted(entry.name for entry in os.scandir(site) if entry.name.endswith(".dist-info"))
    except OSError:
        raise Damaged(f"{site}: missing") from None


def _records(env_dir: Path, site: Path) -> list[_Entry]:
    """Every file the RECORDs of ``site`` list, except bytecode and paths outside the environment."""
    env_root = os.path.normpath(env_dir) + os.sep
    entries = []
    for dist in _dist_infos(site):
        record = site / dist / "RECORD"
        try:
            with open(record, newline="", encoding="utf-8") as handle:
                rows = list(csv.reader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise Damaged(f"{record}: unreadable ({exc})", dist=_dist_name(dist)) from None
        for row in rows:
            if not row or not row[0] or row[0].endswith(".pyc"):
                continue
            path = os.path.normpath(os.path.join(site, row[0]))
            if not path.startswith(env_root):
                continue  # a RECORD is data: it does not get to send us outside the environment
            algorithm, _, digest = (row[1] if len(row) > 1 else "").partition("=")
            size = row[2] if len(row) > 2 else ""
            entries.append(
                _Entry(
                    path=path,
                    name=row[0],
                    dist=dist,
                    sha256=digest if algorithm == "sha256" and digest else None,
                    size=int(size) if size.isdigit() else None,
                )
            )
    return entries


def _verify(entries: list[_Entry]) -> int:
    """Hash each entry's file against RECORD; the bytes hashed, or ``Damaged`` at the first bad one."""
    hashed = 0
    for entry in entries:
        dist = _dist_name(entry.dist)
        digest = hashlib.sha256()
        try:
            size = os.stat(entry.path).st_size
            if entry.size is not None and size != entry.size:
                raise Damaged(f"{entry.path}: {size} bytes, its RECORD says {entry.size}", dist=dist)
            if entry.sha256 is None:
                continue  # RECORD lists itself without a hash
            with open(entry.path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
        except OSError:
            raise Damaged(f"{entry.path}: missing", dist=dist) from None
        hashed += size
        if base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode() != entry.sha256:
            raise Damaged(f"{entry.path}: content differs from its RECORD", dist=dist)
    return hashed


def _write_manifest(env_dir: Path, *, key: dict, entries: list[_Entry]) -> int:
    """Note each file's size, mtime and inode, per dist-info folder; the number of files."""
    manifest: dict[str, list] = {}
    for entry in entries:
        stat = os.stat(entry.path)
        manifest.setdefault(entry.dist, []).append([entry.name, stat.st_size, stat.st_mtime_ns, stat.st_ino])
    cache.store_json(env_dir / MANIFEST, key, manifest)
    return len(entries)


def _valid_manifest(value) -> bool:
    return isinstance(value, dict) and all(
        isinstance(files, list)
        and all(
            isinstance(item, list)
            and len(item) == 4
            and isinstance(item[0], str)
            and all(isinstance(number, int) for number in item[1:])
            for item in files
        )
        for files in value.values()
    )


def _dist_name(dist_info: str) -> str:
    """``tensorflow_cpu-2.17.0.dist-info`` -> ``tensorflow_cpu`` (what ``uv cache clean`` takes)."""
    return dist_info.removesuffix(".dist-info").rpartition("-")[0] or dist_info


def _difference(extra: list[str], missing: list[str]) -> str:
    parts = []
    if extra:
        parts.append("added " + ", ".join(extra))
    if missing:
        parts.append("missing " + ", ".join(missing))
    return "; ".join(parts)
