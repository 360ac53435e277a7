"""The macOS arm64 wheels of a row: resolve them with uv, read their binaries once, cache that.

A wheel is downloaded to a temporary file, its Mach-O members are read one at a time (each
extracted to a temporary file for mmap, then deleted), and what the dyld model needs is kept
in one compressed file per wheel, keyed by the wheel's sha256: load commands of every image,
imports of the plugin images, the export names of every image, and the few ``.py`` files that
decide how TensorFlow loads its top-level library. The wheel itself is deleted. The resolution
(URL, sha256, file name) is cached too, so a warm run touches no network.

Cache layout in the suite's cache folder (``$TFCOMPAT_CACHE``, default ``~/.cache/tfcompat``):
``abi/v2/resolved/<name>-<version>-py<python>.json`` and ``abi/v2/wheels/<sha256>.zip``
(about 2 MB per TensorFlow wheel).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import urllib.error
import urllib.request
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from tfcompat import macho, provision
from tfcompat.files import write_atomic

FORMAT = "v2"  # bumped whenever what is cached per wheel changes
#: uv's documented default target, pinned so that a uv upgrade cannot change the wheel chosen;
#: every wheel of the matrix is tagged macosx_11_0 or macosx_12_0, both accepted by 13.0.
MACOSX_DEPLOYMENT_TARGET = "13.0"
#: Members read from a wheel: the binaries dyld loads and the files that set the dlopen flags.
PY_FILES = (
    "tensorflow/python/pywrap_tensorflow.py",
    "tensorflow/python/pywrap_dlopen_global_flags.py",
)
_BINARY_DIRS = ("tensorflow/", "tensorflow-plugins/")
_CHUNK = 1 << 20
#: What uv says when the index cannot be reached (as opposed to: it has no such wheel).
_OFFLINE_SIGNS = ("Failed to fetch", "error sending request", "not found in the cache")
_TIMEOUT = 60.0  # seconds without data before a download is given up


class WheelError(Exception):
    """A wheel cannot be resolved, downloaded or read; the message is one line naming it."""


@dataclass(frozen=True)
class WheelRef:
    """A resolved wheel: where it is and what its content hash must be."""

    name: str
    version: str
    filename: str
    url: str
    sha256: str
    size: int


def cache_root(cache_dir: Path | None = None) -> Path:
    """This check's cache folder: ``abi/`` in ``cache_dir``, else in the suite's cache
    (``$TFCOMPAT_CACHE``, default ``~/.cache/tfcompat``)."""
    return Path(cache_dir or provision.cache_dir()) / "abi"


def resolve(requirements: list[tuple[str, str]], *, python: str, root: Path) -> list[WheelRef]:
    """Return the macOS arm64 wheel of each ``(name, version)`` for CPython ``python``.

    Cached answers are used as they are; the others are asked of uv, one call per batch of
    distinct package names (about 0.4 s each).
    """
    _drop_other_formats(root)
    folder = root / FORMAT / "resolved"
    paths = [folder / f"{name}-{version}-py{python}.json" for name, version in requirements]
    missing = [req for req, path in zip(requirements, paths, strict=True) if not path.exists()]
    while missing:
        # One uv call resolves one version per package: batch distinct names together.
        batch: list[tuple[str, str]] = []
        for name, version in missing:
            if canonicalize_name(name) not in {canonicalize_name(other) for other, _ in batch}:
                batch.append((name, version))
        for ref in _uv_resolve(batch, python=python):
            path = folder / f"{ref.name}-{ref.version}-py{python}.json"
            write_atomic(path, json.dumps(asdict(ref), indent=1).encode())
        missing = [req for req in missing if req not in batch]
    try:
        return [WheelRef(**json.loads(path.read_text())) for path in paths]
    except (OSError, ValueError, TypeError) as exc:
        raise WheelError(f"{folder}: unreadable cached resolution ({exc}); delete it") from None


def _drop_other_formats(root: Path) -> None:
    """Delete what older versions of this module cached: it is never read again."""
    if root.is_dir():
        for folder in root.iterdir():
            if folder.is_dir() and folder.name != FORMAT and folder.name.startswith("v"):
                shutil.rmtree(folder, ignore_errors=True)


def _uv_resolve(requirements: list[tuple[str, str]], *, python: str) -> list[WheelRef]:
    try:
        uv = provision.uv_binary()
    except provision.ProvisionError:
        raise WheelError("uv not found: install it (pip install uv); it resolves the macOS wheels") from None
    wanted = ", ".join(f"{name}=={version}" for name, version in requirements)
    with tempfile.TemporaryDirectory(prefix="tfcompat-uv-") as tmp:
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text("".join(f"{n}=={v}\n" for n, v in requirements))
        lock = Path(tmp) / "pylock.toml"
        # This interpreter only stands in for uv's interpreter discovery, which otherwise
        # looks for (or downloads) a CPython ``python``: the target is set by the flags.
        argv = [uv, "pip", "compile", "--quiet", "--no-deps", "--no-header", "--python", sys.executable]
        argv += ["--python-platform", "aarch64-apple-darwin", "--python-version", python]
        argv += ["--only-binary", ":all:", "--format", "pylock.toml", "-o", str(lock), str(reqs)]
        env = dict(os.environ, MACOSX_DEPLOYMENT_TARGET=MACOSX_DEPLOYMENT_TARGET, UV_PYTHON_DOWNLOADS="never")
        try:
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
        except subprocess.TimeoutExpired:
            raise WheelError(f"{wanted}: uv gave no answer in 300 s (is the index reachable?)") from None
        if done.returncode != 0:
            why = _uv_why(done)
            if any(sign in done.stderr for sign in _OFFLINE_SIGNS):
                raise WheelError(f"{wanted}: cannot reach the package index, and nothing is cached: {why}")
            raise WheelError(f"{wanted}: no macOS arm64 wheel for Python {python}: {why}")
        packages = tomllib.loads(lock.read_text()).get("packages", [])
    refs = []
    for name, version in requirements:
        entry = next((p for p in packages if canonicalize_name(p["name"]) == canonicalize_name(name)), None)
        wheels = entry.get("wheels", []) if entry else []
        if not wheels:
            raise WheelError(f"{name}=={version}: no macOS arm64 wheel for Python {python}")
        wheel = wheels[0]
        filename = wheel["url"].rsplit("/", 1)[-1]
        refs.append(WheelRef(name, version, filename, wheel["url"], wheel["hashes"]["sha256"], wheel["size"]))
    return refs


def _uv_why(done: subprocess.CompletedProcess) -> str:
    """uv's reason in one line: its error lines joined, without the hint paragraphs."""
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("hint:", "help:"))]
    return " ".join(lines)[:400] or f"uv exited with {done.returncode}"


