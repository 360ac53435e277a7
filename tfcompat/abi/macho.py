"""Mach-O reader: the load commands, bound imports and export trie of one arm64 image.

It reads only what dyld needs to decide whether an image loads: the install name, the
dependent libraries in ordinal order, the LC_RPATH entries, the minimum macOS, the imports
(from bind opcodes of LC_DYLD_INFO[_ONLY] or from LC_DYLD_CHAINED_FIXUPS) and the exports
(from the export trie of LC_DYLD_INFO[_ONLY] or LC_DYLD_EXPORTS_TRIE). It parses nothing else,
which is what makes it fast on 600 MB TensorFlow libraries (LIEF parses everything).
Field layouts follow Apple's <mach-o/loader.h>, <mach-o/fixup-chains.h> and <mach-o/fat.h>.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from tfcompat.core.errors import TfcompatError

_MH_MAGIC_64 = 0xFEEDFACF
_FAT_MAGIC = 0xCAFEBABE
_FAT_MAGIC_64 = 0xCAFEBABF
_CPU_TYPE_ARM64 = 0x0100000C

_LC_REQ_DYLD = 0x80000000
_LC_SEGMENT_64 = 0x19
_LC_LOAD_DYLIB = 0xC
_LC_ID_DYLIB = 0xD
_LC_LOAD_WEAK_DYLIB = 0x18 | _LC_REQ_DYLD
_LC_RPATH = 0x1C | _LC_REQ_DYLD
_LC_REEXPORT_DYLIB = 0x1F | _LC_REQ_DYLD
_LC_LAZY_LOAD_DYLIB = 0x20
_LC_LOAD_UPWARD_DYLIB = 0x23 | _LC_REQ_DYLD
_LC_DYLD_INFO = 0x22
_LC_DYLD_INFO_ONLY = 0x22 | _LC_REQ_DYLD
_LC_VERSION_MIN_MACOSX = 0x24
_LC_BUILD_VERSION = 0x32
_LC_DYLD_EXPORTS_TRIE = 0x33 | _LC_REQ_DYLD
_LC_DYLD_CHAINED_FIXUPS = 0x34 | _LC_REQ_DYLD

#: Dependent-library load commands, in the order that defines library ordinals.
_DYLIB_KINDS = {
    _LC_LOAD_DYLIB: "load",
    _LC_LOAD_WEAK_DYLIB: "weak",
    _LC_REEXPORT_DYLIB: "reexport",
    _LC_LAZY_LOAD_DYLIB: "lazy",
    _LC_LOAD_UPWARD_DYLIB: "upward",
}

#: Special library ordinals (<mach-o/loader.h> BIND_SPECIAL_DYLIB_*).
SELF = 0
MAIN_EXECUTABLE = -1
FLAT_LOOKUP = -2
WEAK_LOOKUP = -3

_EXPORT_REEXPORT = 0x08
_EXPORT_STUB_AND_RESOLVER = 0x10
_BIND_WEAK_IMPORT = 0x1


class MachOError(TfcompatError):
    """The file is not an arm64 Mach-O image, or is cut short; the message is one line."""

    no_verdict = True


@dataclass(frozen=True)
class Dylib:
    """A dependent library: the path as written in the load command and its kind."""

    path: str
    kind: str  # load | weak | reexport | lazy | upward


@dataclass(frozen=True)
class Import:
    """A symbol the image binds at load time.

    ``ordinal`` is 1-based into ``Image.dylibs`` or one of SELF, MAIN_EXECUTABLE, FLAT_LOOKUP,
    WEAK_LOOKUP; ``weak`` marks a weak import (missing is not an error).
    """

    name: str
    ordinal: int
    weak: bool


@dataclass
class Image:
    """What dyld reads from one image. ``exports`` holds every exported name; ``reexports``
    maps the names that the trie marks as re-exports to (library ordinal, name there)."""

    install_name: str | None
    dylibs: list[Dylib]
    rpaths: list[str]
    fixups: str  # "opcodes", "chained" or "none": where the imports came from
    min_macos: str | None
    imports: list[Import] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    reexports: dict[str, tuple[int, str]] = field(default_factory=dict)


def read(path: Path, *, name: str | None = None, imports: bool = True, exports: bool = True) -> Image:
    """Read the arm64 image in ``path`` (thin or fat). Raise MachOError if it is not one.

    ``name`` is what error messages call the file (default: the file name); ``imports`` and
    ``exports`` can be turned off to read the load commands alone.
    """
    name = name or path.name
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        if size < 32:
            raise MachOError(f"{name}: not a Mach-O file ({size} bytes)")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            try:
                start, end = _arm64_slice(data)
                return _read_image(data, start, end, imports=imports, exports=exports)
            except MachOError as exc:
                raise MachOError(f"{name}: {exc}") from None
            except (struct.error, IndexError, ValueError, zlib.error) as exc:
                raise MachOError(f"{name}: truncated or malformed Mach-O ({exc})") from None


def _arm64_slice(data: mmap.mmap) -> tuple[int, int]:
    """Return the byte range [start, end) of the arm64 image inside a thin or fat file."""
    (magic_be,) = struct.unpack_from(">I", data, 0)
    if magic_be in (_FAT_MAGIC, _FAT_MAGIC_64):
        (count,) = struct.unpack_from(">I", data, 4)
        wide = magic_be == _FAT_MAGIC_64
        entry = ">iiQQII" if wide else ">iiIII"
        step = struct.calcsize(entry)
        for index in range(count):
            cpu, _sub, offset, size, *_ = struct.unpack_from(entry, data, 8 + index * step)
            if cpu == _CPU_TYPE_ARM64:
                if offset + size > len(data):
                    raise MachOError("truncated fat file (arm64 slice past the end)")
                return offset, offset + size
        raise MachOError("fat Mach-O without an arm64 slice")
    (magic,) = struct.unpack_from("<I", data, 0)
    if magic != _MH_MAGIC_64:
        raise MachOError(f"not a 64-bit Mach-O file (magic 0x{magic_be:08x})")
    return 0, len(data)


def _read_image(data: mmap.mmap, start: int, end: int, *, imports: bool, exports: bool) -> Image:
    _magic, cpu, _sub, _filetype, ncmds, sizeofcmds, _flags, _res = struct.unpack_from(
        "<IiiIIIII", data, start
    )
    if cpu != _CPU_TYPE_ARM64:
        raise MachOError(f"not an arm64 image (cputype 0x{cpu:x})")
    if start + 32 + sizeofcmds > end:
        raise MachOError("truncated: load commands run past the end of the file")
    image = Image(install_name=None, dylibs=[], rpaths=[], fixups="none", min_macos=None)
    trie = bind = lazy = chained = None
    offset = start + 32
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<II", data, offset)
        if cmdsize < 8:
            raise MachOError(f"malformed load command 0x{cmd:x} (size {cmdsize})")
        if cmd == _LC_SEGMENT_64:
            # dyld maps every segment from the file: one that ends past the end is truncation.
            name = data[offset + 8 : offset + 24].rstrip(b"\0").decode("ascii", "replace")
            fileoff, filesize = struct.unpack_from("<QQ", data, offset + 40)
            if start + fileoff + filesize > end:
                size = end - start
                raise MachOError(f"truncated: segment {name} ends at {fileoff + filesize}, file is {size}")
        elif cmd in _DYLIB_KINDS:
            image.dylibs.append(Dylib(_lc_str(data, offset, cmdsize), _DYLIB_KINDS[cmd]))
        elif cmd == _LC_ID_DYLIB:
            image.install_name = _lc_str(data, offset, cmdsize)
        elif cmd == _LC_RPATH:
            image.rpaths.append(_lc_str(data, offset, cmdsize))
        elif cmd in (_LC_DYLD_INFO, _LC_DYLD_INFO_ONLY):
            fields = struct.unpack_from("<10I", data, offset + 8)
            bind, lazy, trie = fields[2:4], fields[6:8], fields[8:10]
        elif cmd == _LC_DYLD_EXPORTS_TRIE:
            trie = struct.unpack_from("<II", data, offset + 8)
        elif cmd == _LC_DYLD_CHAINED_FIXUPS:
            chained = struct.unpack_from("<II", data, offset + 8)
        elif cmd == _LC_BUILD_VERSION:
            image.min_macos = _version(struct.unpack_from("<I", data, offset + 12)[0])
        elif cmd == _LC_VERSION_MIN_MACOSX:
            image.min_macos = _version(struct.unpack_from("<I", data, offset + 8)[0])
        offset += cmdsize
    if imports:
        if chained is not None and chained[1]:
            image.fixups = "chained"
            image.imports = _chained_imports(_blob(data, start, end, chained))
        elif bind is not None:
            image.fixups = "opcodes"
            image.imports = _bind_imports(_blob(data, start, end, bind), lazy=False)
            image.imports += _bind_imports(_blob(data, start, end, lazy), lazy=True)
    if exports and trie is not None and trie[1]:
        image.exports, image.reexports = _export_trie(_blob(data, start, end, trie))
    return image


def _blob(data: mmap.mmap, start: int, end: int, where: tuple[int, int]) -> bytes:
    """Copy ``(offset, size)`` of the image's __LINKEDIT; refuse a range past the end."""
    offset, size = where
    if start + offset + size > end:
        raise MachOError(f"truncated: linkedit data at {offset}+{size} past the end")
    return data[start + offset : start + offset + size]


