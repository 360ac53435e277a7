"""Caches that prove themselves: real entries garbled, cut, emptied and swapped; the answer comes back.

Each test damages a real entry the suite wrote and asks the same question again: the entry is
removed with one line, the answer is made again in the same run, and it is the answer to that
question (never a traceback, never another question's answer). The ``network`` tests need PyPI
(uv's resolutions, the real macOS wheels); the others serve wheels from files or from a
package index on localhost.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from helpers.index import TABLE_1_2_0, a_wheel, recorded_index, serve_wheel
from helpers.paths import PYTHON, ROOT, TF_MAIN
from tfcompat.abi import macwheels, wheelfacts
from tfcompat.core import cache, config, macos
from tfcompat.hazard import wheelsource, xla
from tfcompat.index import wheels
from tfcompat.predict import pairmap
from tfcompat.resolve import macresolve
from tfcompat.upkeep import claims
from tfcompat.verify import provision

PYWRAP = "tensorflow/python/pywrap_tensorflow.py"


@pytest.fixture
def lines(caplog):
    """The cache's one-line messages, as the run prints them."""
    caplog.set_level(logging.WARNING, logger="tfcompat.core.cache")
    return lambda: [record.getMessage() for record in caplog.records if record.name == "tfcompat.core.cache"]


# The entry format itself


def garbled(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1 :]


