"""The dyld loading model: given the images of a site-packages, decide what a dlopen resolves.

It follows the dyld of macOS 12 and later as far as a static check can:
``import tensorflow`` loads the top-level library ``_pywrap_tensorflow_internal.so`` (hidden
from flat lookups when TensorFlow's ``pywrap_tensorflow.py`` loads it RTLD_LOCAL) and its
dependencies; then the plugin is dlopened RTLD_NOW | RTLD_LOCAL, so every non-weak import is
bound at load. A dependency matches an already-loaded image by install name before LC_RPATH
is tried; a two-level import must be exported by its library (or by one that library
re-exports); a flat import searches the plugin itself and every visible loaded image. What
lives in the operating system (absolute /usr/lib and /System paths, Apple runtime symbols) is
taken as present here; which macOS has it is the load floor's question (``floors``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tfcompat.abi import macho

#: The library that ``tensorflow/python/pywrap_tensorflow.py`` imports first.
TOP_LEVEL = "tensorflow/python/_pywrap_tensorflow_internal.so"
PYWRAP = "tensorflow/python/pywrap_tensorflow.py"
GLOBAL_FLAGS = "tensorflow/python/pywrap_dlopen_global_flags.py"
SITE = "site-packages"
#: What the model takes as present without looking; every result lists it.
NOT_CHECKED = (
    "system libraries and frameworks (/usr/lib, /System): checked only as floors, for the macOS "
    "they give (the non-weak symbols the loaded images bind to them, dated from Apple's SDK "
    "stubs: floors.load, with what cannot be dated in floors.unknown); their presence is not",
    "Objective-C methods: selectors reached through objc_msgSend are not symbols, so a method "
    "missing on an older macOS is not seen at load (it fails when called)",
    "flat-namespace lookups of Apple runtime symbols (Objective-C, dispatch, CoreFoundation, "
    "Foundation, Metal, MPS, libc++ ABI)",
    "the minimum macOS of the images (floors.built_for): dyld does not enforce it",
    "weak imports and weak-definition coalescing",
    "anything after the plugin has loaded: its version checks, C++ struct layouts, kernels",
)
_SYSTEM_DIRS = ("/usr/lib/", "/System/")
#: Apple runtime symbols a plugin may look up flat; only system images export them.
_SYSTEM_SYMBOL = re.compile(
    r"_(_?objc_|OBJC_|_?dispatch_|_?CF|kCF|_?NS|_?MTL|_?MPS|_Block_|_?os_|_?xpc_"
    r"|_cxa_|_gxx_|Unwind_|_ZNSt3__1|_ZTVN10__cxxabiv)"
)
#: tsl::internal::LoadDynamicLibrary (tensorflow::internal:: up to TF 2.10): where TensorFlow calls
#: dlopen; the only two spellings in the 26 releases with macOS arm64 wheels.
_LOADER_SYMBOLS = frozenset(
    f"__ZN{namespace}8internal18LoadDynamicLibraryEPKcPPv" for namespace in ("3tsl", "10tensorflow")
)
_SETS_LOCAL = re.compile(r"setdlopenflags\([^)]*RTLD_LOCAL")
_MAX_DEPTH = 8  # a re-export chain longer than this is a loop


@dataclass(eq=False)
class Library:
    """One image on disk, at ``path`` relative to site-packages; ``exports`` loads lazily."""

    path: str
    install_name: str | None
    dylibs: list[macho.Dylib]
    rpaths: list[str]
    reexports: dict[str, tuple[int, str]]
    exports: Callable[[], frozenset[str]]
    hidden: bool = False  # hidden from flat lookups (a top-level image opened RTLD_LOCAL)
    min_macos: str | None = None  # LC_BUILD_VERSION's minos: the oldest macOS that loads it


@dataclass(frozen=True)
class Failure:
    """One thing that does not resolve, in dyld's wording: a short line, then details."""

    short: str
    details: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """The whole message as dyld prints it, details indented on their own lines."""
        return "\n".join((self.short, *(f"  {line}" for line in self.details)))

    @property
    def line(self) -> str:
        """One line: the short form, with the library for a missing two-level symbol."""
        if self.short.startswith("Symbol not found"):
            return f"{self.short} (expected in {self.details[-1].split(': ', 1)[1]})"
        return self.short


_SYSTEM = object()  # what a dependency in the operating system resolves to


