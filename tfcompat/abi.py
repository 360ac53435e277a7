"""The abi check: predict, on any OS, whether tensorflow-metal loads next to a TensorFlow.

``check()`` resolves the row's macOS arm64 wheels (macwheels), reads what dyld needs from
them (macho, cached per wheel), and runs the loading model (dyld) on the plugin libraries.
"""

from __future__ import annotations

import pathlib
import time

from packaging.version import Version

from tfcompat import dyld, macho, macwheels

#: Entries kept in ``unresolved``; ``unresolved_count`` counts them all.
UNRESOLVED_CAP = 20
PLUGIN_DIR = "tensorflow-plugins/"


class AbiError(Exception):
    """Bad input for the check (no wheel, not Mach-O, no plugin, no network and no cache).

    The message is one line and names the wheel or file and the reason."""


def tf_package(tf: str) -> str:
    """The PyPI package whose macOS arm64 wheel holds TensorFlow ``tf``'s binaries.

    tensorflow-macos up to 2.15 (the tensorflow wheels of 2.13 to 2.15 for macOS are stubs
    that depend on it), tensorflow itself from 2.16 (tensorflow-macos 2.16 is the stub)."""
    return "tensorflow-macos" if Version(tf) < Version("2.16.0rc0") else "tensorflow"


def check(*, tf: str, metal: str, python: str, cache_dir: pathlib.Path | None = None) -> dict:
    """Return the 'abi' section of a record. Raises AbiError for bad input (one line).

    ``seconds`` is the wall time of the whole check, downloads included."""
    started = time.monotonic()
    root = macwheels.cache_root(cache_dir)
    opened: list[macwheels.WheelFacts] = []
    try:
        requirements = [(tf_package(tf), tf), ("tensorflow-metal", metal)]
        refs = macwheels.resolve(requirements, python=python, root=root)
        # The small plugin wheel first: a bad one fails before the large download.
        plugin_facts = macwheels.facts(refs[1], root=root)
        opened.append(plugin_facts)
        plugins = _plugin_paths(plugin_facts)
        tf_facts = macwheels.facts(refs[0], root=root)
        opened.append(tf_facts)
        failures = _model(tf_facts, plugin_facts, plugins)
    except (macwheels.WheelError, macho.MachOError) as exc:
        raise AbiError(str(exc)) from None
    finally:
        for facts in opened:
            facts.close()
    return {
        "verdict": "fail" if failures else "ok",
        "first": failures[0].message if failures else None,
        "unresolved_count": len(failures),
        "unresolved": [failure.line for failure in failures[:UNRESOLVED_CAP]],
        "wheels": [
            {"name": r.name, "version": r.version, "filename": r.filename, "sha256": r.sha256} for r in refs
        ],
        "not_checked": list(dyld.NOT_CHECKED),
        "seconds": round(time.monotonic() - started, 3),
    }


def _plugin_paths(plugin_facts: macwheels.WheelFacts) -> list[str]:
    """The plugin libraries TensorFlow will dlopen, in the order it lists them."""
    plugins = sorted(path for path in plugin_facts.images if path.startswith(PLUGIN_DIR))
    if not plugins:
        raise AbiError(f"{plugin_facts.ref.filename}: no library under {PLUGIN_DIR}")
    return plugins


def _model(
    tf_facts: macwheels.WheelFacts, plugin_facts: macwheels.WheelFacts, plugins: list[str]
) -> list[dyld.Failure]:
    """Run the loading model on the ``plugins`` libraries of ``plugin_facts``, in order."""
    if dyld.TOP_LEVEL not in tf_facts.images:
        raise AbiError(f"{tf_facts.ref.filename}: no {dyld.TOP_LEVEL}: not a TensorFlow binary wheel")
    site = {**_libraries(tf_facts), **_libraries(plugin_facts)}
    process = dyld.import_tensorflow(site, tf_facts.texts)
    failures = []
    for path in plugins:
        imports = [macho.Import(*item) for item in plugin_facts.images[path]["imports"]]
        failures += process.dlopen(site[path], imports)
    return failures


def _libraries(facts: macwheels.WheelFacts) -> dict[str, dyld.Library]:
    return {
        path: dyld.Library(
            path=path,
            install_name=meta["install_name"],
            dylibs=[macho.Dylib(*dylib) for dylib in meta["dylibs"]],
            rpaths=meta["rpaths"],
            reexports={name: tuple(target) for name, target in meta["reexports"].items()},
            exports=lambda path=path: facts.exports(path),
        )
        for path, meta in facts.images.items()
    }
