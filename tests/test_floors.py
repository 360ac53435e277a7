"""The floors (install, load, built for), the availability table and its generator.

The Mach-O images are built byte by byte (labelled: made for the test, with tests/helpers/macho.py), with
framework imports bound by opcodes, weak and not, and an LC_BUILD_VERSION; LIEF reads each one
first. The generator's stub reader runs on real Apple stubs: see the docstrings of its tests for
which ones, and why.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import lief
import pytest

from helpers.macho import write_image
from tfcompat.abi import check, dyld, frameworks, macho, wheelfacts
from tfcompat.index import wheels
from tfcompat.predict import pairmap
from tfcompat.upkeep import availability, tbd

MPSGRAPH = "/System/Library/Frameworks/MetalPerformanceShadersGraph.framework/Versions/A/MetalPerformanceShadersGraph"
LIBCXX = "/usr/lib/libc++.1.dylib"
COMPILATION = "_OBJC_CLASS_$_MPSGraphCompilationDescriptor"  # macOS 12.0 (tensorflow issue 53309)
PLUGIN = "tensorflow-plugins/libmetal_plugin.dylib"


def _library(path: Path, where: str) -> tuple[dyld.Library, list[macho.Import]]:
    image = macho.read(path)
    names = frozenset(image.exports)
    library = dyld.Library(
        path=where,
        install_name=image.install_name,
        dylibs=image.dylibs,
        rpaths=image.rpaths,
        reexports=image.reexports,
        exports=lambda: names,
        min_macos=image.min_macos,
    )
    return library, image.imports


def _pair(tmp_path: Path, binds: list[tuple[str, int, bool]], tf_binds=(), *, plugin_tag="macosx_11_0"):
    """The sides check.predict takes: a TensorFlow whose top-level image imports ``tf_binds`` from
    libc++, and a plugin importing ``binds`` (ordinal 1: MetalPerformanceShadersGraph, 2: libc++)."""
    top_path = write_image(
        tmp_path / "top.so",
        install_name="@rpath/_pywrap_tensorflow_internal.so",
        dylibs=(LIBCXX,),
        binds=list(tf_binds),
        minos="12.0",
    )
    plugin_path = write_image(
        tmp_path / "plugin.dylib",
        install_name="@rpath/libmetal_plugin.dylib",
        dylibs=(MPSGRAPH, LIBCXX),
        binds=binds,
        minos="12.0",
    )
    top, top_imports = _library(top_path, dyld.TOP_LEVEL)
    plugin, imports = _library(plugin_path, PLUGIN)
    site = {top.path: top}
    tf_ref = wheels.WheelRef(
        "tensorflow", "9.9", "tensorflow-9.9-cp310-cp310-macosx_12_0_arm64.whl", "", "0", 0
    )
    metal_ref = wheels.WheelRef(
        "tensorflow-metal", "9.9", f"tensorflow_metal-9.9-cp310-cp310-{plugin_tag}_arm64.whl", "", "0", 0
    )
    flags = {dyld.PYWRAP: "import sys\n"}
    tf = check.TensorFlowSide(tf_ref, dyld.import_tensorflow(site, flags), {top.path: top_imports})
    return tf, check.PluginSide(metal_ref, {plugin.path: plugin}, [plugin.path], {plugin.path: imports})


def test_the_bytes_say_what_the_test_means(tmp_path: Path) -> None:
    path = write_image(
        tmp_path / "p.dylib",
        install_name="@rpath/p.dylib",
        dylibs=(MPSGRAPH, LIBCXX),
        binds=[(COMPILATION, 1, False), ("_OBJC_CLASS_$_MPSGraphGRUDescriptor", 1, True)],
        minos="12.3",
    )
    binary = lief.MachO.parse(str(path)).take(lief.MachO.Header.CPU_TYPE.ARM64)
    reference = {(b.symbol.name, b.library_ordinal, b.weak_import) for b in binary.dyld_info.bindings}
    assert reference == {(COMPILATION, 1, False), ("_OBJC_CLASS_$_MPSGraphGRUDescriptor", 1, True)}
    image = macho.read(path)
    assert {(i.name, i.ordinal, i.weak) for i in image.imports} == reference
    assert image.min_macos == "12.3"


def test_a_non_weak_framework_class_sets_the_load_floor(tmp_path: Path) -> None:
    """0.3.0's case: MPSGraphCompilationDescriptor is macOS 12.0 (absent in SDK 11.3, and its
    12.0 header says macos(12.0)): the pair loads from 12.0, fails on 11.x."""
    floors = check.predict(
        *_pair(tmp_path, [(COMPILATION, 1, False), ("_OBJC_CLASS_$_MPSGraph", 1, False)])
    ).floors
    assert floors["load"] == "12.0"
    top = floors["steps"][-1]
    assert (top["symbol"], top["library"], top["image"], top["exact"]) == (
        COMPILATION,
        MPSGRAPH,
        PLUGIN,
        True,
    )
    assert top["source"].endswith("MetalPerformanceShadersGraph.framework/Versions/A/Headers/MPSGraph.h")
    assert (floors["install"], floors["built_for"], floors["unknown_count"]) == ("12.0", "12.0", 0)
    assert frameworks.load_verdict(floors, "11.6")[0] == "fails"
    assert frameworks.load_verdict(floors, "12.0") == ("loads", None)


def test_weak_imports_never_raise_the_floor(tmp_path: Path) -> None:
    """tensorflow-metal 0.7.0 and later import MPSGraphCompilationDescriptor weak."""
    floors = check.predict(
        *_pair(tmp_path, [(COMPILATION, 1, True), ("_OBJC_CLASS_$_MPSGraph", 1, False)])
    ).floors
    assert (floors["load"], floors["steps"]) == (frameworks.FIRST_ARM64, [])
    assert frameworks.load_verdict(floors, "11.0") == ("loads", None)


def test_tensorflows_images_raise_the_floor_too(tmp_path: Path) -> None:
    """A libc++ symbol the SDK 11.3 stub lacks and the 12.0 stub exports, imported by TensorFlow's
    top-level image: 12.0, known to fail on 11.3 only (no earlier stub of libc++ was read)."""
    stringbuf = "__ZNKSt3__115basic_stringbufIcNS_11char_traitsIcEENS_9allocatorIcEEE3strEv"
    floors = check.predict(
        *_pair(tmp_path, [("_OBJC_CLASS_$_MPSGraph", 1, False)], [(stringbuf, 1, False)])
    ).floors
    top = floors["steps"][-1]
    assert (floors["load"], top["symbol"], top["image"], top["exact"], top["absent"]) == (
        "12.0",
        stringbuf,
        dyld.TOP_LEVEL,
        False,
        "11.3",
    )
    assert frameworks.load_verdict(floors, "11.3")[0] == "fails"
    assert frameworks.load_verdict(floors, "11.0") == ("fails", top)  # absent in 11.3: absent before
    between = {"steps": [{**top, "absent": "11.0"}], "unknown_count": 0}
    assert frameworks.load_verdict(between, "11.3") == ("unknown", between["steps"][0])


def test_a_symbol_the_table_does_not_know_is_unknown_not_guessed(tmp_path: Path) -> None:
    made_up = "_OBJC_CLASS_$_MPSGraphMadeUpForTheTest"
    floors = check.predict(
        *_pair(tmp_path, [(made_up, 1, False), ("_OBJC_CLASS_$_MPSGraph", 1, False)])
    ).floors
    assert floors["unknown"] == [f"{made_up} ({MPSGRAPH})"] and floors["unknown_count"] == 1
    assert floors["load"] == frameworks.FIRST_ARM64  # what is known needs nothing newer
    assert frameworks.load_verdict(floors, "15.0") == ("unknown", None)


def test_install_floor_is_the_newest_wheel_tag_and_built_for_is_not_a_verdict(tmp_path: Path) -> None:
    """TensorFlow 2.5's images say 12.0 and ran on macOS 11: the minos is shown, never judged."""
    tf, plugin = _pair(tmp_path, [("_OBJC_CLASS_$_MPSGraph", 1, False)])
    tf.ref = wheels.WheelRef(
        "tensorflow-macos", "2.5.0", "tensorflow_macos-2.5.0-cp39-cp39-macosx_11_0_arm64.whl", "", "0", 0
    )
    floors = check.predict(tf, plugin).floors
    assert (floors["install"], floors["load"], floors["built_for"]) == ("11.0", "11.0", "12.0")
    assert frameworks.usable_on([{"floors": floors}], "11.6")[0]["on_macos"] == "usable"
    tf.ref = wheels.WheelRef(
        "tensorflow", "2.16.1", "tensorflow-2.16.1-cp310-cp310-macosx_12_0_arm64.whl", "", "0", 0
    )
    assert (
        frameworks.usable_on([{"floors": check.predict(tf, plugin).floors}], "11.6")[0]["on_macos"]
        == "install"
    )


