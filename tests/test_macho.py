"""The Mach-O reader, held to LIEF on the real plugin libraries of tensorflow-metal releases.

The wheels come from PyPI (resolved through the suite's cache, downloaded to a temporary
folder); together they cover both fixup formats: bind opcodes and chained fixups.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import lief
import pytest

from tfcompat.abi import macho, macwheels
from tfcompat.index import wheels

#: Releases whose plugin library is read: 0.5.0 and 0.6.0 use chained fixups, later ones opcodes.
METAL = ("0.5.0", "0.6.0", "0.8.0", "1.1.0", "1.2.0")
PLUGIN = "tensorflow-plugins/libmetal_plugin.dylib"

pytestmark = [pytest.mark.network]


@pytest.fixture(scope="session")
def plugin_dylibs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real libmetal_plugin.dylib of each METAL release (Python 3.10 wheels)."""
    folder = tmp_path_factory.mktemp("plugins")
    refs = macwheels.resolve(
        [("tensorflow-metal", version) for version in METAL], python="3.10", root=macwheels.cache_root()
    )
    dylibs = {}
    for ref in refs:
        wheel = wheels.download(ref, folder)
        target = folder / f"libmetal_plugin-{ref.version}.dylib"
        with zipfile.ZipFile(wheel) as archive:
            target.write_bytes(archive.read(PLUGIN))
        wheel.unlink()
        dylibs[ref.version] = target
    return dylibs


_KINDS = {"LOAD_DYLIB": "load", "LOAD_WEAK_DYLIB": "weak", "REEXPORT_DYLIB": "reexport"}


def _lief(path: Path) -> lief.MachO.Binary:
    fat = lief.MachO.parse(str(path))
    assert fat is not None, f"LIEF cannot parse {path}"
    return fat.take(lief.MachO.Header.CPU_TYPE.ARM64)


@pytest.mark.parametrize("version", METAL)
def test_reader_matches_lief(plugin_dylibs: dict[str, Path], version: str) -> None:
    path = plugin_dylibs[version]
    ours = macho.read(path)
    ref = _lief(path)
    commands = {c.command.name: c for c in ref.commands}
    assert ours.install_name == commands["ID_DYLIB"].name
    dependencies = [lib for lib in ref.libraries if lib.command.name != "ID_DYLIB"]
    assert [(d.path, d.kind) for d in ours.dylibs] == [
        (lib.name, _KINDS[lib.command.name]) for lib in dependencies
    ]
    assert ours.rpaths == [c.path for c in ref.commands if c.command.name == "RPATH"]
    minos = ref.build_version.minos
    assert ours.min_macos in (f"{minos[0]}.{minos[1]}", f"{minos[0]}.{minos[1]}.{minos[2]}")
    if ours.fixups == "chained":
        assert ref.has_dyld_chained_fixups
        trie = ref.dyld_exports_trie.exports
        bindings = list(ref.dyld_chained_fixups.bindings)
    else:
        assert ours.fixups == "opcodes" and ref.has_dyld_info
        trie = ref.dyld_info.exports
        # Weak-definition binds coalesce weak symbols: the reader leaves them out on purpose.
        weak_class = lief.MachO.DyldBindingInfo.CLASS.WEAK
        bindings = [b for b in ref.dyld_info.bindings if b.binding_class != weak_class]
    expected = {(b.symbol.name, b.library_ordinal, b.weak_import) for b in bindings}
    assert {(i.name, i.ordinal, i.weak) for i in ours.imports} == expected
    assert sorted(ours.exports) == sorted(e.symbol.name for e in trie)
    assert ours.reexports == {}  # the plugin re-exports nothing; TF 2.18+ libraries do (test_abi)