@dataclass
class Process:
    """The images of a Python process after ``import tensorflow``, in load order.

    ``substitutes`` maps a load-command path to the image it stands for, as a symlink or a
    DYLD_LIBRARY_PATH entry would make it: the second layer of a library that is not found."""

    site: dict[str, Library]
    loaded: list[Library] = field(default_factory=list)
    caller: Library | None = None  # the image that calls dlopen for plugins
    substitutes: dict[str, Library] = field(default_factory=dict)

    def fork(self, site: dict[str, Library], substitutes: dict[str, Library] | None = None) -> Process:
        """This process with the images of ``site`` added (a plugin's wheel), ready for one dlopen.

        TensorFlow's images are read and loaded once per release; each plugin is dlopened in a
        fork of that process, so no plugin sees another's images."""
        return Process({**self.site, **site}, list(self.loaded), self.caller, dict(substitutes or {}))

    def dlopen(self, plugin: Library, imports: list[macho.Import]) -> list[Failure]:
        """Load ``plugin`` RTLD_NOW | RTLD_LOCAL; return its failures, dyld's first one first.

        dyld stops at the first; the rest say how much else is broken. Libraries come first
        because dyld loads every dependency before it binds any symbol."""
        plugin.hidden = True
        chain = [plugin] + ([self.caller] if self.caller else [])
        failures: list[Failure] = []
        targets = []
        for dylib in plugin.dylibs:
            target, tried = self._locate(dylib.path, chain)
            if target is None and dylib.kind != "weak":
                reason = ", ".join(f"'{path}' (no such file)" for path in tried) or "no path"
                where = f"Referenced from: {SITE}/{plugin.path}"
                failures.append(
                    Failure(f"Library not loaded: {dylib.path}", (where, f"Reason: tried: {reason}"))
                )
            elif isinstance(target, Library) and target not in self.loaded:
                self._load(target, [target, *chain])
            targets.append(target)
        self.loaded.append(plugin)
        for item in imports:
            if item.weak:
                continue
            if item.ordinal == macho.FLAT_LOOKUP:
                if not self._flat(item.name, plugin) and not _SYSTEM_SYMBOL.match(item.name):
                    failures.append(Failure(f"symbol not found in flat namespace '{item.name}'"))
            elif 0 < item.ordinal <= len(targets):
                target = targets[item.ordinal - 1]
                if isinstance(target, Library) and not self._exports(target, item.name, 0):
                    details = (
                        f"Referenced from: {SITE}/{plugin.path}",
                        f"Expected in: {SITE}/{target.path}",
                    )
                    failures.append(Failure(f"Symbol not found: {item.name}", details))
        return failures

    def _load(self, library: Library, chain: list[Library]) -> None:
        """Load ``library`` and, depth first, those of its dependencies not loaded yet."""
        self.loaded.append(library)
        for dylib in library.dylibs:
            target, _ = self._locate(dylib.path, chain)
            if isinstance(target, Library) and target not in self.loaded:
                self._load(target, [target, *chain])

    def _locate(self, path: str, chain: list[Library]) -> tuple[object, list[str]]:
        """The image a load command names: a Library, _SYSTEM or None, and the paths tried.

        ``chain[0]`` holds the load command; @rpath tries the LC_RPATH of each image of
        ``chain`` in turn, after the install names of the loaded images."""
        if path.startswith(_SYSTEM_DIRS):
            return _SYSTEM, []
        if path in self.substitutes:
            return self.substitutes[path], []
        for library in self.loaded:
            if library.install_name == path:
                return library, []
        if path.startswith("@rpath/"):
            rest = path.removeprefix("@rpath/")
            candidates = [_expand(rpath, owner) + "/" + rest for owner in chain for rpath in owner.rpaths]
        else:
            candidates = [_expand(path, chain[0])]
        tried = []
        for candidate in map(posixpath.normpath, candidates):
            if candidate.startswith(_SYSTEM_DIRS):
                return _SYSTEM, []
            if candidate in self.site:
                return self.site[candidate], []
            tried.append(candidate if candidate.startswith(("/", "@")) else f"{SITE}/{candidate}")
        return None, tried

    def _exports(self, library: Library, name: str, depth: int) -> bool:
        """Whether ``library`` exports ``name`` itself or through a library it re-exports."""
        if depth > _MAX_DEPTH:
            return False
        if name in library.exports():
            if name not in library.reexports:
                return True
            ordinal, other = library.reexports[name]
            if not 0 < ordinal <= len(library.dylibs):
                return False
            target, _ = self._locate(library.dylibs[ordinal - 1].path, [library])
            if isinstance(target, Library):
                return self._exports(target, other, depth + 1)
            return target is _SYSTEM
        for dylib in library.dylibs:
            if dylib.kind == "reexport":
                target, _ = self._locate(dylib.path, [library])
                if target is _SYSTEM:
                    return True  # cannot be checked without macOS: taken as present
                if isinstance(target, Library) and self._exports(target, name, depth + 1):
                    return True
        return False

    def _flat(self, name: str, plugin: Library) -> bool:
        """A flat lookup: the plugin itself (hidden or not), then every visible image."""
        return any(
            self._exports(library, name, 0)
            for library in self.loaded
            if library is plugin or not library.hidden
        )


def import_tensorflow(site: dict[str, Library], texts: dict[str, str]) -> Process:
    """The process after ``import tensorflow``: TOP_LEVEL and its dependencies loaded.

    ``texts`` maps PYWRAP, and GLOBAL_FLAGS when the wheel ships it, to their source.
    Raise KeyError if ``site`` has no TOP_LEVEL."""
    process = Process(site)
    top = site[TOP_LEVEL]
    top.hidden = loads_top_level_local(texts)
    process._load(top, [top])
    process.caller = next(
        (lib for lib in process.loaded if not _LOADER_SYMBOLS.isdisjoint(lib.exports())),
        None,
    )
    return process


def loads_top_level_local(texts: dict[str, str]) -> bool:
    """Whether pywrap_tensorflow.py dlopens TOP_LEVEL with RTLD_LOCAL on macOS.

    It does when its code calls setdlopenflags with RTLD_LOCAL and the wheel does not ship
    GLOBAL_FLAGS (whose presence switches it to RTLD_GLOBAL). Otherwise Python's default
    flags apply, and on macOS a dlopen without RTLD_LOCAL is global."""
    code = "\n".join(line.split("#", 1)[0] for line in texts.get(PYWRAP, "").splitlines())
    return bool(_SETS_LOCAL.search(code)) and GLOBAL_FLAGS not in texts


def in_system(path: str) -> bool:
    """Whether a load command's ``path`` names a library of the operating system."""
    return path.startswith(_SYSTEM_DIRS)


def _expand(path: str, owner: Library) -> str:
    """Replace @loader_path (the folder of the image that holds ``path``)."""
    return path.replace("@loader_path", posixpath.dirname(owner.path))
