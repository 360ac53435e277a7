"""The macOS arm64 wheels: read their binaries once and cache that; name pinned ones with uv.

A wheel is downloaded to a temporary folder, read by ``wheelfacts`` into one small archive of
what the dyld model needs, and deleted (``facts``: the engine's wheels, named by the index).
``resolve`` names the macOS arm64 wheel of pinned releases for a Python with uv (the hazard's
Keras wheels, ``predict.recommend``); its answer (URL, sha256, file name) is cached too, so a
warm run touches no network.

Cache layout in the suite's cache folder (``$TFCOMPAT_CACHE``, default ``~/.cache/tfcompat``):
``abi/resolved/<name>-<version>-py<python>.json`` and ``abi/facts/<wheel sha256>.facts`` (about
2 MB per TensorFlow wheel). Each is a ``cache`` entry that names its question (the release and
Python; the wheel's sha256 and the reader's code) and checksums its content: a bad one is
removed and made again in the same run.
"""

from __future__ import annotations

import errno
import io
import json
import shutil
import tempfile
import time
import zipfile
import zlib
from dataclasses import asdict
from pathlib import Path

import msgspec
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tfcompat.abi import wheelfacts
from tfcompat.core import cache, config, macos, uvcall
from tfcompat.core.files import DiskFull, FilesError, folder_line, temporary_folder
from tfcompat.index.wheels import WheelError, WheelRef, download, ref_problem
from tfcompat.resolve.resolver import ResolveError, Target, pip_compile

_TIMEOUT = 300.0  # seconds for uv to name the wheels
_TMPDIR_HINT = "TMPDIR moves the temporary folder to another disk"


def cache_root(cache_dir: Path | None = None) -> Path:
    """The wheels' cache folder: ``abi/`` in ``cache_dir``, else in the suite's cache
    (``$TFCOMPAT_CACHE``, default ``~/.cache/tfcompat``)."""
    return Path(cache_dir or config.cache_dir()) / "abi"


def resolve(requirements: list[tuple[str, str]], *, python: str, root: Path) -> list[WheelRef]:
    """Return the macOS arm64 wheel of each ``(name, version)`` for CPython ``python``.

    Cached answers are used when they prove themselves; the others are asked of uv, one call per
    batch of distinct package names (about 0.4 s each).
    """
    unusable = folder_line("cache folder", root, config.CACHE_ENV)
    if unusable:
        raise WheelError(unusable)
    _drop_old_layouts(root)
    refs = {
        (name, version): _cached_ref(name, version, python=python, root=root)
        for name, version in requirements
    }
    missing = [req for req, ref in refs.items() if ref is None]
    while missing:
        # One uv call resolves one version per package: batch distinct names together.
        batch: list[tuple[str, str]] = []
        for name, version in missing:
            if canonicalize_name(name) not in {canonicalize_name(other) for other, _ in batch}:
                batch.append((name, version))
        for (name, version), ref in zip(batch, _uv_resolve(batch, python=python), strict=True):
            _remember(ref, python=python, root=root)
            refs[(name, version)] = ref
        missing = [req for req in missing if req not in batch]
    return [refs[req] for req in requirements]


def _remember(ref: WheelRef, *, python: str, root: Path) -> None:
    """Cache ``ref`` as the wheel of ``ref.name==ref.version`` for CPython ``python``."""
    try:
        cache.store_json(
            _ref_path(ref.name, ref.version, python, root),
            _ref_question(ref.name, ref.version, python),
            asdict(ref),
        )
    except FilesError as exc:
        raise WheelError(str(exc)) from None


def _cached_ref(name: str, version: str, *, python: str, root: Path) -> WheelRef | None:
    def valid(value) -> bool:
        """A ``WheelRef`` of the right types that names this release's wheel (file name, URL)."""
        try:
            ref = msgspec.convert(value, WheelRef)
        except msgspec.ValidationError:
            return False
        return ref_problem(ref, name, version) is None

    value = cache.load_json(
        _ref_path(name, version, python, root), _ref_question(name, version, python), valid=valid
    )
    return None if value is None else WheelRef(**value)


def _ref_path(name: str, version: str, python: str, root: Path) -> Path:
    return root / "resolved" / f"{name}-{version}-py{python}.json"


def _ref_question(name: str, version: str, python: str) -> dict:
    return {
        "name": canonicalize_name(name),
        "version": version,
        "python": python,
        "platform": macos.PLATFORM,
        "macosx": macos.DEPLOYMENT_TARGET,
    }


def _drop_old_layouts(root: Path) -> None:
    """Delete what older versions of this module cached (``abi/v1``, ``abi/v2``): never read again."""
    if root.is_dir():
        for folder in root.iterdir():
            if folder.is_dir() and folder.name[:1] == "v" and folder.name[1:].isdigit():
                shutil.rmtree(folder, ignore_errors=True)


def _uv_resolve(requirements: list[tuple[str, str]], *, python: str) -> list[WheelRef]:
    """The macOS arm64 wheel of each pinned distribution: one resolution without dependencies."""
    wanted = [f"{name}=={version}" for name, version in requirements]
    try:
        pins = pip_compile(wanted, Target.mac(python), deadline=time.monotonic() + _TIMEOUT, no_deps=True)
    except ResolveError as exc:
        asked = ", ".join(wanted)
        if not exc.detail:  # uv is missing or gave no answer in time
            raise WheelError(f"{asked}: {exc}") from None
        why = uvcall.whole_reason(exc.detail, limit=400)
        if exc.no_verdict:
            raise WheelError(
                f"{asked}: cannot reach the package index, and nothing is cached: {why}"
            ) from None
        raise WheelError(f"{asked}: no macOS arm64 wheel for Python {python}: {why}") from None
    refs = []
    for name, version in requirements:
        pin = next((pin for pin in pins if pin.name == canonicalize_name(name)), None)
        if pin is None or not pin.is_wheel:
            raise WheelError(f"{name}=={version}: no macOS arm64 wheel for Python {python}")
        refs.append(WheelRef(name, version, pin.filename, pin.url, pin.sha256, pin.size))
    return refs


