"""C++ names as a reader knows them: ``__ZN3tsl8internal10LogMessageC1EPKcii`` is
``tsl::internal::LogMessage::LogMessage(char const*, int, int)``.

The demangler is the C++ runtime's own ``__cxa_demangle`` (libc++abi on macOS, libstdc++ on
Linux), called through ctypes: it is the one the toolchains maintain, it needs no extra
dependency or subprocess, and it is what ``c++filt`` itself calls. Where no C++ runtime can be
loaded the names stay mangled; nothing else changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re

#: Itanium-mangled names: ``_Z...`` (ELF) or ``__Z...`` (Mach-O adds one leading underscore).
MANGLED = re.compile(r"(?<![A-Za-z0-9_$.])_{1,2}Z[A-Za-z0-9_$.]+")
#: How many names one text explains at most: a list of unresolved symbols can be long.
MOST_NAMES = 12

_RUNTIMES = ("libc++abi.dylib", "/usr/lib/libc++abi.dylib", "libstdc++.so.6", "libc++abi.so.1")


@functools.cache
def _runtime():
    """``(__cxa_demangle, free)`` from the first C++ runtime that loads, or None."""
    names = [*_RUNTIMES, ctypes.util.find_library("stdc++"), ctypes.util.find_library("c++abi")]
    for name in filter(None, names):
        try:
            library = ctypes.CDLL(name)
            demangle = library.__cxa_demangle
        except (OSError, AttributeError):
            continue
        demangle.restype = ctypes.c_void_p
        demangle.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        free = ctypes.CDLL(None).free
        free.argtypes = [ctypes.c_void_p]
        return demangle, free
    return None


@functools.lru_cache(maxsize=4096)
def demangle(name: str) -> str | None:
    """The C++ name ``name`` stands for, or None when it is not a mangled C++ name.

    A Mach-O name (``__Z...``) is tried without its extra underscore first.
    """
    runtime = _runtime()
    if runtime is None:
        return None
    cxa_demangle, free = runtime
    for candidate in [name[1:], name] if name.startswith("__Z") else [name]:
        status = ctypes.c_int(-1)
        pointer = cxa_demangle(candidate.encode("ascii", "replace"), None, None, ctypes.byref(status))
        if pointer:
            try:
                if status.value == 0:
                    return ctypes.string_at(pointer).decode("utf-8", "replace")
            finally:
                free(pointer)
    return None


def names_in(text: str) -> list[tuple[str, str]]:
    """(mangled, demangled) for each distinct C++ name in ``text``, in order of appearance."""
    found: dict[str, str] = {}
    for match in MANGLED.finditer(text):
        name = match.group().rstrip(".")
        if name in found:
            continue
        readable = demangle(name)
        if readable and readable != name:
            found[name] = readable
            if len(found) == MOST_NAMES:
                break
    return list(found.items())