#: Public report (rstudio/tensorflow issue 493, the same error as tensorflow issue 53309):
#: tensorflow-metal 0.3.0 on macOS 11 (Big Sur), `import tensorflow`; the site-packages prefix
#: is the user's, cut here as the model writes it.
PUBLIC_53309 = """\
Symbol not found: _OBJC_CLASS_$_MPSGraphCompilationDescriptor
  Referenced from: site-packages/tensorflow-plugins/libmetal_plugin.dylib (which was built for Mac OS X 12.0)
  Expected in: /System/Library/Frameworks/MetalPerformanceShadersGraph.framework/Versions/A/MetalPerformanceShadersGraph"""


def test_dyld_words_below_the_load_floor_are_the_public_report(tmp_path: Path) -> None:
    floors = check.predict(*_pair(tmp_path, [(COMPILATION, 1, False)])).floors
    assert frameworks.dyld_words(floors, "11.6").message == PUBLIC_53309
    assert frameworks.dyld_words(floors, "12.0") is None
    newer = {**floors, "steps": [{**floors["steps"][-1], "built_for": "13.0", "macos": "13.0"}]}
    assert frameworks.dyld_words(newer, "12.5").details[0] == (
        f"Referenced from: site-packages/{PLUGIN} (built for macOS 13.0 which is newer than running OS)"
    )