DAMAGES = {
    "a byte of the answer garbled": (
        lambda data: garbled(data, len(data) - 3),
        "does not match its checksum",
    ),
    "a byte of the question garbled": (
        lambda data: garbled(data, data.index(b"2.17.0") + 2),
        "another question",
    ),
    "cut short": (lambda data: data[: len(data) // 2], "not a cache entry"),
    "empty": (lambda data: b"", "not a cache entry"),
    "the plain JSON older versions wrote": (lambda data: data.partition(b"\n")[2], "not a cache entry"),
}


@pytest.mark.fault(18)
@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_entry_is_removed_with_one_line(tmp_path, lines, damage):
    path, question = tmp_path / "entry.json", {"tf": "2.17.0"}
    cache.store_json(path, question, {"lock": "numpy==1.26.4\n"})
    change, why = DAMAGES[damage]
    path.write_bytes(change(path.read_bytes()))
    assert cache.load_json(path, question, valid=lambda value: True) is None
    assert not path.exists()
    [line] = lines()
    assert line.startswith(f"cache: {path}: ") and why in line and line.endswith("computing the answer again")


def test_an_entry_answers_only_its_own_question_and_shape(tmp_path, lines):
    path = tmp_path / "entry.json"
    cache.store_json(path, {"tf": "2.17.0"}, {"lock": "numpy==1.26.4\n"})
    shutil.copy(path, tmp_path / "copy.json")
    assert cache.load_json(path, {"tf": "2.17.0"}, valid=lambda value: "lock" in value) == {
        "lock": "numpy==1.26.4\n"
    }
    assert cache.load_json(path, {"tf": "2.16.1"}, valid=lambda value: True) is None
    assert (
        cache.load_json(
            tmp_path / "copy.json", {"tf": "2.17.0"}, valid=lambda value: "exclude_newer" in value
        )
        is None
    )
    assert [line.split(": ", 2)[2] for line in lines()] == [
        "made for another question; removed it, computing the answer again",
        "its content does not answer its question; removed it, computing the answer again",
    ]


# provision: the release date and the resolution, asked of real uv again


@pytest.fixture
def answers(tmp_path, monkeypatch):
    """``ask(tf)``: the release date and resolution of tensorflow-cpu ``tf``, in an empty cache."""
    monkeypatch.setenv("TFCOMPAT_CACHE", str(tmp_path / "cache"))
    interpreter, version = provision.find_interpreter(PYTHON, deadline=time.monotonic() + 60)

    def ask(tf: str = TF_MAIN) -> tuple:
        deadline = time.monotonic() + 300
        requirements = [f"tensorflow-cpu=={tf}"]
        exclude_newer = provision.release_date(requirements, interpreter, version, deadline=deadline)
        wheels = provision.resolve(requirements, (), interpreter, version, exclude_newer, deadline=deadline)
        return exclude_newer, wheels.packages, wheels.sdists, wheels.missing

    return ask


@pytest.mark.network
@pytest.mark.fault(18)
def test_a_garbled_release_date_and_resolution_are_asked_of_uv_again(tmp_path, answers, lines):
    first = answers()
    entries = sorted((tmp_path / "cache").rglob("*.json"))
    assert [path.parent.name for path in entries] == ["release", "resolve"]
    for path in entries:
        path.write_bytes(garbled(path.read_bytes(), path.stat().st_size - 5))
    assert answers() == first
    assert [line.split(": ", 2)[1:] for line in lines()] == [
        [str(path), "its content does not match its checksum; removed it, computing the answer again"]
        for path in entries
    ]
    assert answers() == first and len(lines()) == 2  # made again, whole


@pytest.mark.network
@pytest.mark.fault(18)
def test_another_releases_answer_under_this_ones_name_is_not_used(tmp_path, answers, lines):
    """TF 2.16.1's entries copied over TF 2.17.0's: 2.17.0 gets its own date and set again."""
    before = set((tmp_path / "cache").rglob("*.json")) if (tmp_path / "cache").exists() else set()
    mine = answers(TF_MAIN)
    my_entries = set((tmp_path / "cache").rglob("*.json")) - before
    theirs = answers("2.16.1")
    assert theirs != mine
    for path in my_entries:
        other = next(p for p in (path.parent).glob("*.json") if p not in my_entries)
        shutil.copy(other, path)
    assert answers(TF_MAIN) == mine
    assert len(lines()) == 2 and all("made for another question" in line for line in lines())


# macwheels: the facts read from a wheel


def serve(folder: Path, members: dict[str, bytes], *, name: str = "tensorflow", version: str = "2.99.0"):
    """A wheel file and its reference, as uv's resolution would give it (a file:// URL)."""
    wheel = folder / f"{name}-{version}-cp310-cp310-macosx_12_0_arm64.whl"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return wheels.WheelRef(name, version, wheel.name, wheel.as_uri(), digest, wheel.stat().st_size)


def member_data_offset(entry: bytes, member: str) -> int:
    """Where ``member``'s compressed bytes start inside a facts entry (after its header line)."""
    start = entry.index(b"\n") + 1
    archive = zipfile.ZipFile(io.BytesIO(entry[start:]))
    info = archive.getinfo(member)
    local = entry[start + info.header_offset :]
    name_length, extra_length = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
    return start + info.header_offset + 30 + name_length + extra_length


FACTS_DAMAGES = {
    "garbled inside the compressed meta.json": lambda entry: garbled(
        entry, member_data_offset(entry, "meta.json") + 20
    ),
    "garbled in the zip's directory": lambda entry: garbled(entry, len(entry) - 30),
    "garbled in the header": lambda entry: garbled(entry, 5),
    "cut short": lambda entry: entry[: len(entry) - 40],
    "empty": lambda entry: b"",
}


@pytest.mark.fault(18)
@pytest.mark.parametrize("damage", FACTS_DAMAGES)
def test_damaged_facts_are_read_again_from_the_wheel(tmp_path, lines, damage):
    text = "import ctypes\n_pywrap_tensorflow = ctypes.RTLD_LOCAL\n" * 200
    ref = serve(tmp_path / "served", {PYWRAP: text.encode()})
    root = tmp_path / "cache"
    first = macwheels.facts(ref, root=root)
    assert first.texts == {PYWRAP: text}
    entry = root / "facts" / f"{ref.sha256}.facts"
    entry.write_bytes(FACTS_DAMAGES[damage](entry.read_bytes()))
    again = macwheels.facts(ref, root=root)
    assert again.texts == {PYWRAP: text} and again.ref == ref
    [line] = lines()
    assert line.startswith(f"cache: {entry}: ") and line.endswith("removed it, computing the answer again")
    assert macwheels.facts(ref, root=root).texts == {PYWRAP: text} and len(lines()) == 1  # rebuilt whole


@pytest.mark.fault(18)
def test_facts_of_another_wheel_under_this_ones_name_are_not_used(tmp_path, lines):
    mine = serve(tmp_path / "a", {PYWRAP: b"# mine\n"})
    theirs = serve(tmp_path / "b", {PYWRAP: b"# theirs\n"})
    root = tmp_path / "cache"
    macwheels.facts(theirs, root=root)
    shutil.copy(root / "facts" / f"{theirs.sha256}.facts", root / "facts" / f"{mine.sha256}.facts")
    assert macwheels.facts(mine, root=root).texts == {PYWRAP: "# mine\n"}
    assert "made for another question" in lines()[0]


def test_facts_made_by_another_reader_are_read_again(tmp_path, lines, monkeypatch):
    ref = serve(tmp_path / "served", {PYWRAP: b"# v\n"})
    root = tmp_path / "cache"
    macwheels.facts(ref, root=root)
    monkeypatch.setattr(wheelfacts, "READER", "0" * 64)
    assert macwheels.facts(ref, root=root).texts == {PYWRAP: "# v\n"}
    assert "made for another question" in lines()[0]


@pytest.mark.parametrize(
    ("module", "changes"), [("macho.py", True), ("wheelfacts.py", True), ("dyld.py", False)]
)
def test_the_reader_key_is_the_hash_of_the_reading_code(tmp_path, module, changes):
    """A copy of the package with one module edited: the Mach-O reader or the wheel reader change
    the key (their facts are read again); the dyld model runs on every check and is not cached."""
    shutil.copytree(ROOT / "tfcompat", tmp_path / "tfcompat", ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / "tfcompat" / "abi" / module, "a") as source:
        source.write("\n# an edit\n")
    code = "import tfcompat.abi.wheelfacts as w, tfcompat; print(w.READER, tfcompat.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    reader, where = done.stdout.split()
    assert where.startswith(str(tmp_path))
    assert (reader != wheelfacts.READER) is changes


def _without_predictions(root: Path) -> Path:
    """A cache ``root`` with the suite's wheel facts, index answers and preflights, but none of
    the engine's predictions, so that the engine reads the wheels' facts again."""
    shutil.copytree(macwheels.cache_root(), root / "abi")
    shutil.copytree(config.cache_dir() / "map", root / "map", ignore=shutil.ignore_patterns("abi"))
    return root


@pytest.mark.network
@pytest.mark.fault(18)
def test_garbled_export_set_of_a_real_plugin_is_read_again_and_the_verdict_holds(
    tmp_path, lines, monkeypatch
):
    """Issue 14's traceback: bytes garbled inside a compressed member of the abi cache (zlib.error)."""
    mapped = pairmap.predict(tf=["2.18.0"], metal=["1.1.0"], log=lambda _: None)
    expected = mapped.cells["2.18.0", "1.1.0"]
    root = _without_predictions(tmp_path)
    entry = tmp_path / "abi" / "facts" / f"{mapped.metal[0].read.sha256}.facts"
    data = entry.read_bytes()
    entry.write_bytes(
        garbled(data, member_data_offset(data, "exports/tensorflow-plugins/libmetal_plugin.dylib") + 100)
    )
    monkeypatch.setattr(pairmap, "_plugin_sides", {})  # a new process's: the plugin is read from its facts
    result = pairmap.predict(tf=["2.18.0"], metal=["1.1.0"], root=root, log=lambda _: None)
    cell = result.cells["2.18.0", "1.1.0"]
    assert (cell["abi"], cell["first"]) == (expected["abi"], expected["first"])
    assert result.error is None
    assert [
        line.startswith(f"cache: {entry}: its content does not match its checksum") for line in lines()
    ] == [True]


@pytest.mark.network
@pytest.mark.fault(18)
def test_another_plugins_facts_never_answer_for_this_plugin(tmp_path, lines, monkeypatch):
    """1.2.0's facts under 1.1.0's name would turn TF 2.18 + 1.1.0's real failure into a load."""
    mapped = pairmap.predict(tf=["2.18.0"], metal=["1.1.0", "1.2.0"], log=lambda _: None)
    expected = mapped.cells["2.18.0", "1.1.0"]
    assert (mapped.cells["2.18.0", "1.2.0"]["abi"], expected["abi"]) == ("ok", "fail")
    root = _without_predictions(tmp_path)
    old, new = (release.read.sha256 for release in mapped.metal)
    facts = tmp_path / "abi" / "facts"
    shutil.copy(facts / f"{new}.facts", facts / f"{old}.facts")
    monkeypatch.setattr(pairmap, "_plugin_sides", {})  # a new process's: the plugin is read from its facts
    result = pairmap.predict(tf=["2.18.0"], metal=["1.1.0"], root=root, log=lambda _: None)
    cell = result.cells["2.18.0", "1.1.0"]
    assert (cell["abi"], cell["first"]) == ("fail", expected["first"])
    assert "made for another question" in lines()[0]


@pytest.mark.network
@pytest.mark.fault(18)
def test_a_garbled_or_swapped_resolution_is_asked_of_uv_again(tmp_path, lines):
    root = tmp_path / "abi"
    [old] = macwheels.resolve([("tensorflow-metal", "1.1.0")], python="3.10", root=root)
    [new] = macwheels.resolve([("tensorflow-metal", "1.2.0")], python="3.10", root=root)
    resolved = root / "resolved"
    path = resolved / "tensorflow-metal-1.1.0-py3.10.json"
    shutil.copy(resolved / "tensorflow-metal-1.2.0-py3.10.json", path)
    assert macwheels.resolve([("tensorflow-metal", "1.1.0")], python="3.10", root=root) == [old] != [new]
    path.write_bytes(garbled(path.read_bytes(), path.stat().st_size - 4))
    assert macwheels.resolve([("tensorflow-metal", "1.1.0")], python="3.10", root=root) == [old]
    assert ["made for another question" in lines()[0], "checksum" in lines()[1]] == [True, True]


# claims: the METADATA of the newest plugin wheel


@pytest.mark.fault(18)
def test_garbled_or_swapped_metadata_is_downloaded_again(tmp_path, monkeypatch, lines):
    with recorded_index(tmp_path / "cache", monkeypatch) as index:
        metadata = "Metadata-Version: 2.1\nName: tensorflow-metal\nVersion: 1.2.0\n\n" + TABLE_1_2_0
        wheel = a_wheel(metadata)
        sha256 = hashlib.sha256(wheel).hexdigest()
        serve_wheel(index, wheel, sha256)
        assert claims.newest_table() == claims.parse_table(TABLE_1_2_0, wheel="1.2.0")
        entry = tmp_path / "cache" / "claims" / f"{sha256}.METADATA"
        entry.write_bytes(garbled(entry.read_bytes(), entry.stat().st_size - 10))
        assert claims.newest_table() == claims.parse_table(TABLE_1_2_0, wheel="1.2.0")
        claims.remember_metadata(
            "0" * 64, "| tensorflow | tensorflow-metal |\n|---|---|\n| v2.99 | v1.2.0 |\n"
        )
        shutil.copy(tmp_path / "cache" / "claims" / f"{'0' * 64}.METADATA", entry)
        assert claims.newest_table() == claims.parse_table(TABLE_1_2_0, wheel="1.2.0")
    assert ["checksum" in lines()[0], "another question" in lines()[1], len(lines())] == [True, True, 2]


def test_no_cache_content_ends_in_a_traceback(tmp_path, lines):
    """Every single-byte change and every cut of a real facts entry: the facts come back whole."""
    ref = serve(tmp_path / "served", {PYWRAP: b"import ctypes\n" * 50})
    root = tmp_path / "cache"
    macwheels.facts(ref, root=root)
    entry = root / "facts" / f"{ref.sha256}.facts"
    good = entry.read_bytes()
    for at in range(0, len(good), 7):
        for damaged in (garbled(good, at), good[:at]):
            entry.write_bytes(damaged)
            assert macwheels.facts(ref, root=root).texts == {PYWRAP: "import ctypes\n" * 50}
    assert len(lines()) == 2 * len(range(0, len(good), 7))


# The caches of the hazard prediction: resolutions for a Mac, wheel sources, the judged section


@pytest.mark.fault(18)
def test_a_garbled_wheel_source_entry_is_read_from_the_wheel_again(tmp_path, lines):
    ref = serve(tmp_path / "served", {"demo/__init__.py": b"VALUE = 1\n" * 30}, name="demo", version="1.0")
    root = tmp_path / "cache"
    with wheelsource.SourceSet([ref], root=root) as sources:
        assert sources.read("demo/__init__.py") == "VALUE = 1\n" * 30
    [entry] = (root / wheelsource.FORMAT).glob("*.zip")
    entry.write_bytes(garbled(entry.read_bytes(), member_data_offset(entry.read_bytes(), "names.txt")))
    with wheelsource.SourceSet([ref], root=root) as sources:
        assert sources.read("demo/__init__.py") == "VALUE = 1\n" * 30
    assert [
        line.startswith(f"cache: {entry}: its content does not match its checksum") for line in lines()
    ] == [True]


@pytest.mark.network
@pytest.mark.fault(18)
def test_garbled_or_swapped_resolutions_for_a_mac_are_asked_of_uv_again(tmp_path, lines):
    reqs_17, reqs_16 = macos.requirements("2.17.0", "1.1.0"), macos.requirements("2.16.1", "1.1.0")

    def ask(reqs):
        date = macresolve.release_date(reqs, python="3.10", cache_dir=tmp_path)
        return date, macresolve.resolve(reqs, python="3.10", exclude_newer=date, cache_dir=tmp_path)

    mine = ask(reqs_17)
    my_entries = sorted(tmp_path.rglob("*.json"))
    assert ask(reqs_16) != mine
    for path in my_entries:
        path.write_bytes(garbled(path.read_bytes(), path.stat().st_size - 5))
    assert ask(reqs_17) == mine
    others = [p for p in sorted(tmp_path.rglob("*.json")) if p not in my_entries]
    for path, other in zip(my_entries, others, strict=True):
        shutil.copy(other, path)
    assert ask(reqs_17) == mine
    assert ["checksum" in line for line in lines()[:2]] == [True, True]
    assert ["another question" in line for line in lines()[2:]] == [True, True]


@pytest.mark.network
@pytest.mark.fault(18)
def test_a_garbled_hazard_section_is_judged_again(tmp_path, lines):
    expected = xla.predict(tf="2.11.0", metal="0.7.0", python="3.10")  # warm in the suite's cache
    for kind in ("macresolve", "wheelsource", "hazard"):
        shutil.copytree(config.cache_dir() / kind, tmp_path / kind)
    for entry in (tmp_path / "hazard").rglob("*.json"):
        entry.write_bytes(garbled(entry.read_bytes(), entry.stat().st_size - 5))
    assert xla.predict(tf="2.11.0", metal="0.7.0", python="3.10", cache_dir=tmp_path) == expected
    assert any("hazard" in line and "checksum" in line for line in lines())


@pytest.mark.network
@pytest.mark.fault(18)
def test_a_cached_no_prediction_is_never_taken_for_an_answer(tmp_path, lines):
    """A hazard entry whose checksum holds but which says "no prediction" is judged again."""
    expected = xla.predict(tf="2.11.0", metal="0.7.0", python="3.10")  # warm in the suite's cache
    for kind in ("macresolve", "wheelsource", "hazard"):
        shutil.copytree(config.cache_dir() / kind, tmp_path / kind)
    wheels = xla.WheelSet.of(tf="2.11.0", metal="0.7.0", python="3.10", cache=tmp_path)
    question = xla._question(xla.MAC, wheels.wheels)
    path = cache.entry_path(tmp_path / "hazard" / xla.FORMAT, question)
    cache.store_json(path, question, xla.no_prediction("the index was unreachable"))
    assert xla.predict(tf="2.11.0", metal="0.7.0", python="3.10", cache_dir=tmp_path) == expected
    assert any("does not answer its question" in line for line in lines())


@pytest.mark.network
@pytest.mark.fault(18)
def test_a_map_prediction_entry_of_the_wrong_shape_is_predicted_again(tmp_path, lines):
    """An entry whose checksum holds but whose answer is not a prediction (a verdict of
    "maybe") is removed with one line, and the cells are predicted again from the wheels."""
    from tfcompat.predict import pairmap

    root = config.cache_dir()  # the suite's warm cache: the wheels' facts are read from there
    tf_releases, metal_releases, _ = pairmap.releases(root=root, log=lambda _: None)
    tf = next(release for release in tf_releases if release.version == "2.12.0")
    plugins = [(m.version, m.read.ref) for m in metal_releases if m.version in ("0.7.0", "0.8.0")]
    expected, _ = pairmap.predict_release(tf.read.ref, plugins, root)
    shutil.copytree(root / "abi", tmp_path / "abi")
    path, question = pairmap._predictions_entry(tf.read.ref, tmp_path)
    cache.store_json(path, question, {ref.sha256: {"abi": "maybe"} for _, ref in plugins})
    assert pairmap.predict_release(tf.read.ref, plugins, tmp_path)[0] == expected
    assert expected["0.8.0"]["abi"] == "ok" and expected["0.7.0"]["abi"] in ("ok", "fail")
    assert any("does not answer its question" in line for line in lines())
