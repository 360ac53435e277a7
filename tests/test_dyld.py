"""The dyld model's search and re-export rules, on Mach-O files read by tfcompat's own reader.

The real wheels of today exercise neither rule in a way a test can isolate (no TensorFlow wheel
needs the caller's LC_RPATH, and the re-exports of TF 2.18+ sit in 600 MB libraries), so the
images here are minimal arm64 Mach-O dylibs built byte by byte from <mach-o/loader.h> (labelled:
made for the test, not taken from a wheel). LIEF, the reference parser, reads each one first,
so the bytes are known to say what the test means.
"""

from __future__ import annotations

import struct
from pathlib import Path

import lief
import pytest

from tfcompat.abi import dyld, macho

LOADER = "__ZN3tsl8internal18LoadDynamicLibraryEPKcPPv"  # where TensorFlow calls dlopen for plugins
_LC_LOAD_DYLIB, _LC_ID_DYLIB, _LC_RPATH, _LC_DYLD_EXPORTS_TRIE = 0xC, 0xD, 0x8000001C, 0x80000033
_LC_SEGMENT_64 = 0x19
_EXPORT_REEXPORT = 0x08


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _padded(command: bytes, text: str) -> bytes:
    """A load command whose fixed part is ``command`` (cmdsize patched in), then ``text``, 8-aligned."""
    raw = command + text.encode() + b"\0"
    raw += b"\0" * (-len(raw) % 8)
    return raw[:4] + struct.pack("<I", len(raw)) + raw[8:]


def _dylib_command(cmd: int, name: str) -> bytes:
    return _padded(struct.pack("<IIIIII", cmd, 0, 24, 2, 0x10000, 0x10000), name)


def _segment(name: str, *, vmaddr: int, fileoff: int, filesize: int, protection: int) -> bytes:
    """LC_SEGMENT_64 without sections."""
    return struct.pack(
        "<II16sQQQQiiII",
        _LC_SEGMENT_64,
        72,
        name.encode(),
        vmaddr,
        0x4000,
        fileoff,
        filesize,
        protection,
        protection,
        0,
        0,
    )


def _export_trie(exports: list[tuple[str, bytes]]) -> bytes:
    """A trie whose root has one edge per name; each node holds that export's terminal info."""
    nodes = [_uleb(len(info)) + info + b"\0" for _, info in exports]
    root_size = 2 + sum(len(name) + 1 + 1 for name, _ in exports)  # offsets stay one byte here
    offsets, at = [], root_size
    for node in nodes:
        offsets.append(at)
        at += len(node)
    assert at < 0x80
    root = b"\0" + bytes([len(exports)])
    root += b"".join(
        name.encode() + b"\0" + _uleb(offset) for (name, _), offset in zip(exports, offsets, strict=True)
    )
    return root + b"".join(nodes)


def regular(address: int) -> bytes:
    return _uleb(0) + _uleb(address)


def reexport(ordinal: int, name_there: str) -> bytes:
    return _uleb(_EXPORT_REEXPORT) + _uleb(ordinal) + name_there.encode() + b"\0"


def write_dylib(
    path: Path,
    *,
    install_name: str,
    dylibs: tuple[str, ...] = (),
    rpaths: tuple[str, ...] = (),
    exports: list[tuple[str, bytes]] = (),
) -> Path:
    """An arm64 MH_DYLIB with LC_ID_DYLIB, LC_LOAD_DYLIB, LC_RPATH and LC_DYLD_EXPORTS_TRIE."""
    commands = [_dylib_command(_LC_ID_DYLIB, install_name)]
    commands += [_dylib_command(_LC_LOAD_DYLIB, name) for name in dylibs]
    commands += [_padded(struct.pack("<III", _LC_RPATH, 0, 12), rpath) for rpath in rpaths]
    trie = _export_trie(list(exports))
    size_of_commands = sum(map(len, commands)) + 2 * 72 + 16
    trie_at = 32 + size_of_commands
    # __TEXT maps the headers, __LINKEDIT the export trie: dyld (and LIEF) find the trie in it.
    commands.append(_segment("__TEXT", vmaddr=0, fileoff=0, filesize=trie_at, protection=5))
    commands.append(_segment("__LINKEDIT", vmaddr=0x4000, fileoff=trie_at, filesize=len(trie), protection=1))
    commands.append(struct.pack("<IIII", _LC_DYLD_EXPORTS_TRIE, 16, trie_at, len(trie)))
    header = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x0100000C, 0, 6, len(commands), size_of_commands, 0, 0)
    path.write_bytes(header + b"".join(commands) + trie)
    return path


def library(path: Path, where: str) -> dyld.Library:
    """The model's view of an image read by tfcompat's reader, at ``where`` in site-packages."""
    image = macho.read(path)
    names = frozenset(image.exports)
    return dyld.Library(
        path=where,
        install_name=image.install_name,
        dylibs=image.dylibs,
        rpaths=image.rpaths,
        reexports=image.reexports,
        exports=lambda: names,
    )


def _lief(path: Path) -> lief.MachO.Binary:
    fat = lief.MachO.parse(str(path))
    assert fat is not None, f"LIEF cannot parse {path}"
    return fat.take(lief.MachO.Header.CPU_TYPE.ARM64)  # take: the binary outlives the fat file