def test_usable_on_a_macos() -> None:
    step = {
        "macos": "12.3",
        "symbol": "_X",
        "library": MPSGRAPH,
        "image": PLUGIN,
        "built_for": None,
        "exact": False,
        "absent": "12.0",
        "source": "",
    }
    pairs = [
        {"pair": "a", "floors": {"install": "11.0", "load": "11.0", "steps": [], "unknown_count": 0}},
        {"pair": "b", "floors": {"install": "12.0", "load": "12.0", "steps": [], "unknown_count": 0}},
        {"pair": "c", "floors": {"install": "11.0", "load": "12.3", "steps": [step], "unknown_count": 0}},
        {"pair": "d", "floors": None},
    ]
    on = {p["pair"]: p["on_macos"] for p in frameworks.usable_on(pairs, "12.1")}
    assert on == {"a": "usable", "b": "usable", "c": "unknown", "d": "unknown"}
    on = {p["pair"]: p["on_macos"] for p in frameworks.usable_on(pairs, "11.6")}
    assert on == {"a": "usable", "b": "install", "c": "load", "d": "unknown"}
    assert [p["pair"] for p in frameworks.usable_on(pairs, "12.3") if p["on_macos"] == "usable"] == [
        "a",
        "b",
        "c",
    ]


def test_selectors_are_named_as_not_checked() -> None:
    assert any("objc_msgSend" in item and "selectors" in item for item in dyld.NOT_CHECKED)
    assert not any(
        item.startswith(
            "system libraries and frameworks (/usr/lib, /System): their presence and their exports"
        )
        for item in dyld.NOT_CHECKED
    )


def test_the_shipped_table_dates_the_public_case() -> None:
    fact = frameworks.table()[MPSGRAPH]["_OBJC_CLASS_$_MPSGraphCompilationDescriptor"]
    assert (fact["macos"], fact["absent"], fact["missing_below"]) == ("12.0", "11.3", True)
    assert (
        fact["stub"]
        == f"MacOSX12.0.sdk{MPSGRAPH.removesuffix('MetalPerformanceShadersGraph')}MetalPerformanceShadersGraph.tbd"
    )


# The stub reader and the generator on real Apple stubs.


