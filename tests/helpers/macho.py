"""Mach-O images built byte by byte for the tests (labelled as such wherever they are used):
arm64 MH_DYLIBs with install names, dependencies, rpaths and an export trie, which LIEF and
tfcompat's reader both read."""

from __future__ import annotations

import struct
from pathlib import Path

_LC_LOAD_DYLIB, _LC_ID_DYLIB, _LC_RPATH, _LC_DYLD_EXPORTS_TRIE = 0xC, 0xD, 0x8000001C, 0x80000033
_LC_SEGMENT_64 = 0x19
_LC_DYLD_INFO_ONLY, _LC_BUILD_VERSION = 0x80000022, 0x32
_BIND_WEAK_IMPORT = 0x1
_EXPORT_REEXPORT = 0x08


def uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def padded(command: bytes, text: str) -> bytes:
    """A load command whose fixed part is ``command`` (cmdsize patched in), then ``text``, 8-aligned."""
    raw = command + text.encode() + b"\0"
    raw += b"\0" * (-len(raw) % 8)
    return raw[:4] + struct.pack("<I", len(raw)) + raw[8:]


def dylib_command(cmd: int, name: str) -> bytes:
    return padded(struct.pack("<IIIIII", cmd, 0, 24, 2, 0x10000, 0x10000), name)


def segment(name: str, *, vmaddr: int, fileoff: int, filesize: int, protection: int) -> bytes:
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


def export_trie(exports: list[tuple[str, bytes]]) -> bytes:
    """A trie whose root has one edge per name; each node holds that export's terminal info."""
    nodes = [uleb(len(info)) + info + b"\0" for _, info in exports]
    root_size = 2 + sum(len(name) + 1 + 1 for name, _ in exports)  # offsets stay one byte here
    offsets, at = [], root_size
    for node in nodes:
        offsets.append(at)
        at += len(node)
    assert at < 0x80
    root = b"\0" + bytes([len(exports)])
    root += b"".join(
        name.encode() + b"\0" + uleb(offset) for (name, _), offset in zip(exports, offsets, strict=True)
    )
    return root + b"".join(nodes)


def regular(address: int) -> bytes:
    return uleb(0) + uleb(address)


def reexport(ordinal: int, name_there: str) -> bytes:
    return uleb(_EXPORT_REEXPORT) + uleb(ordinal) + name_there.encode() + b"\0"


def write_dylib(
    path: Path,
    *,
    install_name: str,
    dylibs: tuple[str, ...] = (),
    rpaths: tuple[str, ...] = (),
    exports: list[tuple[str, bytes]] = (),
) -> Path:
    """An arm64 MH_DYLIB with LC_ID_DYLIB, LC_LOAD_DYLIB, LC_RPATH and LC_DYLD_EXPORTS_TRIE."""
    commands = [dylib_command(_LC_ID_DYLIB, install_name)]
    commands += [dylib_command(_LC_LOAD_DYLIB, name) for name in dylibs]
    commands += [padded(struct.pack("<III", _LC_RPATH, 0, 12), rpath) for rpath in rpaths]
    trie = export_trie(list(exports))
    size_of_commands = sum(map(len, commands)) + 2 * 72 + 16
    trie_at = 32 + size_of_commands
    # __TEXT maps the headers, __LINKEDIT the export trie: dyld (and LIEF) find the trie in it.
    commands.append(segment("__TEXT", vmaddr=0, fileoff=0, filesize=trie_at, protection=5))
    commands.append(segment("__LINKEDIT", vmaddr=0x4000, fileoff=trie_at, filesize=len(trie), protection=1))
    commands.append(struct.pack("<IIII", _LC_DYLD_EXPORTS_TRIE, 16, trie_at, len(trie)))
    header = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x0100000C, 0, 6, len(commands), size_of_commands, 0, 0)
    path.write_bytes(header + b"".join(commands) + trie)
    return path


def write_image(
    path: Path, *, install_name: str, dylibs: tuple[str, ...], binds: list[tuple[str, int, bool]], minos: str
) -> Path:
    """An arm64 MH_DYLIB whose LC_DYLD_INFO_ONLY bind opcodes bind ``(symbol, ordinal, weak)``
    into __DATA, with LC_BUILD_VERSION minos ``minos`` (made for the test)."""
    stream = b""
    for index, (symbol, ordinal, weak) in enumerate(binds):
        stream += bytes([0x10 | ordinal, 0x40 | (_BIND_WEAK_IMPORT if weak else 0)]) + symbol.encode() + b"\0"
        stream += bytes([0x51, 0x71]) + bytes([index * 8]) + b"\x90"  # pointer, __DATA + offset, bind
    stream += b"\0"
    stream += b"\0" * (-len(stream) % 8)
    trie = export_trie([("_plugin_marker", regular(0))])
    major, minor = (int(part) for part in minos.split("."))
    commands = [dylib_command(_LC_ID_DYLIB, install_name)]
    commands += [dylib_command(_LC_LOAD_DYLIB, name) for name in dylibs]
    commands.append(struct.pack("<IIIIII", _LC_BUILD_VERSION, 24, 1, major << 16 | minor << 8, 14 << 16, 0))
    size = sum(map(len, commands)) + 3 * 72 + 48
    data_at = 0x4000  # __DATA: one page of pointers the binds write
    linkedit_at = 0x8000
    commands.append(segment("__TEXT", vmaddr=0, fileoff=0, filesize=0x4000, protection=5))
    commands.append(segment("__DATA", vmaddr=0x4000, fileoff=data_at, filesize=0x4000, protection=3))
    linkedit = stream + trie
    commands.append(
        segment("__LINKEDIT", vmaddr=0x8000, fileoff=linkedit_at, filesize=len(linkedit), protection=1)
    )
    commands.append(
        struct.pack(
            "<12I",
            _LC_DYLD_INFO_ONLY,
            48,
            0,
            0,
            linkedit_at,
            len(stream),
            0,
            0,
            0,
            0,
            linkedit_at + len(stream),
            len(trie),
        )
    )
    header = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x0100000C, 0, 6, len(commands), size, 0, 0)
    body = (header + b"".join(commands)).ljust(linkedit_at, b"\0")
    path.write_bytes(body + linkedit)
    return path