def _lc_str(data: mmap.mmap, offset: int, cmdsize: int) -> str:
    (name_offset,) = struct.unpack_from("<I", data, offset + 8)
    raw = data[offset + name_offset : offset + cmdsize]
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _version(packed: int) -> str:
    """Decode xxxx.yy.zz nibbles to 'X.Y' or 'X.Y.Z'."""
    major, minor, patch = packed >> 16, (packed >> 8) & 0xFF, packed & 0xFF
    return f"{major}.{minor}.{patch}" if patch else f"{major}.{minor}"


def _uleb(buf: bytes, pos: int) -> tuple[int, int]:
    byte = buf[pos]
    if byte < 0x80:
        return byte, pos + 1
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _cstring(buf: bytes, pos: int) -> tuple[str, int]:
    stop = buf.index(b"\0", pos)
    return buf[pos:stop].decode("utf-8", "replace"), stop + 1


def _bind_imports(buf: bytes, *, lazy: bool) -> list[Import]:
    """Imports named by bind opcodes, in bind order, each (name, ordinal) once.

    Weak-definition binds live in a separate stream that is not read here: they coalesce
    weak symbols and never make a load fail."""
    found: dict[tuple[str, int], Import] = {}
    pos, ordinal, name, weak = 0, 0, "", False
    while pos < len(buf):
        byte = buf[pos]
        pos += 1
        opcode, imm = byte & 0xF0, byte & 0x0F
        if opcode == 0x00:  # DONE: ends the stream, but only one entry of the lazy stream
            if not lazy:
                break
        elif opcode == 0x10:  # SET_DYLIB_ORDINAL_IMM
            ordinal = imm
        elif opcode == 0x20:  # SET_DYLIB_ORDINAL_ULEB
            ordinal, pos = _uleb(buf, pos)
        elif opcode == 0x30:  # SET_DYLIB_SPECIAL_IMM: 0, -1, -2, -3 sign-extended from 4 bits
            ordinal = imm - 16 if imm else 0
        elif opcode == 0x40:  # SET_SYMBOL_TRAILING_FLAGS_IMM
            weak = bool(imm & _BIND_WEAK_IMPORT)
            name, pos = _cstring(buf, pos)
        elif opcode == 0x50:  # SET_TYPE_IMM
            pass
        elif opcode in (0x60, 0x70, 0x80):  # one LEB operand (SLEB skips the same way)
            _, pos = _uleb(buf, pos)
        elif opcode in (0x90, 0xB0):  # DO_BIND, DO_BIND_ADD_ADDR_IMM_SCALED
            found.setdefault((name, ordinal), Import(name, ordinal, weak))
        elif opcode == 0xA0:  # DO_BIND_ADD_ADDR_ULEB: binds, then moves on by its operand
            _, pos = _uleb(buf, pos)
            found.setdefault((name, ordinal), Import(name, ordinal, weak))
        elif opcode == 0xC0:  # DO_BIND_ULEB_TIMES_SKIPPING_ULEB
            _, pos = _uleb(buf, pos)
            _, pos = _uleb(buf, pos)
            found.setdefault((name, ordinal), Import(name, ordinal, weak))
        elif opcode == 0xD0:  # THREADED: SET_BIND_ORDINAL_TABLE_SIZE_ULEB takes one operand
            if imm == 0x00:
                _, pos = _uleb(buf, pos)
        else:
            raise MachOError(f"unknown bind opcode 0x{byte:02x}")
    return list(found.values())