def test_stub_reader_on_a_real_libsystem_stub() -> None:
    """ziglang's wheel (PyPI) ships Apple's darwin libSystem.tbd (TAPI v4, 40 documents: the
    umbrella and the /usr/lib/system libraries it re-exports, arm64e and x86_64 only): real
    Apple stub text that a clean clone can install, so CI reads it without any SDK snapshot."""
    ziglang = pytest.importorskip("ziglang", reason="the test group installs ziglang (pyproject.toml)")
    text = (Path(ziglang.__file__).parent / "lib/libc/darwin/libSystem.tbd").read_text()
    stubs = tbd.read(text)
    main = stubs[0]
    assert main.install_name == "/usr/lib/libSystem.B.dylib"
    assert "/usr/lib/system/libsystem_c.dylib" in main.reexports
    libc = next(s for s in stubs if s.install_name == "/usr/lib/system/libsystem_c.dylib")
    assert {"_printf", "_fopen"} <= libc.exports
    every = set().union(*(stub.exports for stub in stubs))
    assert {"_malloc", "_pthread_create", "_dispatch_once_f"} <= every
    # v3: arm64 by arch and platform; objc classes without an underscore there, with one in v2.
    v3 = "--- !tapi-tbd-v3\narchs: [ x86_64, arm64 ]\nplatform: macosx\ninstall-name: /usr/lib/libx.dylib\nexports:\n  - archs: [ arm64 ]\n    symbols: [ _f ]\n    objc-classes: [ Foo ]\n...\n"
    assert tbd.read(v3)[0].exports == {"_f", "_OBJC_CLASS_$_Foo", "_OBJC_METACLASS_$_Foo"}
    v2 = v3.replace("tapi-tbd-v3", "tapi-tbd-v2").replace("[ Foo ]", "[ _Foo ]")
    assert tbd.read(v2)[0].exports == {"_f", "_OBJC_CLASS_$_Foo", "_OBJC_METACLASS_$_Foo"}
    x86 = v3.replace("- archs: [ arm64 ]", "- archs: [ x86_64 ]")
    assert tbd.read(x86)[0].exports == frozenset()
    v5 = {
        "tapi_tbd_version": 5,
        "main_library": {
            "target_info": [{"target": "arm64-macos"}],
            "install_names": [{"name": "/usr/lib/liby.dylib"}],
            "exported_symbols": [{"data": {"global": ["_g"]}, "text": {"objc_class": ["Bar"]}}],
        },
    }
    assert tbd.read(json.dumps(v5))[0].exports == {"_g", "_OBJC_CLASS_$_Bar", "_OBJC_METACLASS_$_Bar"}


def test_generator_dates_by_the_oldest_sdk_that_exports(tmp_path: Path) -> None:
    """Two SDK folders made of ziglang's real libSystem.tbd, one with a symbol taken out: the
    symbol dates from the other, with the first as its absence; a symbol no stub exports is left
    out of the table (unknown, never guessed)."""
    ziglang = pytest.importorskip("ziglang", reason="the test group installs ziglang (pyproject.toml)")
    text = (Path(ziglang.__file__).parent / "lib/libc/darwin/libSystem.tbd").read_text()
    for version, body in (("11.0", text.replace("_pthread_create, ", "")), ("12.0", text)):
        (tmp_path / version / "usr/lib").mkdir(parents=True)
        (tmp_path / version / "usr/lib/libSystem.B.tbd").write_text(body)
    assert "_pthread_create" not in set().union(
        *(s.exports for s in tbd.read(text.replace("_pthread_create, ", "")))
    )
    sdks = [availability.load_sdk(f"{v}={tmp_path / v}") for v in ("12.0", "11.0")]
    wanted = [("/usr/lib/libSystem.B.dylib", s) for s in ("_malloc", "_pthread_create", "_no_such_symbol")]
    table = availability.build(sdks, wanted)["libraries"]["/usr/lib/libSystem.B.dylib"]
    assert table["_malloc"] == {
        "macos": "11.0",
        "absent": None,
        "missing_below": True,
        "stub": "MacOSX11.0.sdk/usr/lib/libSystem.B.tbd",
    }
    assert (table["_pthread_create"]["macos"], table["_pthread_create"]["absent"]) == ("12.0", "11.0")
    assert "_no_such_symbol" not in table


_SNAPSHOT = Path("/work/.mirror/hexops-graveyard+sdk-macos-12.0/repo")


@pytest.mark.skipif(not _SNAPSHOT.is_dir(), reason="no snapshot of a public macOS 12.0 SDK on this machine")
def test_generator_on_the_12_0_sdk_snapshot(tmp_path: Path) -> None:
    """Where the public SDK snapshot the table was made from is on the machine (a developer's,
    not CI: it is not in the repository, which holds derived facts only), the generator reads its
    real MetalPerformanceShadersGraph stub and headers and dates the public case as the table does."""
    if not shutil.which("git"):
        pytest.skip("git is needed to read the snapshot")
    framework = "root/System/Library/Frameworks/MetalPerformanceShadersGraph.framework/Versions/A"
    out = tmp_path / "12.0"
    for name in ("MetalPerformanceShadersGraph.tbd", "Headers/MPSGraph.h"):
        target = out / framework.removeprefix("root/") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(
            subprocess.run(
                ["git", f"--git-dir={_SNAPSHOT}", "show", f"8646319:{framework}/{name}"],
                capture_output=True,
                check=True,
            ).stdout
        )
    table = availability.build([availability.load_sdk(f"12.0={out}")], [(MPSGRAPH, COMPILATION)])
    fact = table["libraries"][MPSGRAPH][COMPILATION]
    assert (fact["macos"], fact["missing_below"]) == ("12.0", True)
    assert (
        fact["header"]
        == "MacOSX12.0.sdk/System/Library/Frameworks/MetalPerformanceShadersGraph.framework/Versions/A/Headers/MPSGraph.h"
    )


