"""The dyld model's search and re-export rules, on Mach-O files read by tfcompat's own reader.

The real wheels of today exercise neither rule in a way a test can isolate (no TensorFlow wheel
needs the caller's LC_RPATH, and the re-exports of TF 2.18+ sit in 600 MB libraries), so the
images here are minimal arm64 Mach-O dylibs built byte by byte from <mach-o/loader.h> (labelled:
made for the test, not taken from a wheel). LIEF, the reference parser, reads each one first,
so the bytes are known to say what the test means.
"""

from __future__ import annotations

from pathlib import Path

import lief
import pytest

from helpers.macho import reexport, regular, write_dylib
from tfcompat.abi import dyld, macho

LOADER = "__ZN3tsl8internal18LoadDynamicLibraryEPKcPPv"  # where TensorFlow calls dlopen for plugins


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
