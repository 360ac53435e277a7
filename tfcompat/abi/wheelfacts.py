"""What the dyld model needs from a macOS wheel, read once and kept as one small zip archive.

``read`` opens a downloaded wheel, reads each Mach-O member with ``macho`` (extracted to a
scratch file for mmap, then deleted) and returns an archive holding ``meta.json`` (the load
commands of every image, the imports of the plugin images and the imports every image binds
to a system library, the few ``.py`` files that decide how TensorFlow loads its top-level
library) and ``exports/<image>`` (the export names of every
image, compressed: about 2 MB per TensorFlow wheel).

``READER`` is the hash of the code that produces those facts (this module and ``macho``): cached
facts are keyed by it, so a changed reader reads the wheels again instead of trusting facts
an older reader made.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

from tfcompat.abi import dyld, macho
from tfcompat.core.errors import TfcompatError
from tfcompat.index.wheels import installed_path

#: Members read from a wheel: the binaries dyld loads and the files that set the dlopen flags.
PY_FILES = (
    "tensorflow/python/pywrap_tensorflow.py",
    "tensorflow/python/pywrap_dlopen_global_flags.py",
)
_BINARY_DIRS = ("tensorflow/", "tensorflow-plugins/")
_CHUNK = 1 << 20
READER = hashlib.sha256(Path(macho.__file__).read_bytes() + Path(__file__).read_bytes()).hexdigest()


class UnreadableWheel(TfcompatError):
    """The wheel is not a zip archive, or a binary in it is not a Mach-O image dyld could load."""

    no_verdict = True


def read(wheel: Path, *, scratch: Path) -> bytes:
    """Read the binaries and ``PY_FILES`` of ``wheel``; return the facts archive's bytes.

    ``scratch`` is a folder with room for the largest binary member.
    """
    images: dict[str, dict] = {}
    texts: dict[str, str] = {}
    exports: dict[str, str] = {}
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile:
        raise UnreadableWheel("not a zip archive") from None
    with archive:
        for info in archive.infolist():
            name = installed_path(info.filename)
            if name in PY_FILES:
                texts[name] = archive.read(info).decode("utf-8", "replace")
            elif name.startswith(_BINARY_DIRS) and name.endswith((".so", ".dylib")):
                member = scratch / "member"
                with archive.open(info) as src, open(member, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                try:
                    image = macho.read(member, name=name)
                except macho.MachOError as exc:
                    raise UnreadableWheel(str(exc)) from None
                finally:
                    member.unlink()
                if not name.startswith("tensorflow-plugins/"):
                    # TensorFlow's own images: only what the running macOS must provide (the
                    # load floor); their imports from each other are not checked.
                    image.imports = system_imports(image)
                images[name] = _image_meta(image, info.file_size)
                exports[name] = "\n".join(sorted(image.exports))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as dst:
        dst.writestr("meta.json", json.dumps({"images": images, "texts": texts}))
        for name, text in exports.items():
            dst.writestr(f"exports/{name}", text)
    return out.getvalue()


def largest_binary(wheel: Path) -> int:
    """The uncompressed size of the largest member ``read`` extracts (its scratch space), in bytes."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            sizes = [
                info.file_size
                for info in archive.infolist()
                if installed_path(info.filename).startswith(_BINARY_DIRS)
                and info.filename.endswith((".so", ".dylib"))
            ]
    except zipfile.BadZipFile:
        return 0  # ``read`` says what is wrong with it
    return max(sizes, default=0)


def system_imports(image: macho.Image) -> list[macho.Import]:
    """The imports of ``image`` bound two-level to a library of the operating system."""
    return [
        item
        for item in image.imports
        if 0 < item.ordinal <= len(image.dylibs) and dyld.in_system(image.dylibs[item.ordinal - 1].path)
    ]


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