@pytest.mark.network
def test_metal_0_3_0_loads_from_macos_12_and_fails_on_11_like_the_public_report() -> None:
    """The real wheels: tensorflow-macos 2.7.0 + tensorflow-metal 0.3.0, the pair of the public
    report (tensorflow issue 53309: Big Sur 11.6)."""
    mapped = pairmap.predict(tf=["2.7.0"], metal=["0.3.0"], log=lambda _: None)
    result = mapped.cells["2.7.0", "0.3.0"]
    assert "3.9" in result["pythons"]  # both releases have macOS arm64 wheels for Python 3.9
    floors = result["floors"]
    assert (floors["install"], floors["load"], floors["built_for"]) == ("11.0", "12.0", "12.0")
    assert floors["steps"][-1]["symbol"] == COMPILATION and floors["unknown_count"] == 0
    assert frameworks.dyld_words(floors, "11.6").message == PUBLIC_53309
    assert result["abi"] == "ok"  # against TensorFlow's own images it loads: the floor is the macOS's


def test_the_reader_keeps_only_system_imports_of_tensorflows_images(tmp_path: Path) -> None:
    """TensorFlow's images bind thousands of symbols to each other: the facts keep only what the
    running macOS must provide (the plugin's images keep every import, for the dyld model)."""
    path = write_image(
        tmp_path / "top.so",
        install_name="@rpath/_pywrap_tensorflow_internal.so",
        dylibs=("@rpath/libtensorflow_framework.2.dylib", LIBCXX),
        binds=[("__ZN10tensorflow6StatusC1Ev", 1, False), ("__ZdlPv", 2, False)],
        minos="12.0",
    )
    assert [(i.name, i.ordinal) for i in wheelfacts.system_imports(macho.read(path))] == [("__ZdlPv", 2)]


def test_stubs_overrule_an_annotation_they_contradict(tmp_path: Path) -> None:
    """The 12.0 SDK's MPSGraphExecutable.h says MPSGraphExecutableExecutionDescriptor is macOS
    12.0, yet the 11.0 SDK's stub exports it: dyld binds what is exported, so 11.0 stands. Made
    for the test: two SDK folders of one stub and one header each, in the SDK's layout."""
    framework = "System/Library/Frameworks/MetalPerformanceShadersGraph.framework/Versions/A"
    stub = (
        "--- !tapi-tbd\ntbd-version: 4\ntargets: [ arm64-macos ]\n"
        f"install-name: '{MPSGRAPH}'\nexports:\n  - targets: [ arm64-macos ]\n    objc-classes: [ {{}} ]\n...\n"
    )
    header = (
        "MPS_CLASS_AVAILABLE_STARTING(macos(12.0), ios(15.0), tvos(15.0))\n@interface {} : NSObject\n@end\n"
    )
    for version, classes in (("11.0", "Old"), ("12.0", "Old, New")):
        (tmp_path / version / framework / "Headers").mkdir(parents=True)
        (tmp_path / version / framework / "MetalPerformanceShadersGraph.tbd").write_text(stub.format(classes))
        (tmp_path / version / framework / "Headers/Both.h").write_text(
            header.format("Old") + header.format("New")
        )
    sdks = [availability.load_sdk(f"{v}={tmp_path / v}") for v in ("11.0", "12.0")]
    table = availability.build(sdks, [(MPSGRAPH, "_OBJC_CLASS_$_Old"), (MPSGRAPH, "_OBJC_CLASS_$_New")])[
        "libraries"
    ]
    old, new = table[MPSGRAPH]["_OBJC_CLASS_$_Old"], table[MPSGRAPH]["_OBJC_CLASS_$_New"]
    assert (old["macos"], "header" in old) == ("11.0", False)
    assert (new["macos"], new["absent"], new["missing_below"]) == ("12.0", "11.0", True)
    assert new["header"].endswith("Headers/Both.h")
