"""The load prediction end to end on real PyPI wheels, its bad inputs, and the dyld model's rules.

Every pair is asked of the one engine (``pairmap.predict``), as an ``abi`` session asks it
(``row.abi_section`` turns its cell into the session's section). The real pairs use the suite's
cache (``$TFCOMPAT_CACHE``), so a second run on the same machine downloads nothing. Bad wheels
are real zip files served by a package index on localhost (made-up releases 2.99.0 and 9.9.9);
"no network" is a subprocess whose proxies point at a closed local port.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from helpers.index import LocalIndex, Response
from helpers.macho import write_image
from helpers.network import OFFLINE
from helpers.paths import ROOT
from helpers.processes import run_python
from tfcompat.abi import check, dyld, macho, macwheels
from tfcompat.core import config, macos
from tfcompat.index import wheels
from tfcompat.predict import pairmap, row

PLUGIN = "tensorflow-plugins/libmetal_plugin.dylib"
LOG_MESSAGE = "__ZN3tsl8internal10LogMessageC1EPKcii"


def _ask(tf: str, metal: str, **options) -> pairmap.Mapped:
    """The one engine's answers for the pair, as an ``abi`` session asks for them."""
    return pairmap.predict(tf=[tf], metal=[metal], log=lambda _: None, **options)


# Real pairs: the two public reports confirmed on real Macs.


@pytest.mark.network
def test_tf_2_18_with_metal_1_1_fails_like_on_a_mac() -> None:
    mapped = _ask("2.18.0", "1.1.0")
    cell, section = mapped.cells["2.18.0", "1.1.0"], row.abi_section(mapped, "2.18.0", "1.1.0", "3.10")
    assert (cell["abi"], section.verdict) == ("fail", "fail")
    lines = cell["first"].splitlines()
    assert lines[0] == f"Symbol not found: {LOG_MESSAGE}"
    assert lines[1].strip() == "Referenced from: site-packages/tensorflow-plugins/libmetal_plugin.dylib"
    assert lines[2].strip() == "Expected in: site-packages/tensorflow/python/_pywrap_tensorflow_internal.so"
    assert cell["unresolved_count"] >= 1 and cell["unresolved"][0].startswith(lines[0])
    assert (section.first, section.unresolved) == (cell["first"], cell["unresolved"])
    assert [(w.name, w.version) for w in section.wheels] == [
        ("tensorflow", "2.18.0"),
        ("tensorflow-metal", "1.1.0"),
    ]
    assert all(len(w.sha256) == 64 and w.filename.endswith("macosx_12_0_arm64.whl") for w in section.wheels)
    assert any("minimum macOS" in item for item in section.not_checked)
    assert cell["second"] is None  # the first failure is a symbol: no library to stand in for
    json.dumps(cell)


@pytest.mark.network
def test_tf_2_17_with_metal_1_1_loads() -> None:
    cell = _ask("2.17.0", "1.1.0").cells["2.17.0", "1.1.0"]
    assert (cell["abi"], cell["first"], cell["unresolved_count"]) == ("ok", None, 0)
    assert cell["unresolved"] == []
    assert (cell["second"], cell["min_macos"]) == (None, "12.0")


@pytest.mark.network
def test_second_layer_of_tf_2_20_is_the_public_report() -> None:
    """TF 2.20 changed the install name of the library the plugin links; forcing the path (a
    symlink, DYLD_LIBRARY_PATH) meets the next failure, as a public report found
    (tensorflow pull request 126360): no path fix saves the pair."""
    cell = _ask("2.20.0", "1.2.0").cells["2.20.0", "1.2.0"]
    wanted = "@rpath/_pywrap_tensorflow_internal.so"
    assert cell["first"].splitlines()[0] == f"Library not loaded: {wanted}"
    second = cell["second"]
    assert (second["library"], second["found_as"], second["verdict"]) == (wanted, TOP, "fail")
    assert second["first"].splitlines() == [
        "Symbol not found: __ZN10tensorflow28_AttrValue_default_instance_E",
        f"  Referenced from: site-packages/{PLUGIN}",
        f"  Expected in: site-packages/{TOP}",
    ]
    assert second["unresolved_count"] >= 1


