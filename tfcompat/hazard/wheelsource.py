"""Python source files read from wheels, member by member, without installing or unpacking them.

A ``SourceSet`` maps dotted module names to the ``.py`` members of a few wheels (TensorFlow and
the Keras it uses). A member is read from the cache when it is there, else from the wheel: read
where it is on the index with HTTP range requests (``rangefile``: its central directory and the
members asked for), or, where the server cannot send ranges, downloaded once (sha256-checked,
``wheels.download``) into a temporary folder kept for the set's lifetime. What was read is
added to one cache entry per wheel, keyed by its sha256: ``<cache>/wheelsource/v1/<sha256>.zip``
holds the list of the wheel's ``.py`` members and every member ever read, so a warm run reads
nothing from the index, and a question that needs a new member reads the wheel again. The
entry names its wheel and checksums its content (``cache``): a damaged one is read again.
"""

from __future__ import annotations

import contextlib
import io
import zipfile
import zlib
from pathlib import Path

from tfcompat.core import cache
from tfcompat.core.files import FilesError, temporary_folder
from tfcompat.index import rangefile
from tfcompat.index.wheels import WheelError, WheelRef, download, installed_path

FORMAT = "v1"
_NAMES = "names.txt"  # the wheel's .py members, installed paths, one a line


class SourceSet:
    """The ``.py`` members of some wheels, by installed path (``keras/optimizers/adam.py``)."""

    def __init__(self, refs: list[WheelRef], *, root: Path):
        self._wheels = [_WheelSource(ref, root / FORMAT) for ref in refs]
        self._where: dict[str, _WheelSource] = {}
        for wheel in self._wheels:
            for name in wheel.names:
                self._where.setdefault(name, wheel)
        self.tops = {name.split("/", 1)[0] for name in self._where}

    def module_path(self, dotted: str) -> str | None:
        """The member that holds module ``dotted``: ``a/b.py`` or ``a/b/__init__.py``."""
        base = dotted.replace(".", "/")
        for path in (f"{base}.py", f"{base}/__init__.py"):
            if path in self._where:
                return path
        return None

    def read(self, path: str) -> str:
        return self._where[path].read(path)

    def wheel_of(self, path: str) -> WheelRef:
        return self._where[path].ref

    def close(self) -> None:
        for wheel in self._wheels:
            wheel.close()

    def __enter__(self) -> SourceSet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _WheelSource:
    def __init__(self, ref: WheelRef, folder: Path):
        self.ref = ref
        self._path = folder / f"{ref.sha256}.zip"
        self._question = {"wheel_sha256": ref.sha256, "members": ".py"}
        self._members: dict[str, str] = {}
        self._new: dict[str, str] = {}
        self._tmp: contextlib.ExitStack | None = None
        self._wheel: zipfile.ZipFile | None = None
        self._by_path: dict[str, zipfile.ZipInfo] = {}
        archive = cache.load(self._path, self._question)
        try:
            if archive is None:
                raise KeyError(_NAMES)
            with zipfile.ZipFile(io.BytesIO(archive)) as cached:
                self.names = cached.read(_NAMES).decode().split("\n")
                self._members = {n: cached.read(n).decode() for n in cached.namelist() if n != _NAMES}
        except (KeyError, zipfile.BadZipFile, zlib.error, UnicodeDecodeError):
            # Not cached yet, or not what this module writes: read from the wheel itself.
            if archive is not None:
                cache.discard(self._path, "not a source archive")
            self._open_wheel()
            self.names = sorted(self._by_path)

    def read(self, path: str) -> str:
        if path in self._members:
            return self._members[path]
        if self._wheel is None:
            self._open_wheel()
        try:
            text = self._wheel.read(self._by_path[path]).decode("utf-8", "replace")
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise WheelError(f"{self.ref.filename}: {path}: cannot be read: {exc}") from None
        self._members[path] = self._new[path] = text
        return text

    def _open_wheel(self) -> None:
        """The wheel, read where it is with range requests (a few members of a 600 MB wheel:
        its sha256 is the index's word for it, not checked here), or downloaded and checked
        where the server cannot send ranges."""
        self._tmp = contextlib.ExitStack()
        try:
            self._wheel = rangefile.open_zip(self.ref.url)
        except rangefile.RangeUnsupported:
            self._wheel = self._downloaded()
        except zipfile.BadZipFile:
            raise WheelError(f"{self.ref.filename}: not a zip archive") from None
        except (OSError, ValueError, EOFError) as exc:
            raise WheelError(f"{self.ref.filename}: cannot be read from the index: {exc}") from None
        for info in self._wheel.infolist():
            path = installed_path(info.filename)
            if path.endswith(".py"):
                self._by_path[path] = info

    def _downloaded(self) -> zipfile.ZipFile:
        try:
            folder = self._tmp.enter_context(temporary_folder("source", needed=self.ref.size))
            wheel = download(self.ref, folder)
        except FilesError as exc:
            raise WheelError(f"{self.ref.filename}: {exc}") from None
        try:
            return zipfile.ZipFile(wheel)
        except zipfile.BadZipFile:
            raise WheelError(f"{self.ref.filename}: not a zip archive") from None

    def close(self) -> None:
        if self._new or not self._path.exists():
            self._save()
        if self._wheel is not None:
            self._wheel.close()
        if self._tmp is not None:
            self._tmp.close()
        self._wheel = self._tmp = None

    def _save(self) -> None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as dst:
            dst.writestr(_NAMES, "\n".join(self.names))
            for name, text in sorted(self._members.items()):
                dst.writestr(name, text)
        try:
            cache.store(self._path, self._question, out.getvalue())
        except FilesError as exc:
            raise WheelError(str(exc)) from None
        self._new = {}