def _chained_imports(buf: bytes) -> list[Import]:
    """The imports table of LC_DYLD_CHAINED_FIXUPS (dyld_chained_fixups_header)."""
    _version_, _starts, imports_off, symbols_off, count, fmt, symbols_fmt = struct.unpack_from("<7I", buf, 0)
    symbols = buf[symbols_off:]
    if symbols_fmt == 1:  # zlib-compressed symbol strings
        symbols = zlib.decompress(symbols)
    result = []
    for index in range(count):
        if fmt == 1 or fmt == 2:  # DYLD_CHAINED_IMPORT(_ADDEND): 8-bit ordinal
            (raw,) = struct.unpack_from("<I", buf, imports_off + index * (4 if fmt == 1 else 8))
            lib, weak, name_off = raw & 0xFF, (raw >> 8) & 1, raw >> 9
            ordinal = lib - 256 if lib >= 0xF0 else lib
        elif fmt == 3:  # DYLD_CHAINED_IMPORT_ADDEND64: 16-bit ordinal
            (raw,) = struct.unpack_from("<Q", buf, imports_off + index * 16)
            lib, weak, name_off = raw & 0xFFFF, (raw >> 16) & 1, raw >> 32
            ordinal = lib - 65536 if lib >= 0xFFF0 else lib
        else:
            raise MachOError(f"unknown chained imports format {fmt}")
        name, _ = _cstring(symbols, name_off)
        result.append(Import(name, ordinal, bool(weak)))
    return result


