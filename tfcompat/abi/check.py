"""The load prediction: on any OS, whether tensorflow-metal loads next to a TensorFlow.

TensorFlow's side (its images, and the process they make after ``import tensorflow``) is read
once per release from its wheel's facts (``macwheels``) and shared by every plugin predicted
against it (``tensorflow_side``); each plugin's side (``plugin_side``) is dlopened in a fork of
that process (``predict``). Where the first failure is a library that is not found, the
prediction has a second layer: the same plugin against that library as the wheel ships it
today, under its current name, i.e. what a symlink or a DYLD path fix would meet next. The
prediction carries the pair's minimum macOS and its floors (``frameworks``). The one caller is
the engine, ``predict.pairmap``: an ``abi`` session and the map reach this code the same way.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from packaging.utils import parse_wheel_filename
from packaging.version import Version

from tfcompat.abi import dyld, frameworks, macho, macwheels
from tfcompat.core.errors import TfcompatError
from tfcompat.index.wheels import WheelRef

#: Entries kept in ``unresolved``; ``unresolved_count`` counts them all.
UNRESOLVED_CAP = 20
PLUGIN_DIR = "tensorflow-plugins/"
_NOT_LOADED = "Library not loaded: "


class AbiError(TfcompatError):
    """A wheel the prediction cannot use: a TensorFlow wheel without its binaries (a stub), a
    plugin wheel without a plugin library.

    The message is one line and names the wheel and the reason."""

    no_verdict = True


@dataclass
class TensorFlowSide:
    """TensorFlow's images in the process after ``import tensorflow``: one per release."""

    ref: WheelRef
    process: dyld.Process
    #: Image path -> its imports bound to system libraries (for the load floor).
    system_imports: dict[str, list[macho.Import]] = field(default_factory=dict)


@dataclass
class PluginSide:
    """A plugin wheel's images and the libraries TensorFlow will dlopen from it, in order."""

    ref: WheelRef
    site: dict[str, dyld.Library]
    plugins: list[str]
    imports: dict[str, list[macho.Import]]


@dataclass
class Prediction:
    """What dyld would do with one plugin: failures (dyld's first one first), the second layer
    (a dict of the record's ``second``, or None), the pair's minimum macOS and its floors (the
    record's ``floors``: install, load, built for)."""

    failures: list[dyld.Failure]
    second: dict | None
    min_macos: str | None
    floors: dict | None = None

    def section(self) -> dict:
        """The prediction's part of an 'abi' section or a map cell."""
        return {
            "verdict": "fail" if self.failures else "ok",
            "first": self.failures[0].message if self.failures else None,
            "unresolved_count": len(self.failures),
            "unresolved": [failure.line for failure in self.failures[:UNRESOLVED_CAP]],
            "second": self.second,
            "min_macos": self.min_macos,
            "floors": self.floors,
        }


def tensorflow_side(facts: macwheels.WheelFacts) -> TensorFlowSide:
    """Load TensorFlow's images from ``facts`` as ``import tensorflow`` does; AbiError for a stub."""
    if dyld.TOP_LEVEL not in facts.images:
        raise AbiError(f"{facts.ref.filename}: no {dyld.TOP_LEVEL}: not a TensorFlow binary wheel")
    process = dyld.import_tensorflow(libraries(facts), facts.texts)
    imports = {
        library.path: [macho.Import(*item) for item in facts.images[library.path]["imports"]]
        for library in process.loaded
    }
    return TensorFlowSide(facts.ref, process, imports)


def plugin_side(facts: macwheels.WheelFacts) -> PluginSide:
    """The plugin libraries of ``facts``; AbiError when the wheel has none."""
    plugins = sorted(path for path in facts.images if path.startswith(PLUGIN_DIR))
    if not plugins:
        raise AbiError(f"{facts.ref.filename}: no library under {PLUGIN_DIR}")
    imports = {path: [macho.Import(*item) for item in facts.images[path]["imports"]] for path in plugins}
    return PluginSide(facts.ref, libraries(facts), plugins, imports)