@pytest.mark.network
def test_minimum_macos_comes_from_the_loaded_images_too() -> None:
    """tensorflow-metal 0.5.1's wheel is tagged macosx_12_0, but its library's LC_BUILD_VERSION
    asks for macOS 13.0: dyld refuses it on macOS 12, whatever the tag says."""
    mapped = _ask("2.10.0", "0.5.1")
    plugin_wheel = row.abi_section(mapped, "2.10.0", "0.5.1", "3.10").wheels[1].filename
    assert check.wheel_macos(plugin_wheel) == "12.0"
    assert mapped.cells["2.10.0", "0.5.1"]["min_macos"] == "13.0"


@pytest.mark.network
def test_re_exports_of_tf_2_18_resolve() -> None:
    """TF 2.18's _pywrap_tensorflow_internal.so re-exports (export-trie entries) what the
    plugin binds two-level from libtensorflow_cc; 1.2.0 needs nothing it lacks."""
    cell = _ask("2.18.0", "1.2.0").cells["2.18.0", "1.2.0"]
    assert cell["abi"] == "ok", cell["first"]


@pytest.mark.network
def test_warm_run_needs_no_network() -> None:
    """After a first run, the same row is answered from the cache alone: the index's last
    answer, the cached prediction (no wheel read), the cached preflights."""
    _ask("2.18.0", "1.1.0")
    done = _engine_in_subprocess(tf="2.18.0", metal="1.1.0", env=OFFLINE)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["cell"]["first"].startswith(f"Symbol not found: {LOG_MESSAGE}")
    assert answer["error"] is None
    assert (
        "cannot reach the package index" in answer["log"][0] and "using the answer cached" in answer["log"][0]
    )
    assert any(
        line.startswith("map: tf 2.18.0: 0 plugins load, 1 fail (cached, ") for line in answer["log"]
    ), answer["log"]


@pytest.mark.network
def test_cache_holds_no_wheel_and_stays_small() -> None:
    _ask("2.17.0", "1.1.0")
    folder = macwheels.cache_root()
    files = [path for path in folder.rglob("*") if path.is_file()]
    assert not [path for path in files if path.suffix == ".whl"]
    assert max(path.stat().st_size for path in files) < 10_000_000  # compressed export sets
    # Nothing left unpacked by this process (other runs on the machine may be downloading now).
    assert not list(Path(tempfile.gettempdir()).glob(f"tfcompat-wheel-{os.getpid()}-*"))


# Bad input: each is one line that names the index, the wheel or the file.


def test_no_network_and_empty_cache(tmp_path: Path) -> None:
    env = {**OFFLINE, "TFCOMPAT_CACHE": str(tmp_path / "cache")}
    done = _engine_in_subprocess(tf="2.17.0", metal="1.1.0", env=env)
    assert done.returncode == 3, done.stderr
    no_verdict, message = done.stdout.rstrip("\n").split(" ", 1)
    assert no_verdict == "True" and "\n" not in message
    assert message.startswith(f"{config.DEFAULT_INDEX}tensorflow-macos/: cannot reach the package index (")
    assert message.endswith("; no earlier answer is cached: connect to the index and rerun")


@pytest.mark.network
def test_tf_without_macos_wheel_for_python() -> None:
    """TensorFlow 2.21.0 has no macOS arm64 wheel for Python 3.9: the engine predicts the pair
    from the wheel it reads, and has no preflight for Python 3.9, so an abi session with 3.9
    records none."""
    mapped = _ask("2.21.0", "1.2.0")
    (release,) = mapped.tf
    assert "3.9" not in release.pythons and "3.9" not in release.binary
    assert list(mapped.cells["2.21.0", "1.2.0"]["pythons"]) == ["3.10", "3.11", "3.12"]
    assert row.abi_section(mapped, "2.21.0", "1.2.0", "3.9").preflight is None
    assert row.abi_section(mapped, "2.21.0", "1.2.0", "3.10").preflight is not None


