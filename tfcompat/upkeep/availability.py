"""Make the availability table: when each system symbol the wheels import first appeared in macOS.

``python -m tfcompat.upkeep.availability [--wanted FILE] SDK ...`` reads Apple's public SDK
material and writes ``tfcompat/abi/data/availability.json`` (``abi.frameworks`` reads it). An
SDK is a folder laid out as the SDK (``usr/lib/libSystem.B.tbd``,
``System/Library/Frameworks/…``), given as ``VERSION=DIR`` or as a DIR whose
``SDKSettings.json`` names its version; a folder may hold only some of the stubs (a stub that
is not there says nothing about its library in that SDK).

For each (library, symbol) wanted, from two kinds of evidence:

- the stubs (``tbd``): the oldest SDK whose stub of the library exports the symbol for arm64 macOS
  (re-exported libraries included), and the newest older SDK whose stub does not;
- the headers: the class's availability annotation (``MPS_CLASS_AVAILABLE_STARTING(macos(12.0),
  …)``, ``API_AVAILABLE(macos(…))`` before ``@interface``), Apple's word for the first macOS, used
  only where the stubs agree with it (the 12.0 headers date classes that the 11.0 stubs already
  export: for dyld the export is what counts).

A symbol no stub exports is left out (the suite reports it as unknown). The table records, per
fact, the file it came from; it holds no SDK text. ``--wanted`` is a JSON list of
``[library, symbol]``; without it, the system imports of every tensorflow-metal and TensorFlow
release the map reads (its cache, or the index).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from tfcompat.abi import frameworks, macwheels
from tfcompat.core import macos
from tfcompat.index import pypi
from tfcompat.index.wheels import WheelRef
from tfcompat.upkeep import tbd

#: Apple silicon Macs start at macOS 11.0: an older "introduced" is 11.0 for them.
FIRST_ARM64 = "11.0"
#: Frameworks whose headers are read for class annotations (the plugin's Objective-C classes).
_ANNOTATED = (
    "Metal",
    "MetalPerformanceShaders",
    "MetalPerformanceShadersGraph",
    "Foundation",
    "CoreFoundation",
)
_INTERFACE = re.compile(r"@interface\s+(\w+)\s*:")  # a class declaration (a category has no ':')
#: The annotation in the declaration's preamble: what follows the previous ';', '}' or '@end'.
_ANNOTATION = re.compile(
    r"(?:MPS_CLASS_AVAILABLE_STARTING|API_AVAILABLE)\s*\([^;{}]*?\bmacos(?:x)?\s*\(\s*(\d+(?:\.\d+)*)\s*\)"
)
_PREAMBLE = 600  # characters looked back from '@interface'
_PREVIOUS = re.compile(r"[;}]|@end")


@dataclass
class Sdk:
    """One SDK folder: its version, what it is called in the table, and its stubs as read."""

    version: str
    root: Path
    name: str
    _stubs: dict[str, list[tbd.Stub] | None] = field(default_factory=dict)

    def stub_file(self, library: str) -> Path | None:
        """Where this SDK keeps the stub of the library installed as ``library``, if it does."""
        base = library.lstrip("/")
        candidates = [base.removesuffix(".dylib") + ".tbd"]
        if ".framework/Versions/" in base:  # a framework's top-level stub, where Versions/ is absent
            framework, _, rest = base.partition("/Versions/")
            candidates.append(f"{framework}/{rest.split('/', 1)[1]}.tbd")
        return next((self.root / c for c in candidates if (self.root / c).is_file()), None)

    def exports(self, library: str, depth: int = 0) -> tuple[frozenset[str], Path] | None:
        """What ``library`` exports in this SDK (its re-exports included), and its stub file;
        None when the SDK folder has no stub of it."""
        path = self.stub_file(library)
        if path is None or depth > 4:
            return None
        if library not in self._stubs:
            self._stubs[library] = tbd.read(path.read_text(encoding="utf-8", errors="replace"))
        stubs = {stub.install_name: stub for stub in self._stubs[library]}
        main = stubs.get(library) or (self._stubs[library][0] if self._stubs[library] else None)
        if main is None:
            return frozenset(), path
        names = set(main.exports)
        for other in main.reexports:
            if other in stubs:
                names |= stubs[other].exports
            else:
                found = self.exports(other, depth + 1)
                names |= found[0] if found else set()
        return frozenset(names), path

    def annotations(self) -> dict[str, tuple[str, str]]:
        """Class name -> (the first macOS its header annotation names, the header)."""
        found: dict[str, tuple[str, str]] = {}
        frameworks_dir = self.root / "System/Library/Frameworks"
        for name in _ANNOTATED:
            for header in sorted((frameworks_dir / f"{name}.framework").rglob("*.h")):
                text = header.read_text(encoding="utf-8", errors="replace")
                for match in _INTERFACE.finditer(text):
                    preamble = text[max(0, match.start() - _PREAMBLE) : match.start()]
                    ends = list(_PREVIOUS.finditer(preamble))
                    annotation = _ANNOTATION.search(preamble[ends[-1].end() if ends else 0 :])
                    if annotation:
                        found.setdefault(match.group(1), (annotation.group(1), self.relative(header)))
        return found

    def relative(self, path: Path) -> str:
        return f"{self.name}/{path.relative_to(self.root).as_posix()}"


def load_sdk(spec: str) -> Sdk:
    """An SDK from ``VERSION=DIR`` or a DIR with SDKSettings.json."""
    version, _, folder = spec.rpartition("=")
    root = Path(folder)
    if not version:
        settings = json.loads((root / "SDKSettings.json").read_text())
        version = settings["Version"]
    Version(version)  # refuse what is not a version
    return Sdk(version, root, f"MacOSX{version}.sdk")


def build(sdks: list[Sdk], wanted: Iterable[tuple[str, str]], sources: list[str] = ()) -> dict:
    """The table: per library and symbol wanted, when it first appeared and from which file."""
    sdks = sorted(sdks, key=lambda sdk: Version(sdk.version))
    classes: dict[str, tuple[str, str]] = {}
    for sdk in reversed(sdks):  # the newest SDK's word first
        for name, annotation in sdk.annotations().items():
            classes.setdefault(name, annotation)
    libraries: dict[str, dict[str, dict]] = {}
    for library, symbol in sorted(set(wanted)):
        fact = _fact(sdks, library, symbol, classes)
        if fact is not None:
            libraries.setdefault(library, {})[symbol] = fact
    return {
        "about": "When each system symbol the wheels import first appeared in macOS (arm64); "
        "made by python -m tfcompat.upkeep.availability from the SDK material in 'sdks'.",
        "sdks": [{"version": sdk.version, "name": sdk.name} for sdk in sdks],
        "sources": list(sources),
        "libraries": libraries,
    }


def _fact(sdks: list[Sdk], library: str, symbol: str, classes: dict) -> dict | None:
    present = absent = None
    for sdk in sdks:
        found = sdk.exports(library)
        if found is None:
            continue
        names, path = found
        if symbol in names:
            present = (sdk, path)
            break
        absent = sdk
    if present is None:
        return None
    sdk, path = present
    fact = {
        "macos": max(sdk.version, FIRST_ARM64, key=Version),
        "absent": absent.version if absent else None,
        "stub": sdk.relative(path),
    }
    # Apple's annotation dates the class exactly, where the stubs do not contradict it.
    name = symbol.removeprefix("_OBJC_CLASS_$_").removeprefix("_OBJC_METACLASS_$_")
    if name != symbol and name in classes:
        macos, header = classes[name]
        macos = max(macos, FIRST_ARM64, key=Version)
        if Version(macos) <= Version(sdk.version) and (
            absent is None or Version(macos) > Version(absent.version)
        ):
            fact.update(macos=macos, header=header)
    fact["missing_below"] = "header" in fact or fact["macos"] == FIRST_ARM64
    return fact


def wanted_from_wheels() -> set[tuple[str, str]]:
    """The system imports of every tensorflow-metal release and every TensorFlow release with
    its binaries, read from one macOS arm64 wheel of each (the suite's cached facts, else the
    wheel on the index)."""
    root = macwheels.cache_root()
    wanted: set[tuple[str, str]] = set()
    for name in ("tensorflow-metal", "tensorflow-macos", "tensorflow"):
        for version, files in pypi.macos_wheels(name).items():
            if version.is_prerelease or (
                name != "tensorflow-metal" and macos.binary_name(str(version)) != name
            ):
                continue
            wheel = max(files, key=lambda file: file.filename)  # the newest Python's, as the map's fallback
            ref = WheelRef(name, str(version), wheel.filename, wheel.url, wheel.sha256, 0)
            facts = macwheels.facts(ref, root=root)
            try:
                for meta in facts.images.values():
                    wanted |= set(frameworks.system_imports_of(meta))
            finally:
                facts.close()
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tfcompat.upkeep.availability", description=__doc__.splitlines()[0]
    )
    parser.add_argument("sdks", nargs="+", metavar="SDK", help="VERSION=DIR, or a DIR with SDKSettings.json")
    parser.add_argument(
        "--wanted", type=Path, help="JSON list of [library, symbol] (default: from the wheels)"
    )
    parser.add_argument(
        "--source", action="append", default=[], help="where the SDK folders came from (recorded)"
    )
    parser.add_argument("--output", type=Path, default=frameworks.TABLE)
    args = parser.parse_args(argv)
    wanted = (
        {tuple(item) for item in json.loads(args.wanted.read_text())} if args.wanted else wanted_from_wheels()
    )
    table = build([load_sdk(spec) for spec in args.sdks], wanted, args.source)
    args.output.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    known = sum(map(len, table["libraries"].values()))
    print(
        f"{args.output}: {known} of {len(wanted)} symbols dated from {len(args.sdks)} SDKs", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