def predict(tf: TensorFlowSide, plugin: PluginSide) -> Prediction:
    """Dlopen ``plugin``'s libraries in a fork of ``tf``'s process; the second layer when the
    first failure is a library that is not found."""
    process = tf.process.fork(plugin.site)
    failures = _dlopen(process, plugin)
    second = _second_layer(tf, plugin, failures)
    return Prediction(failures, second, _min_macos(tf, plugin, process), _floors(tf, plugin, process))


def _dlopen(process: dyld.Process, plugin: PluginSide) -> list[dyld.Failure]:
    failures = []
    for path in plugin.plugins:
        failures += process.dlopen(process.site[path], plugin.imports[path])
    return failures


def _second_layer(tf: TensorFlowSide, plugin: PluginSide, failures: list[dyld.Failure]) -> dict | None:
    """The plugin against the missing library as TensorFlow's wheel ships it today: the file of
    the same name (a loaded one first), standing in for the path dyld looked for."""
    if not failures or not failures[0].short.startswith(_NOT_LOADED):
        return None
    wanted = failures[0].short.removeprefix(_NOT_LOADED)
    name = posixpath.basename(wanted)
    same = [lib for lib in tf.process.site.values() if posixpath.basename(lib.path) == name]
    same.sort(key=lambda lib: (lib not in tf.process.loaded, lib.path))
    if not same:
        return {"library": wanted, "found_as": None, "verdict": None}
    again = _dlopen(tf.process.fork(plugin.site, {wanted: same[0]}), plugin)
    return {
        "library": wanted,
        "found_as": same[0].path,
        "verdict": "fail" if again else "ok",
        "first": again[0].message if again else None,
        "unresolved_count": len(again),
    }


def _min_macos(tf: TensorFlowSide, plugin: PluginSide, process: dyld.Process) -> str | None:
    """The newest of the wheels' macOS platform tags and the loaded images' LC_BUILD_VERSION."""
    found = [wheel_macos(ref.filename) for ref in (tf.ref, plugin.ref)]
    found += [library.min_macos for library in process.loaded]
    return max((v for v in found if v), key=Version, default=None)


def _floors(tf: TensorFlowSide, plugin: PluginSide, process: dyld.Process) -> dict:
    """The pair's three floors: the wheels' tags, the system symbols every loaded image needs
    (TensorFlow's and the plugin's), the images' minos."""
    needed = []
    for library in process.loaded:
        imports = plugin.imports.get(library.path) or tf.system_imports.get(library.path, [])
        needed += frameworks.needs(library, imports)
    wheels = [wheel_macos(ref.filename) for ref in (tf.ref, plugin.ref)]
    return frameworks.floors(wheels=wheels, images=process.loaded, needed=needed)


def wheel_macos(filename: str) -> str | None:
    """The oldest macOS a wheel's platform tags accept ("12.0" for macosx_12_0_arm64), or None."""
    versions = [
        ".".join(tag.platform.split("_")[1:3])
        for tag in parse_wheel_filename(filename)[3]
        if tag.platform.startswith("macosx_")
    ]
    return min(versions, key=Version, default=None)


def libraries(facts: macwheels.WheelFacts) -> dict[str, dyld.Library]:
    """The images of a wheel as the dyld model sees them; exports load on first use."""
    return {
        path: dyld.Library(
            path=path,
            install_name=meta["install_name"],
            dylibs=[macho.Dylib(*dylib) for dylib in meta["dylibs"]],
            rpaths=meta["rpaths"],
            reexports={name: tuple(target) for name, target in meta["reexports"].items()},
            exports=lambda path=path: facts.exports(path),
            min_macos=meta.get("min_macos"),
        )
        for path, meta in facts.images.items()
    }