def test_export_trie_re_exports_are_recorded(tmp_path: Path) -> None:
    path = write_dylib(
        tmp_path / "libtop.dylib",
        install_name="@rpath/_pywrap_tensorflow_internal.so",
        dylibs=("@rpath/libcc.dylib",),
        exports=[
            ("_Moved", reexport(1, "_MovedThere")),
            ("_Own", regular(0x4000)),
            ("_Same", reexport(1, "")),
        ],
    )
    binary = _lief(path)  # kept alive while its exports are read: they point into it
    reexport_flag = lief.MachO.ExportInfo.FLAGS.REEXPORT
    reference = {e.symbol.name: reexport_flag in e.flags_list for e in binary.dyld_exports_trie.exports}
    assert reference == {"_Moved": True, "_Own": False, "_Same": True}
    image = macho.read(path)
    assert sorted(image.exports) == sorted(reference) == ["_Moved", "_Own", "_Same"]
    # A re-export with no name of its own keeps its name in the library it points to.
    assert image.reexports == {"_Moved": (1, "_MovedThere"), "_Same": (1, "_Same")}
    assert image.dylibs[0].path == "@rpath/libcc.dylib"  # ordinal 1


def test_a_re_export_resolves_where_it_points_or_not_at_all(tmp_path: Path) -> None:
    top = write_dylib(
        tmp_path / "top.dylib",
        install_name="@rpath/_pywrap_tensorflow_internal.so",
        dylibs=("@rpath/libcc.dylib",),
        rpaths=("@loader_path/..",),
        exports=[("_Moved", reexport(1, "_MovedThere")), ("_Gone", reexport(1, "_NotThere"))],
    )
    cc = write_dylib(
        tmp_path / "cc.dylib", install_name="@rpath/libcc.dylib", exports=[("_MovedThere", regular(16))]
    )
    plugin = write_dylib(
        tmp_path / "plugin.dylib",
        install_name="@rpath/libmetal_plugin.dylib",
        dylibs=("@rpath/_pywrap_tensorflow_internal.so",),
    )
    site = {
        dyld.TOP_LEVEL: library(top, dyld.TOP_LEVEL),
        "tensorflow/libcc.dylib": library(cc, "tensorflow/libcc.dylib"),
        "tensorflow-plugins/libmetal_plugin.dylib": library(
            plugin, "tensorflow-plugins/libmetal_plugin.dylib"
        ),
    }
    imports = [macho.Import("_Moved", 1, False), macho.Import("_Gone", 1, False)]
    process = dyld.import_tensorflow(site, {})
    failures = process.dlopen(site["tensorflow-plugins/libmetal_plugin.dylib"], imports)
    assert [f.line for f in failures] == [
        f"Symbol not found: _Gone (expected in site-packages/{dyld.TOP_LEVEL})"
    ]


@pytest.mark.parametrize("present", [True, False], ids=["caller's LC_RPATH reaches it", "nowhere"])
def test_the_callers_lc_rpath_is_searched_after_the_plugins_own(tmp_path: Path, present: bool) -> None:
    """dyld expands @rpath with the LC_RPATH of each image on the load chain; for a plugin that
    TensorFlow dlopens, that is the plugin, then the image that called dlopen."""
    top = write_dylib(
        tmp_path / "top.dylib",
        install_name="@rpath/_pywrap_tensorflow_internal.so",
        dylibs=("@rpath/libtensorflow_framework.2.dylib",),
        rpaths=("@loader_path/..",),
    )
    framework = write_dylib(
        tmp_path / "framework.dylib",
        install_name="@rpath/libtensorflow_framework.2.dylib",
        rpaths=("@loader_path/extra",),
        exports=[(LOADER, regular(16))],
    )
    extra = write_dylib(
        tmp_path / "extra.dylib", install_name="@rpath/libextra.dylib", exports=[("_C", regular(16))]
    )
    plugin = write_dylib(
        tmp_path / "plugin.dylib",
        install_name="@rpath/libmetal_plugin.dylib",
        dylibs=("@rpath/libextra.dylib",),
        rpaths=("@loader_path/../nowhere",),  # a build machine's path: never there in site-packages
    )
    for path, rpath in ((framework, "@loader_path/extra"), (plugin, "@loader_path/../nowhere")):
        binary = _lief(path)
        assert [c.path for c in binary.commands if c.command == lief.MachO.LoadCommand.TYPE.RPATH] == [rpath]
    site = {
        dyld.TOP_LEVEL: library(top, dyld.TOP_LEVEL),
        "tensorflow/libtensorflow_framework.2.dylib": library(
            framework, "tensorflow/libtensorflow_framework.2.dylib"
        ),
        "tensorflow-plugins/libmetal_plugin.dylib": library(
            plugin, "tensorflow-plugins/libmetal_plugin.dylib"
        ),
    }
    if present:
        site["tensorflow/extra/libextra.dylib"] = library(extra, "tensorflow/extra/libextra.dylib")
    process = dyld.import_tensorflow(site, {})
    assert process.caller is site["tensorflow/libtensorflow_framework.2.dylib"]
    failures = process.dlopen(
        site["tensorflow-plugins/libmetal_plugin.dylib"], [macho.Import("_C", 1, False)]
    )
    if present:
        assert failures == []
    else:
        assert [f.message for f in failures] == [
            "Library not loaded: @rpath/libextra.dylib\n"
            "  Referenced from: site-packages/tensorflow-plugins/libmetal_plugin.dylib\n"
            "  Reason: tried: 'site-packages/nowhere/libextra.dylib' (no such file), "
            "'site-packages/tensorflow/extra/libextra.dylib' (no such file)"
        ]