def test_both_fixup_formats_are_read(plugin_dylibs: dict[str, Path]) -> None:
    """Up to 0.6.0 the plugin uses chained fixups and reaches TensorFlow only through flat
    lookups; later ones use bind opcodes and also link @rpath/_pywrap_tensorflow_internal.so."""
    for version, path in plugin_dylibs.items():
        image = macho.read(path)
        linked = "@rpath/_pywrap_tensorflow_internal.so" in [d.path for d in image.dylibs]
        old = version in ("0.5.0", "0.6.0")
        assert (image.fixups, linked) == (("chained", False) if old else ("opcodes", True)), version
        assert any(i.ordinal == macho.FLAT_LOOKUP and i.name.startswith("_TF_") for i in image.imports)


def test_load_commands_alone(plugin_dylibs: dict[str, Path]) -> None:
    image = macho.read(plugin_dylibs["1.1.0"], imports=False, exports=False)
    assert image.imports == [] and image.exports == [] and image.dylibs


def test_fat_file_with_arm64_slice(plugin_dylibs: dict[str, Path], tmp_path: Path) -> None:
    thin = plugin_dylibs["1.1.0"].read_bytes()
    fat = tmp_path / "fat.dylib"
    offset = 1 << 14
    header = struct.pack(">II", 0xCAFEBABE, 2)
    header += struct.pack(">iiIII", 0x01000007, 3, offset, 64, 14)  # an x86_64 slice first
    header += struct.pack(">iiIII", 0x0100000C, 0, 2 * offset, len(thin), 14)
    fat.write_bytes(header.ljust(2 * offset, b"\0") + thin)
    assert macho.read(fat).exports == macho.read(plugin_dylibs["1.1.0"]).exports


def test_fat_file_without_arm64(tmp_path: Path) -> None:
    fat = tmp_path / "x86.dylib"
    header = struct.pack(">II", 0xCAFEBABE, 1) + struct.pack(">iiIII", 0x01000007, 3, 4096, 64, 12)
    fat.write_bytes(header.ljust(4096 + 64, b"\0"))
    with pytest.raises(macho.MachOError, match=r"^x86\.dylib: fat Mach-O without an arm64 slice$"):
        macho.read(fat)


def test_not_macho(tmp_path: Path) -> None:
    elf = tmp_path / "libelf.so"
    elf.write_bytes(b"\x7fELF" + bytes(60))
    with pytest.raises(
        macho.MachOError, match=r"^libelf\.so: not a 64-bit Mach-O file \(magic 0x7f454c46\)$"
    ):
        macho.read(elf)
    tiny = tmp_path / "tiny.dylib"
    tiny.write_bytes(b"hello")
    with pytest.raises(macho.MachOError, match=r"^tiny\.dylib: not a Mach-O file \(5 bytes\)$"):
        macho.read(tiny)


@pytest.mark.parametrize("keep", [0.5, 0.999, 200 / 5_105_480])
def test_truncated_copy(plugin_dylibs: dict[str, Path], tmp_path: Path, keep: float) -> None:
    """A real plugin cut short: in __LINKEDIT, at its very end, or inside the load commands."""
    data = plugin_dylibs["1.1.0"].read_bytes()
    cut = tmp_path / "cut.dylib"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(macho.MachOError, match=r"^cut\.dylib: truncated") as caught:
        macho.read(cut)
    assert "\n" not in str(caught.value)


def test_every_bind_opcode_that_binds_is_an_import() -> None:
    # SET_DYLIB_ORDINAL_IMM 1, SET_SYMBOL "_foo", SET_TYPE pointer, SET_SEGMENT_AND_OFFSET_ULEB 2 0,
    # then the bind opcode under test (with its operand where it has one), DONE.
    prefix = b"\x11\x40_foo\x00\x51\x72\x00"
    for opcode in (b"\x90", b"\xa0\x08", b"\xb1", b"\xc0\x02\x08"):
        imports = macho._bind_imports(prefix + opcode + b"\x00", lazy=False)
        assert [(i.name, i.ordinal) for i in imports] == [("_foo", 1)], opcode