class WheelFacts:
    """What was read from one wheel (a ``wheelfacts`` archive); export sets load on first use."""

    def __init__(self, archive: bytes, ref: WheelRef, *, path: Path | None = None):
        """Open the facts ``archive`` of ``ref``; ``ValueError`` if it is not one.

        ``path`` is the cache entry it came from, removed if an export set turns out unreadable.
        """
        self.ref = ref
        self._path = path
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(archive))
            meta = json.loads(self._zip.read("meta.json"))
            names = set(self._zip.namelist())
        except (zipfile.BadZipFile, zlib.error, KeyError, ValueError, RecursionError) as exc:
            raise ValueError(f"not a facts archive ({exc})") from None
        if not _valid_meta(meta) or any(f"exports/{image}" not in names for image in meta["images"]):
            raise ValueError("not a facts archive (its contents are not the facts' shape)")
        self.metadata: dict[str, str | None] = meta["metadata"]
        self.images: dict[str, dict] = meta["images"]
        self.texts: dict[str, str] = meta["texts"]
        self._exports: dict[str, frozenset[str]] = {}

    def exports(self, path: str) -> frozenset[str]:
        """The names exported by the image at ``path`` (relative to site-packages)."""
        if path not in self._exports:
            try:
                text = self._zip.read(f"exports/{path}").decode()
            except (KeyError, zipfile.BadZipFile, zlib.error, UnicodeDecodeError) as exc:
                # The archive passed its checksum, so it was made like this: drop it all the same.
                if self._path is not None:
                    cache.discard(self._path, f"unreadable export set of {path}")
                raise WheelError(
                    f"{self.ref.filename}: damaged cached facts for {path} ({exc}); rerun"
                ) from None
            self._exports[path] = frozenset(text.split("\n")) if text else frozenset()
        return self._exports[path]

    def close(self) -> None:
        self._zip.close()


def _valid_meta(meta) -> bool:
    image_keys = {"install_name", "dylibs", "rpaths", "imports", "reexports", "size"}
    return (
        isinstance(meta, dict)
        and isinstance(meta.get("metadata"), dict)
        and all(isinstance(meta["metadata"].get(key), str | None) for key in ("name", "version"))
        and isinstance(meta.get("images"), dict)
        and all(isinstance(image, dict) and image_keys <= image.keys() for image in meta["images"].values())
        and isinstance(meta.get("texts"), dict)
        and all(isinstance(text, str) for text in meta["texts"].values())
    )


def facts(ref: WheelRef, *, root: Path) -> WheelFacts:
    """The facts of ``ref``: from the cache when they prove themselves, else read from the wheel.

    Raises ``WheelError`` when the wheel's own METADATA names another distribution or release
    than ``ref`` (a wheel renamed, or a forged reference with another wheel's sha256): its
    facts are true of that wheel, and cached as such, but never taken for ``ref``'s release.
    """
    path = root / "facts" / f"{ref.sha256}.facts"
    question = {"sha256": ref.sha256, "reader": wheelfacts.READER}
    archive = cache.load(path, question)
    found = None
    if archive is not None:
        try:
            found = WheelFacts(archive, ref, path=path)
        except ValueError as exc:
            cache.discard(path, str(exc))
    if found is None:
        archive = _read(ref)
        try:
            cache.store(path, question, archive)
        except FilesError as exc:
            raise WheelError(str(exc)) from None
        found = WheelFacts(archive, ref, path=path)
    name, version = found.metadata["name"], found.metadata["version"]
    if (name is not None and canonicalize_name(name) != canonicalize_name(ref.name)) or (
        version is not None and not _same_version(version, ref.version)
    ):
        found.close()
        says = f"{(name or '')[:60]} {(version or '')[:40]}".strip()
        raise WheelError(f"{ref.filename}: its METADATA says {says}, not {ref.name} {ref.version}")
    return found


def _same_version(text: str, version: str) -> bool:
    try:
        return len(text) <= 64 and Version(text) == Version(version)
    except InvalidVersion:
        return False


def _read(ref: WheelRef) -> bytes:
    """Download ``ref`` to a temporary folder, read its facts, and delete it."""
    what = f"reading {ref.filename}"
    try:
        with temporary_folder("wheel", needed=ref.size, what=what) as tmp:
            wheel = download(ref, tmp)
            scratch = tmp / "scratch"
            scratch.mkdir()
            try:
                return wheelfacts.read(wheel, scratch=scratch)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    needed = wheelfacts.largest_binary(wheel)
                    raise DiskFull(tmp, what=f"unpacking {ref.filename}", needed=needed) from None
                raise
    except wheelfacts.UnreadableWheel as exc:
        raise WheelError(f"{ref.filename}: {exc}") from None
    except DiskFull as exc:
        # Named by the system's temporary folder: the one TMPDIR moves.
        full = DiskFull(Path(tempfile.gettempdir()), what=what, needed=exc.needed, hint=_TMPDIR_HINT)
        raise WheelError(str(full)) from None
    except OSError as exc:
        raise WheelError(f"{ref.filename}: cannot read it: {exc.strerror or exc}") from None