# Pinned wheels named with uv (``macwheels.resolve``: the Keras wheels of a training hazard).


def test_pinned_wheels_without_network_or_cache_are_one_line(tmp_path: Path) -> None:
    env = {**OFFLINE, "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_HTTP_RETRIES": "0"}
    done = _resolve_in_subprocess([("keras", "2.11.0"), ("tensorflow-metal", "1.1.0")], tmp_path / "abi", env)
    assert done.returncode == 3, done.stderr
    message = done.stdout.strip()
    assert "\n" not in message
    assert message.startswith(
        "keras==2.11.0, tensorflow-metal==1.1.0: cannot reach the package index, and nothing is cached: "
    )


@pytest.mark.network
def test_a_pinned_release_without_a_wheel_for_the_python_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(wheels.WheelError) as caught:
        macwheels.resolve(
            [("tensorflow", "2.21.0"), ("tensorflow-metal", "1.2.0")], python="3.9", root=tmp_path / "abi"
        )
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "tensorflow==2.21.0, tensorflow-metal==1.2.0: no macOS arm64 wheel for Python 3.9: "
    )


@pytest.fixture(scope="module")
def real_plugin(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The real libmetal_plugin.dylib of tensorflow-metal 1.1.0."""
    folder = tmp_path_factory.mktemp("metal")
    (ref,) = macwheels.resolve([("tensorflow-metal", "1.1.0")], python="3.10", root=macwheels.cache_root())
    with zipfile.ZipFile(wheels.download(ref, folder)) as archive:
        return archive.read(PLUGIN)


@pytest.fixture
def made_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A package index on localhost that has made-up releases only (``serve`` adds a wheel),
    and the suite pointed at it, with a cache of its own."""
    server = LocalIndex()
    files: dict[str, list[dict]] = {name: [] for name in (*pairmap.TENSORFLOW, pairmap.PLUGIN)}

    def serve(
        name: str, version: str, members: dict[str, bytes] | bytes, *, sha256: str | None = None
    ) -> str:
        """Make a wheel of ``name==version`` for CPython 3.10 and list it on the index."""
        filename = f"{name.replace('-', '_')}-{version}-cp310-cp310-macosx_12_0_arm64.whl"
        wheel = tmp_path / "served" / filename
        wheel.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(members, bytes):
            wheel.write_bytes(members)
        else:
            with zipfile.ZipFile(wheel, "w") as archive:
                for member, data in members.items():
                    archive.writestr(member, data)
        data = wheel.read_bytes()
        server.routes[f"/files/{filename}"] = Response(body=data)
        files[name].append(
            {
                "filename": filename,
                "url": f"../../files/{filename}",
                "hashes": {"sha256": sha256 or hashlib.sha256(data).hexdigest()},
                "size": len(data),
                "upload-time": "2025-01-01T00:00:00.000000Z",
                "yanked": False,
            }
        )
        for project, listed in files.items():
            server.answer(project, json.dumps({"meta": {"api-version": "1.1"}, "files": listed}).encode())
        return filename

    monkeypatch.setenv(config.INDEX_ENV, f"{server.url}/simple/")
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "cache"))
    # The preflight's uv cannot read a made-up wheel either: asked once, not retried.
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    try:
        yield serve
    finally:
        server.close()


def _bad(serve, *, tf: dict | bytes | None = None, metal: dict | bytes, sha256: str | None = None) -> str:
    """Serve the made-up pair and ask the engine: the pair has no verdict, and the abi section,
    the cell and the engine's summary give one line, the same."""
    serve("tensorflow", "2.99.0", tf if tf is not None else {"tensorflow/__init__.py": b""})
    serve("tensorflow-metal", "9.9.9", metal, sha256=sha256)
    mapped = _ask("2.99.0", "9.9.9")
    section = row.abi_section(mapped, "2.99.0", "9.9.9", "3.10")
    message = mapped.cells["2.99.0", "9.9.9"]["error"]
    assert (section.verdict, section.error) == (None, message)
    assert "\n" not in message and mapped.error.endswith(f"; the first: {message}")
    return message