def _export_trie(buf: bytes) -> tuple[list[str], dict[str, tuple[int, str]]]:
    """Walk the export trie depth-first; return all names and the re-exported ones."""
    names: list[str] = []
    reexports: dict[str, tuple[int, str]] = {}
    stack = [(0, b"")]
    seen = set()
    index = buf.index
    while stack:
        node, prefix = stack.pop()
        if node in seen:  # a cycle would be malformed; never loop on it
            raise MachOError(f"export trie loops at node {node}")
        seen.add(node)
        size = buf[node]
        pos = node + 1
        if size >= 0x80:
            size, pos = _uleb(buf, node)
        children_at = pos + size
        if size:
            names.append(prefix.decode("utf-8", "replace"))
            flags = buf[pos]
            if flags >= 0x80:
                flags, _ = _uleb(buf, pos)
            if flags & _EXPORT_REEXPORT:
                _, at = _uleb(buf, pos)
                ordinal, at = _uleb(buf, at)
                other, _ = _cstring(buf, at)
                reexports[names[-1]] = (ordinal, other or names[-1])
        count = buf[children_at]
        pos = children_at + 1
        for _ in range(count):
            stop = index(b"\0", pos)
            edge = buf[pos:stop]
            pos = stop + 1
            child = buf[pos]
            if child < 0x80:
                pos += 1
            else:
                child, pos = _uleb(buf, pos)
            stack.append((child, prefix + edge))
    return names, reexports