class WheelFacts:
    """What was read from one wheel, from its cache file; export sets load on first use."""

    def __init__(self, path: Path):
        self._zip = zipfile.ZipFile(path)
        meta = json.loads(self._zip.read("meta.json"))
        self.ref = WheelRef(**meta["ref"])
        self.images: dict[str, dict] = meta["images"]
        self.texts: dict[str, str] = meta["texts"]
        self._exports: dict[str, frozenset[str]] = {}

    def exports(self, path: str) -> frozenset[str]:
        """The names exported by the image at ``path`` (relative to site-packages)."""
        if path not in self._exports:
            try:
                text = self._zip.read(f"exports/{path}").decode()
            except (KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
                raise WheelError(f"{self.ref.filename}: damaged cache entry for {path} ({exc})") from None
            self._exports[path] = frozenset(text.split("\n")) if text else frozenset()
        return self._exports[path]

    def close(self) -> None:
        self._zip.close()


def facts(ref: WheelRef, *, root: Path) -> WheelFacts:
    """Open the cached facts of ``ref``, reading the wheel first if they are not cached."""
    path = root / FORMAT / "wheels" / f"{ref.sha256}.zip"
    if not path.exists():
        with tempfile.TemporaryDirectory(prefix="tfcompat-wheel-") as tmp:
            wheel = download(ref, Path(tmp))
            write_atomic(path, _read_wheel(ref, wheel, Path(tmp)))
    try:
        return WheelFacts(path)
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise WheelError(f"{path}: unreadable cache file ({exc}); delete it") from None


def download(ref: WheelRef, folder: Path) -> Path:
    """Stream the wheel to ``folder`` and check its sha256."""
    target = folder / ref.filename
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(ref.url, timeout=_TIMEOUT) as response, open(target, "wb") as out:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        raise WheelError(f"{ref.filename}: download failed ({exc})") from None
    if digest.hexdigest() != ref.sha256:
        raise WheelError(f"{ref.filename}: sha256 {digest.hexdigest()} is not {ref.sha256}")
    return target


def _read_wheel(ref: WheelRef, wheel: Path, tmp: Path) -> bytes:
    """Read the binaries and ``PY_FILES`` of ``wheel``; return the cache file's bytes."""
    images: dict[str, dict] = {}
    texts: dict[str, str] = {}
    exports: dict[str, str] = {}
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile:
        raise WheelError(f"{ref.filename}: not a zip archive") from None
    with archive:
        for info in archive.infolist():
            name = installed_path(info.filename)
            if name in PY_FILES:
                texts[name] = archive.read(info).decode("utf-8", "replace")
            elif name.startswith(_BINARY_DIRS) and name.endswith((".so", ".dylib")):
                member = tmp / "member"
                with archive.open(info) as src, open(member, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                try:
                    plugin = name.startswith("tensorflow-plugins/")
                    image = macho.read(member, name=name, imports=plugin)
                except macho.MachOError as exc:
                    raise WheelError(f"{ref.filename}: {exc}") from None
                finally:
                    member.unlink()
                images[name] = _image_meta(image, info.file_size)
                exports[name] = "\n".join(sorted(image.exports))
    meta = {"format": FORMAT, "ref": asdict(ref), "images": images, "texts": texts}
    out = tmp / "facts.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as dst:
        dst.writestr("meta.json", json.dumps(meta))
        for name, text in exports.items():
            dst.writestr(f"exports/{name}", text)
    return out.read_bytes()


def installed_path(member: str) -> str:
    """Where a wheel member lands, relative to site-packages: ``<dist>.data/purelib/`` and
    ``<dist>.data/platlib/`` go to the root (the old tensorflow-metal wheels use them)."""
    top, _, rest = member.partition("/")
    scheme, _, path = rest.partition("/")
    if top.endswith(".data") and scheme in ("purelib", "platlib"):
        return path
    return member


def _image_meta(image: macho.Image, size: int) -> dict:
    return {
        "install_name": image.install_name,
        "dylibs": [[d.path, d.kind] for d in image.dylibs],
        "rpaths": image.rpaths,
        "fixups": image.fixups,
        "min_macos": image.min_macos,
        "imports": [[i.name, i.ordinal, i.weak] for i in image.imports],
        "reexports": image.reexports,
        "export_count": len(image.exports),
        "size": size,
    }