@pytest.mark.fault(16)
def test_plugin_that_is_not_macho(made_up) -> None:
    message = _bad(made_up, metal={PLUGIN: b"\x7fELF" + bytes(100)})
    assert message == (
        "tensorflow_metal-9.9.9-cp310-cp310-macosx_12_0_arm64.whl: "
        f"{PLUGIN}: not a 64-bit Mach-O file (magic 0x7f454c46)"
    )


@pytest.mark.fault(16)
@pytest.mark.network  # real_plugin downloads tensorflow-metal 1.1.0 from PyPI
def test_truncated_plugin(made_up, real_plugin: bytes) -> None:
    message = _bad(made_up, metal={PLUGIN: real_plugin[: len(real_plugin) // 2]})
    assert message.startswith(
        f"tensorflow_metal-9.9.9-cp310-cp310-macosx_12_0_arm64.whl: {PLUGIN}: truncated"
    )


@pytest.mark.fault(16)
def test_wheel_without_plugin(made_up, tmp_path: Path) -> None:
    """Against a TensorFlow that loads (one image, made for the test): the plugin wheel is read
    after TensorFlow's, and it has no library to dlopen."""
    top = write_image(
        tmp_path / "top.so",
        install_name="@rpath/_pywrap_tensorflow_internal.so",
        dylibs=(),
        binds=[],
        minos="12.0",
    )
    message = _bad(
        made_up,
        tf={TOP: top.read_bytes()},
        metal={"tensorflow_metal-9.9.9.dist-info/METADATA": b"Name: tensorflow-metal\n"},
    )
    assert (
        message
        == "tensorflow_metal-9.9.9-cp310-cp310-macosx_12_0_arm64.whl: no library under tensorflow-plugins/"
    )


@pytest.mark.fault(16)
def test_wheel_that_is_not_a_zip(made_up) -> None:
    message = _bad(made_up, metal=b"<html>not a wheel</html>")
    assert message == "tensorflow_metal-9.9.9-cp310-cp310-macosx_12_0_arm64.whl: not a zip archive"


def test_wheel_with_wrong_hash(made_up) -> None:
    message = _bad(made_up, metal={PLUGIN: b""}, sha256="0" * 64)
    assert re.fullmatch(r"tensorflow_metal-9\.9\.9-\S+\.whl: sha256 [0-9a-f]{64} is not 0{64}", message)


@pytest.mark.network  # real_plugin downloads tensorflow-metal 1.1.0 from PyPI
def test_tensorflow_stub_wheel(made_up, real_plugin: bytes) -> None:
    """The tensorflow 2.13 - 2.15 macOS wheels are stubs: no binaries to load the plugin into."""
    message = _bad(made_up, metal={PLUGIN: real_plugin})
    assert message == (
        "tensorflow-2.99.0-cp310-cp310-macosx_12_0_arm64.whl: "
        "no tensorflow/python/_pywrap_tensorflow_internal.so: not a TensorFlow binary wheel"
    )


def test_tf_package_per_release() -> None:
    assert [macos.binary_name(v) for v in ("2.5.0", "2.12.0", "2.15.0", "2.15.1", "2.16.0rc0", "2.21.0")] == [
        "tensorflow-macos",
        "tensorflow-macos",
        "tensorflow-macos",
        "tensorflow",
        "tensorflow",
        "tensorflow",
    ]


# The model's rules on small made-up images: what real wheels of today do not exercise.


def _library(path, *, install_name=None, dylibs=(), rpaths=(), exports=(), reexports=None) -> dyld.Library:
    names = frozenset(exports)
    return dyld.Library(
        path=path,
        install_name=install_name,
        dylibs=[macho.Dylib(p, kind) for p, kind in dylibs],
        rpaths=list(rpaths),
        reexports=reexports or {},
        exports=lambda: names,
    )


def _site(*libraries: dyld.Library) -> dict[str, dyld.Library]:
    return {library.path: library for library in libraries}


TOP = dyld.TOP_LEVEL
LOCAL = {dyld.PYWRAP: "import sys, ctypes\nsys.setdlopenflags(flags | ctypes.RTLD_LOCAL)\n"}
GLOBAL = {**LOCAL, dyld.GLOBAL_FLAGS: "def set_dlopen_flags(): ...\n"}


def _plugin(*imports: tuple[str, int], dylibs=(("@rpath/_pywrap_tensorflow_internal.so", "load"),)):
    plugin = _library("tensorflow-plugins/libp.dylib", dylibs=dylibs, rpaths=["@loader_path/../nowhere"])
    return plugin, [macho.Import(name, ordinal, False) for name, ordinal in imports]


def test_install_name_match_wins_over_rpath() -> None:
    top = _library(TOP, install_name="@rpath/_pywrap_tensorflow_internal.so", exports=["_A"])
    plugin, imports = _plugin(("_A", 1))
    assert dyld.import_tensorflow(_site(top, plugin), LOCAL).dlopen(plugin, imports) == []


def test_changed_install_name_is_library_not_loaded() -> None:
    top = _library(TOP, install_name="bazel-out/lib_pywrap_16.dylib", exports=["_A"])
    plugin, imports = _plugin(("_A", 1))
    failures = dyld.import_tensorflow(_site(top, plugin), GLOBAL).dlopen(plugin, imports)
    assert [f.short for f in failures] == ["Library not loaded: @rpath/_pywrap_tensorflow_internal.so"]
    assert (
        failures[0].details[1]
        == "Reason: tried: 'site-packages/nowhere/_pywrap_tensorflow_internal.so' (no such file)"
    )


def test_rpath_reaches_a_file_when_no_install_name_matches() -> None:
    top = _library(
        TOP, install_name="@rpath/_pywrap_tensorflow_internal.so", dylibs=[("@rpath/libfw.dylib", "load")]
    )
    top.rpaths = ["@loader_path/.."]
    framework = _library("tensorflow/libfw.dylib", install_name="@rpath/libfw.dylib", exports=["_B"])
    extra = _library("tensorflow/libextra.dylib", install_name="@rpath/libextra.dylib", exports=["_C"])
    plugin, imports = _plugin(("_C", 1), dylibs=[("@rpath/libextra.dylib", "load")])
    plugin.rpaths = ["@loader_path/../tensorflow"]
    assert dyld.import_tensorflow(_site(top, framework, extra, plugin), LOCAL).dlopen(plugin, imports) == []


def test_rtld_local_hides_the_top_level_image_from_flat_lookups() -> None:
    top = _library(TOP, install_name="@rpath/_pywrap_tensorflow_internal.so", exports=["_OnlyTop"])
    plugin, imports = _plugin(("_OnlyTop", macho.FLAT_LOOKUP), dylibs=())
    hidden = dyld.import_tensorflow(_site(top, plugin), LOCAL).dlopen(plugin, imports)
    assert [f.message for f in hidden] == ["symbol not found in flat namespace '_OnlyTop'"]
    top.hidden, plugin.hidden = False, False
    assert dyld.import_tensorflow(_site(top, plugin), GLOBAL).dlopen(plugin, imports) == []


def test_dependencies_of_a_hidden_image_stay_visible() -> None:
    top = _library(
        TOP, install_name="@rpath/_pywrap_tensorflow_internal.so", dylibs=[("@rpath/libcc.dylib", "load")]
    )
    top.rpaths = ["@loader_path/.."]
    cc = _library("tensorflow/libcc.dylib", install_name="@rpath/libcc.dylib", exports=["_InCc"])
    plugin, imports = _plugin(("_InCc", macho.FLAT_LOOKUP), ("_Own", macho.FLAT_LOOKUP), dylibs=())
    plugin.exports = lambda: frozenset({"_Own"})  # flat lookups see the plugin itself, though RTLD_LOCAL
    assert dyld.import_tensorflow(_site(top, cc, plugin), LOCAL).dlopen(plugin, imports) == []


def test_re_exports_trie_entry_and_reexport_dylib() -> None:
    top = _library(
        TOP,
        install_name="@rpath/_pywrap_tensorflow_internal.so",
        dylibs=[("@rpath/libcc.dylib", "load"), ("@rpath/libre.dylib", "reexport")],
        rpaths=["@loader_path/.."],
        exports=["_Moved", "_Gone"],
        reexports={"_Moved": (1, "_MovedThere"), "_Gone": (1, "_NotThere")},
    )
    cc = _library("tensorflow/libcc.dylib", install_name="@rpath/libcc.dylib", exports=["_MovedThere"])
    re_lib = _library("tensorflow/libre.dylib", install_name="@rpath/libre.dylib", exports=["_ViaDylib"])
    plugin, imports = _plugin(("_Moved", 1), ("_ViaDylib", 1), ("_Gone", 1), ("_Nowhere", 1))
    failures = dyld.import_tensorflow(_site(top, cc, re_lib, plugin), LOCAL).dlopen(plugin, imports)
    assert [f.short for f in failures] == ["Symbol not found: _Gone", "Symbol not found: _Nowhere"]
    assert failures[0].line == f"Symbol not found: _Gone (expected in site-packages/{TOP})"


def test_system_weak_and_special_imports_are_not_checked() -> None:
    top = _library(TOP, install_name="@rpath/_pywrap_tensorflow_internal.so")
    plugin, _ = _plugin(dylibs=[("/usr/lib/libSystem.B.dylib", "load"), ("@rpath/libgone.dylib", "weak")])
    imports = [
        macho.Import("_malloc", 1, False),  # bound to a system library
        macho.Import("_maybe", 2, True),  # weak import from a weak library that is absent
        macho.Import("_objc_msgSend", macho.FLAT_LOOKUP, False),  # Apple runtime, looked up flat
        macho.Import("__ZdlPv", macho.WEAK_LOOKUP, False),  # weak-definition coalescing
        macho.Import("_main_thing", macho.MAIN_EXECUTABLE, False),
    ]
    assert dyld.import_tensorflow(_site(top, plugin), LOCAL).dlopen(plugin, imports) == []


def test_each_plugin_is_dlopened_in_its_own_fork_of_one_tensorflow_process() -> None:
    """TensorFlow's side is loaded once and shared: what one plugin loads stays in its fork."""
    top = _library(TOP, install_name="@rpath/_pywrap_tensorflow_internal.so", exports=["_A"])
    process = dyld.import_tensorflow(_site(top), GLOBAL)
    extra = _library(
        "tensorflow-plugins/libextra.dylib", install_name="@rpath/libextra.dylib", exports=["_X"]
    )
    first, imports = _plugin(("_A", 1), dylibs=[("@rpath/_pywrap_tensorflow_internal.so", "load")])
    first.dylibs.append(macho.Dylib("@loader_path/libextra.dylib", "load"))
    fork = process.fork(_site(first, extra))
    assert fork.dlopen(first, imports) == []
    assert extra in fork.loaded and extra not in process.loaded and first not in process.loaded
    second, flat = _plugin(("_X", macho.FLAT_LOOKUP), dylibs=())
    failures = process.fork(_site(second)).dlopen(second, flat)
    assert [failure.short for failure in failures] == ["symbol not found in flat namespace '_X'"]


def _sides(top: dyld.Library, plugin: dyld.Library, imports: list[macho.Import]):
    tf_ref = wheels.WheelRef(
        "tensorflow", "9.9.9", "tensorflow-9.9.9-cp310-cp310-macosx_12_0_arm64.whl", "", "0", 0
    )
    metal_ref = wheels.WheelRef(
        "tensorflow-metal", "9.9.9", "tensorflow_metal-9.9.9-cp310-cp310-macosx_11_0_arm64.whl", "", "0", 0
    )
    tf = check.TensorFlowSide(tf_ref, dyld.import_tensorflow(_site(top), GLOBAL))
    return tf, check.PluginSide(metal_ref, _site(plugin), [plugin.path], {plugin.path: imports})


def test_second_layer_binds_the_missing_library_to_the_same_file_under_its_new_name() -> None:
    top = _library(TOP, install_name="@rpath/libpywrap_renamed.dylib", exports=["_A"])
    plugin, imports = _plugin(("_A", 1), ("_Gone", 1))
    prediction = check.predict(*_sides(top, plugin, imports))
    assert [f.short for f in prediction.failures] == [
        "Library not loaded: @rpath/_pywrap_tensorflow_internal.so"
    ]
    assert prediction.second == {
        "library": "@rpath/_pywrap_tensorflow_internal.so",
        "found_as": TOP,
        "verdict": "fail",
        "first": f"Symbol not found: _Gone\n  Referenced from: site-packages/{plugin.path}\n"
        f"  Expected in: site-packages/{TOP}",
        "unresolved_count": 1,
    }
    fixed, imports = _plugin(("_A", 1))
    assert check.predict(*_sides(top, fixed, imports)).second["verdict"] == "ok"


def test_second_layer_without_a_file_of_that_name_says_so() -> None:
    top = _library(TOP, install_name="@rpath/_pywrap_tensorflow_internal.so", exports=["_A"])
    plugin, imports = _plugin(("_A", 1), dylibs=[("@rpath/libgone.dylib", "load")])
    second = check.predict(*_sides(top, plugin, imports)).second
    assert second == {"library": "@rpath/libgone.dylib", "found_as": None, "verdict": None}
    symbol_only, imports = _plugin(("_Missing", 1))
    assert check.predict(*_sides(top, symbol_only, imports)).second is None


def test_minimum_macos_is_the_newest_of_tags_and_loaded_images() -> None:
    top = _library(TOP, install_name="@rpath/_pywrap_tensorflow_internal.so", exports=["_A"])
    top.min_macos = "12.9"
    plugin, imports = _plugin(("_A", 1))
    plugin.min_macos = "12.10"  # newer than 12.9 as a version, older as a string
    assert check.predict(*_sides(top, plugin, imports)).min_macos == "12.10"
    plugin.min_macos = "11.0"  # the TensorFlow wheel's tag, macosx_12_0, is newer than both images
    top.min_macos = None
    assert check.predict(*_sides(top, plugin, imports)).min_macos == "12.0"


def test_pywrap_flags_are_read_from_code_not_comments() -> None:
    assert dyld.loads_top_level_local(LOCAL)
    assert not dyld.loads_top_level_local(GLOBAL)
    assert not dyld.loads_top_level_local({dyld.PYWRAP: "# we could use RTLD_LOCAL here\nimport x\n"})


def _resolve_in_subprocess(requirements: list[tuple[str, str]], root: Path, env: dict):
    """``macwheels.resolve`` for Python 3.10 in a fresh interpreter with ``env`` added: print
    the wheels' file names, or the error and exit 3."""
    code = (
        "import pathlib, sys\n"
        "from tfcompat.abi import macwheels\n"
        "from tfcompat.index.wheels import WheelError\n"
        "try:\n"
        f"    refs = macwheels.resolve({requirements!r}, python='3.10', root=pathlib.Path({str(root)!r}))\n"
        "except WheelError as exc:\n"
        "    print(exc); sys.exit(3)\n"
        "print(*(ref.filename for ref in refs))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def _engine_in_subprocess(*, tf: str, metal: str, env: dict):
    """Ask the engine in a fresh interpreter with ``env`` added; print the cell, the summary and
    the log as JSON, or whether the error is no verdict and its message, and exit 3."""
    code = (
        "import json, sys\n"
        "from tfcompat.core.errors import TfcompatError\n"
        "from tfcompat.predict import pairmap\n"
        "log = []\n"
        "try:\n"
        f"    mapped = pairmap.predict(tf=[{tf!r}], metal=[{metal!r}], log=log.append)\n"
        "except TfcompatError as exc:\n"
        "    print(exc.no_verdict, exc); sys.exit(3)\n"
        f"print(json.dumps({{'cell': mapped.cells[{tf!r}, {metal!r}], 'error': mapped.error, 'log': log}}))\n"
    )
    return run_python(code, env=env)
