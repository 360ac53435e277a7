"""The map (``nox -s map``) and the binary-only resolution behind its preflights and verify.

Everything here is real: the package index, the macOS arm64 wheels (read through the suite's
cache, ``$TFCOMPAT_CACHE``, so a second run downloads nothing), uv resolving for
aarch64-apple-darwin from this machine, and the nox sessions. The index that "gains a release"
is a local HTTP server serving PyPI's own answers with releases held back.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from helpers.index import LocalIndex, Response
from helpers.matrix import write_matrix
from helpers.network import OFFLINE
from helpers.paths import PYTHON
from helpers.sessions import MAP_ARGS, run_nox
from tfcompat.abi import macwheels
from tfcompat.core import config
from tfcompat.core.config import cache_dir
from tfcompat.core.matrix import load_matrix
from tfcompat.core.record import load_record
from tfcompat.index import pypi, wheels
from tfcompat.index.snapshot import IndexSnapshot, upstream
from tfcompat.predict import pairmap
from tfcompat.resolve import binaryonly, macresolve, resolver

PEP_691 = "application/vnd.pypi.simple.v1+json"
LOG_MESSAGE = "__ZN3tsl8internal10LogMessageC1EPKcii"
ATTR_VALUE = "__ZN10tensorflow28_AttrValue_default_instance_E"
#: Final releases on the index on 2026-11-25 (macos-wheels.md); later ones only add to them.
TF_RELEASES = (
    "2.5.0 2.6.0 2.7.0 2.8.0 2.9.0 2.9.1 2.9.2 2.10.0 2.11.0 2.12.0 2.13.0 2.13.1 2.14.0 2.14.1 "
    "2.15.0 2.15.1 2.16.1 2.16.2 2.17.0 2.17.1 2.18.0 2.18.1 2.19.0 2.19.1 2.20.0 2.21.0"
).split()
METAL_RELEASES = (
    "0.1.0 0.1.1 0.1.2 0.2.0 0.3.0 0.4.0 0.5.0 0.5.1 0.6.0 0.7.0 0.7.1 0.8.0 1.0.0 1.0.1 1.1.0 1.2.0".split()
)


def _sessions(reports: Path) -> list[Path]:
    """The map records, oldest first: by their start time (two warm runs can start within the
    same second, which is all a record's id holds of it)."""
    return sorted((reports / "sessions").glob("map-*.json"), key=lambda path: load_record(path).started)


# What the map is made of: the index's releases, not the matrix.


@pytest.mark.network
def test_releases_come_from_the_index_with_the_package_that_holds_the_binaries() -> None:
    tf_releases, metal_releases, _ = pairmap.releases(root=cache_dir(), log=lambda _: None)
    tf = {release.version: release for release in tf_releases}
    metal = {release.version: release for release in metal_releases}
    assert set(TF_RELEASES) <= set(tf) and set(METAL_RELEASES) <= set(metal)
    assert not [version for version in [*tf, *metal] if "rc" in version or "dev" in version]
    # tensorflow-macos holds the binaries up to 2.15.0; from 2.15.1 its wheel is a 2 kB stub.
    assert tf["2.15.0"].read.name == "tensorflow-macos" and tf["2.15.1"].read.name == "tensorflow"
    assert (tf["2.12.0"].install["3.10"].name, tf["2.13.0"].install["3.10"].name) == (
        "tensorflow-macos",
        "tensorflow",
    )
    # A Python counts when the wheel a user installs and the one with the binaries both exist:
    # tensorflow 2.13.1 (the stub) has a cp38 wheel, tensorflow-macos 2.13.1 has none.
    assert "3.8" in tf["2.13.1"].install and tf["2.13.1"].pythons == ["3.9", "3.10", "3.11"]
    assert tf["2.21.0"].pythons == ["3.10", "3.11", "3.12", "3.13"]
    assert metal["1.2.0"].pythons == ["3.9", "3.10", "3.11", "3.12"]
    # One wheel per release is read: the matrix default's (cp310), else the newest Python's.
    assert (tf["2.18.0"].read.python, tf["2.8.0"].read.python, metal["0.4.0"].read.python) == (
        "3.10",
        "3.9",
        "3.9",
    )


@pytest.mark.network
def test_the_plugin_library_is_the_same_file_in_every_python_tag(tmp_path: Path) -> None:
    """Why one tensorflow-metal wheel per release stands for all its Pythons."""
    listed = pypi.macos_wheels("tensorflow-metal")
    files = next(files for version, files in listed.items() if str(version) == "1.2.0")
    assert len(files) == 4
    libraries = set()
    for wheel in files:
        ref = wheels.WheelRef("tensorflow-metal", "1.2.0", wheel.filename, wheel.url, wheel.sha256, 0)
        with zipfile.ZipFile(wheels.download(ref, tmp_path)) as archive:
            libraries.add(archive.read("tensorflow-plugins/libmetal_plugin.dylib"))
    assert len(libraries) == 1


# The map's predictions against the matrix's rows (one TensorFlow side shared by the plugins).


@pytest.mark.slow
@pytest.mark.network
def test_the_map_agrees_with_every_matrix_row(tmp_path: Path) -> None:
    """Each TensorFlow release is loaded once and every plugin of the matrix's rows dlopened in
    a fork of it, as the map does; each answer equals the row's own, asked of the same engine
    as an ``abi`` session asks it (``pairmap.predict`` for one pair runs ``predict_release`` with
    that one plugin against a TensorFlow loaded for it): here in a new process per row, so
    nothing one plugin leaves in a shared TensorFlow, or a worker keeps, can change another's
    answer. Predictions are made afresh: the prediction caches are temporary folders, the
    wheels' facts come from the suite's cache."""
    tf_releases, metal_releases, _ = pairmap.releases(root=cache_dir(), log=lambda _: None)
    tf = {release.version: release for release in tf_releases}
    metal = {release.version: release for release in metal_releases}
    rows = [row for row in load_matrix().rows if row.has_plugin and row.tf in tf and row.metal in metal]
    assert len(rows) == 25  # the 26 rows but 2.16.0rc0 + 1.1.0: the map has final releases only
    compared, own, mapping = {}, {}, _facts_only(tmp_path / "map")
    with pairmap._process_pool() as pool:  # as the map runs them: one worker process per core
        futures = {
            version: pool.submit(
                pairmap.predict_release,
                tf[version].read.ref,
                [(row.metal, metal[row.metal].read.ref) for row in rows if row.tf == version],
                mapping,
            )
            for version in sorted({row.tf for row in rows})
        }
        for version, future in futures.items():
            compared |= {(version, name): answer for name, answer in future.result()[0].items()}
    # A new process per row: no TensorFlow or plugin side kept from another row. The wheels
    # are the ones an abi session reads (``MapRelease.read``), whatever the row's Python.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(2, mp_context=context, max_tasks_per_child=1) as pool:
        futures = {
            row.number: pool.submit(
                pairmap.predict_release,
                tf[row.tf].read.ref,
                [(row.metal, metal[row.metal].read.ref)],
                _facts_only(tmp_path / f"row-{row.number}"),
            )
            for row in rows
        }
        for number, future in futures.items():
            own[number] = future.result()[0]
    fields = ("abi", "first", "unresolved_count", "unresolved", "second", "min_macos", "floors")
    for row in rows:
        mine, theirs = compared[row.tf, row.metal], own[row.number][row.metal]
        assert [mine[key] for key in fields] == [theirs[key] for key in fields], row.label
    # The public truths, from real Macs.
    assert compared["2.18.0", "1.1.0"]["first"].splitlines()[0] == f"Symbol not found: {LOG_MESSAGE}"
    assert compared["2.17.0", "1.1.0"]["abi"] == "ok"
    # And the matrix's verdicts as docs/abi.md gives them.
    failing = {key for key, answer in compared.items() if answer["abi"] == "fail"}
    assert failing == {
        ("2.21.0", "1.2.0"),
        ("2.20.0", "1.2.0"),
        ("2.20.0", "1.1.0"),
        ("2.19.0", "1.1.0"),
        ("2.18.0", "1.1.0"),
        ("2.11.0", "0.8.0"),
        ("2.10.0", "0.7.0"),
    }


def _facts_only(root: Path) -> Path:
    """A cache root that shares the suite's wheel facts and nothing else."""
    root.mkdir(parents=True)
    (root / "abi").symlink_to(macwheels.cache_root(), target_is_directory=True)
    return root


# The session: one record per run, any OS, no matrix needed.


def _cells(run) -> dict:
    (path,) = _sessions(run.reports)
    return {(cell.tf, cell.metal): cell for cell in load_record(path).map.cells}


@pytest.mark.slow
@pytest.mark.network
def test_nox_map_writes_one_map_record(map_run) -> None:
    assert "map: tf 2.20.0: 0 plugins load, 4 fail" in map_run.done.stderr
    (path,) = _sessions(map_run.reports)
    assert path.name.startswith("map-")
    record = load_record(path)
    assert (record.kind, record.row, record.verdict, record.map.error) == ("map", None, "ok", None)
    assert [r.version for r in record.map.tf_releases] == ["2.5.0", "2.11.0", "2.12.0", "2.20.0"]
    assert record.map.tf_releases[-1].wheel.filename == "tensorflow-2.20.0-cp310-cp310-macosx_12_0_arm64.whl"
    assert [r.version for r in record.map.metal_releases] == ["0.1.2", "0.7.0", "0.8.0", "1.2.0"]
    cells = _cells(map_run)
    assert len(cells) == 16
    new = cells["2.20.0", "1.2.0"]
    assert (new.abi, new.first.splitlines()[0], new.min_macos) == (
        "fail",
        "Library not loaded: @rpath/_pywrap_tensorflow_internal.so",
        "12.1",
    )
    assert new.second.first.splitlines()[0] == f"Symbol not found: {ATTR_VALUE}"
    # A preflight for each Python both releases have wheels for, and only those.
    assert list(new.pythons) == ["3.9", "3.10", "3.11", "3.12"]
    assert list(cells["2.20.0", "0.1.2"].pythons) == ["3.9"]
    for preflight in [*new.pythons.values(), *cells["2.20.0", "0.1.2"].pythons.values()]:
        assert (preflight.status, preflight.missing, preflight.exclude_newer_package) == ("installs", [], {})
        assert "tensorflow==2.20.0" in preflight.packages
    assert "tensorflow-metal==1.2.0" in new.pythons["3.12"].packages
    assert new.pythons["3.12"].exclude_newer.startswith("2025-")


@pytest.mark.slow
@pytest.mark.network
def test_a_map_record_carries_hazards_and_install_commands(map_run) -> None:
    """The cells that load carry the training hazard (from the Keras of the preflight's set,
    computed once per TensorFlow wheel and Keras), and each Python that installs carries the
    command that works today; a cell predicted not to load carries neither."""
    cells = _cells(map_run)
    xla = cells["2.11.0", "0.7.0"].hazard
    assert (xla.kind, xla.predicted, xla.keras) == ("xla", "fails", "keras 2.11.0")
    assert (
        xla.workaround
        == "tf.keras.optimizers.legacy.Adam, or tf.keras.optimizers.Adam(..., jit_compile=False)"
    )
    assert (cells["2.12.0", "0.8.0"].hazard.predicted, cells["2.12.0", "0.8.0"].hazard.keras) == (
        "ok",
        "keras 2.12.0",
    )
    # Not installable from wheels (numpy 1.19): the pair is resolved for its hazard alone.
    assert cells["2.5.0", "0.1.2"].pythons["3.9"].status == "not_installable"
    assert cells["2.5.0", "0.1.2"].hazard.keras == "tensorflow-macos 2.5.0 (tensorflow.python.keras)"
    install = cells["2.11.0", "0.7.0"].pythons["3.10"].install
    assert install.works and install.pins[0] == "numpy<2" and '"numpy<2"' in install.command
    assert install.reason.startswith("today pip takes numpy 2.")
    assert cells["2.12.0", "0.8.0"].pythons["3.11"].install.pins == []
    # Predicted not to load (flat-namespace symbols): nothing to recommend.
    failing = cells["2.11.0", "0.8.0"]
    assert failing.abi == "fail" and failing.hazard is None
    assert [p.install for p in failing.pythons.values()] == [None] * len(failing.pythons)
    loads = [key for key, cell in cells.items() if cell.abi == "ok"]
    assert all(cells[key].hazard is not None for key in loads)
    # Cells that share TensorFlow's wheel and Keras (2.12.0 with 0.7.0 and with 0.8.0) share one
    # question: one hazard is computed per distinct (TensorFlow, Keras).
    distinct = {(tf, cells[tf, metal].hazard.keras) for tf, metal in loads}
    assert len(distinct) < len(loads)
    assert re.search(
        rf"map: hazards: {len(distinct)} distinct questions for {len(loads)} loadable cells",
        map_run.done.stderr,
    )


@pytest.mark.slow
@pytest.mark.network
def test_a_run_without_network_uses_the_last_index_answer_and_says_so(map_run, tmp_path: Path) -> None:
    """The same map again, every connection through a closed port: the index's answers cached
    by the shared run are used, and said so; the record is written."""
    reports = tmp_path / "reports"
    args = ["-s", "map", "--", *MAP_ARGS]
    done = run_nox(*args, matrix=tmp_path / "m.toml", reports=reports, env=OFFLINE)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cannot reach the package index" in done.stderr and "using the answer cached" in done.stderr
    (path,) = _sessions(reports)
    assert load_record(path).map.cells == load_record(_sessions(map_run.reports)[0]).map.cells


@pytest.mark.fault(8)
def test_no_network_and_nothing_cached_is_no_verdict_in_one_line(tmp_path: Path) -> None:
    env = {**OFFLINE, "TFCOMPAT_CACHE": str(tmp_path / "cache")}
    done = run_nox("-s", "map", matrix=tmp_path / "m.toml", reports=tmp_path / "reports", env=env)
    assert done.returncode == 1
    (line,) = [line for line in done.stderr.splitlines() if "Session map" in line]
    assert line.startswith(
        "nox > Session map aborted: no verdict: https://pypi.org/simple/tensorflow-macos/: "
    )
    assert re.search(
        r"; no earlier answer is cached: connect to the index and rerun( \(took [^)]*\))?\.$", line
    )
    assert not (tmp_path / "reports" / "sessions").exists()


@pytest.mark.network
def test_an_unknown_release_or_option_is_one_line(tmp_path: Path) -> None:
    for args, message in (
        (["--tf", "2.99.0"], "TensorFlow 2.99.0: no release with a macOS arm64 wheel on the index"),
        (["--bogus"], "bad options after --: see nox -s map -- --help"),
    ):
        done = run_nox("-s", "map", "--", *args, matrix=tmp_path / "m.toml", reports=tmp_path / "r")
        assert done.returncode == 1
        assert re.search(
            rf"nox > Session map aborted: {re.escape(message)}( \(took [^)]*\))?\.\n", done.stderr
        )


# The map stays current by itself: a release new on the index is a new column at the next run.


@pytest.fixture
def pypi_mirror(monkeypatch: pytest.MonkeyPatch):
    """A local PEP 691 index serving PyPI's real answers, minus the versions in ``hidden``, and
    serving ``damaged[filename]`` (bytes) in place of that wheel."""
    hidden: dict[str, set[str]] = {}
    damaged: dict[str, bytes] = {}
    answers: dict[str, dict] = {}

    def _damaged(entry: dict) -> dict:
        data = damaged[entry["filename"]]
        digest = hashlib.sha256(data).hexdigest()
        return {
            **entry,
            "url": f"/files/{entry['filename']}",
            "hashes": {"sha256": digest},
            "size": len(data),
        }

    def answer(path: str) -> Response:
        name = path.strip("/").split("/")[-1]
        if path.startswith("/files/"):
            return Response(body=damaged[name])
        if name not in answers:
            answers[name] = _pypi(name)
        files = [
            _damaged(entry) if entry["filename"] in damaged else entry
            for entry in answers[name]["files"]
            if not any(f"-{v}-" in entry["filename"] for v in hidden.get(name, set()))
        ]
        return Response(kind=PEP_691, body=json.dumps({**answers[name], "files": files}).encode())

    with LocalIndex(fallback=answer) as server:
        yield server.simple, hidden, damaged
    monkeypatch.setenv(config.INDEX_ENV, server.simple)
    for name in (*pairmap.TENSORFLOW, pairmap.PLUGIN):
        pairmap.index_cache(name, cache_dir()).unlink(missing_ok=True)  # this index is gone


def _pypi(name: str) -> dict:
    """PyPI's own PEP 691 answer (the test process points the suite at the local index)."""
    request = urllib.request.Request(f"{config.DEFAULT_INDEX}{name}/", headers={"Accept": PEP_691})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.mark.network
def test_a_new_release_on_the_index_is_a_new_row_or_column(
    pypi_mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, hidden, _ = pypi_mirror
    monkeypatch.setenv(config.INDEX_ENV, url)
    hidden |= {"tensorflow": {"2.21.0"}, "tensorflow-metal": {"1.2.0"}}
    before = pairmap.releases(root=cache_dir(), log=lambda _: None)
    hidden.clear()
    after = pairmap.releases(root=cache_dir(), log=lambda _: None)
    versions = [[release.version for release in releases] for releases in (*before[:2], *after[:2])]
    assert set(versions[2]) - set(versions[0]) == {"2.21.0"}
    assert set(versions[3]) - set(versions[1]) == {"1.2.0"}


@pytest.mark.slow
@pytest.mark.network
def test_nox_map_follows_the_index_without_a_matrix(pypi_mirror, tmp_path: Path) -> None:
    """The index offers tensorflow-metal 1.1.0 alone, then 1.1.0 and 1.2.0 (every other release
    held back, so that the map has one cell, then two): the next run has the new column."""
    url, hidden, _ = pypi_mirror
    reports = tmp_path / "reports"
    env = {config.INDEX_ENV: url}
    args = ["-s", "map", "--", "--tf", "2.19.0"]
    released = {entry["filename"].split("-")[1] for entry in _pypi("tensorflow-metal")["files"]}
    hidden["tensorflow-metal"] = released - {"1.1.0"}
    first = run_nox(*args, matrix=tmp_path / "none.toml", reports=reports, env=env)
    hidden["tensorflow-metal"] = released - {"1.1.0", "1.2.0"}
    second = run_nox(*args, matrix=tmp_path / "none.toml", reports=reports, env=env)
    assert (first.returncode, second.returncode) == (0, 0), second.stderr[-3000:]
    old, new = (load_record(path).map for path in _sessions(reports))
    assert [[r.version for r in m.metal_releases] for m in (old, new)] == [["1.1.0"], ["1.1.0", "1.2.0"]]
    column = next(cell for cell in new.cells if cell.metal == "1.2.0")
    assert (column.tf, column.abi, column.first) == ("2.19.0", "ok", None)
    assert column.pythons["3.12"].status == "installs"


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.fault(16)
def test_a_damaged_wheel_leaves_its_cells_without_a_verdict_and_keeps_the_rest(
    pypi_mirror, tmp_path: Path
) -> None:
    url, _, damaged = pypi_mirror
    damaged["tensorflow_metal-1.2.0-cp310-cp310-macosx_12_0_arm64.whl"] = b"<html>not a wheel</html>"
    reports = tmp_path / "reports"
    args = ["-s", "map", "--", "--tf", "2.19.0", "--metal", "1.2.0", "--metal", "1.1.0"]
    done = run_nox(*args, matrix=tmp_path / "m.toml", reports=reports, env={config.INDEX_ENV: url})
    assert done.returncode == 1
    reason = "tensorflow_metal-1.2.0-cp310-cp310-macosx_12_0_arm64.whl: not a zip archive"
    assert (
        f"Session map aborted: no verdict: 1 predictions, preflights, hazards or install commands without an answer; the first: {reason}"
        in (done.stderr)
    )
    (path,) = _sessions(reports)
    record = load_record(path)
    assert (record.verdict, record.map.error.endswith(reason)) == ("error", True)
    cells = {cell.metal: cell for cell in record.map.cells}
    assert (cells["1.2.0"].abi, cells["1.2.0"].error) == (None, reason)
    assert cells["1.2.0"].pythons["3.12"].status == "installs"  # the preflight has its answer
    assert (cells["1.1.0"].abi, cells["1.1.0"].first.splitlines()[0]) == (
        "fail",
        f"Symbol not found: {LOG_MESSAGE}",
    )


# Binary wheels only: the preflight's and verify's resolution, for macOS arm64 from here.


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory):
    """The map's way to resolve: the run's snapshot of the index, a uv cache of its own."""
    with IndexSnapshot() as url:
        yield {"index_url": url, "uv_cache": tmp_path_factory.mktemp("uv-cache")}


def _through(snapshot: dict) -> resolver.Index:
    """The run's snapshot of the index and its own uv cache, as a resolver is pointed at them."""
    return resolver.Index(url=snapshot["index_url"], uv_cache=snapshot["uv_cache"])


@pytest.mark.slow  # uv resolves a whole TensorFlow set for a Mac against the index
@pytest.mark.network
def test_the_snapshot_serves_the_index_own_pages_as_fresh(snapshot) -> None:
    """Each page is the index's answer (file URLs made absolute), marked fresh so that uv reads
    it once per run; resolving through it gives what resolving against the index gives."""
    request = urllib.request.Request(f"{snapshot['index_url']}tensorflow-metal/", headers={"Accept": PEP_691})
    with urllib.request.urlopen(request, timeout=60) as response:
        served, cache_control = json.loads(response.read()), response.headers["Cache-Control"]
    assert cache_control.startswith("max-age=")
    direct = pypi.index_answer("tensorflow-metal")
    for entry in direct["files"]:
        entry["url"] = urllib.parse.urljoin(pypi.project_url("tensorflow-metal"), entry["url"])
    # Each file points back at the snapshot (its metadata is served fresh), and maps back.
    assert all(
        entry["url"].startswith(snapshot["index_url"].removesuffix("simple/")) for entry in served["files"]
    )
    for entry in served["files"]:
        entry["url"] = upstream(entry["url"])
        if entry["filename"].endswith(".whl"):
            assert entry.pop("core-metadata") is True  # PyPI has it; this machine's proxy drops it
    assert served == direct
    pair = ["tensorflow==2.18.0", "tensorflow-metal==1.2.0"]
    through = binaryonly.resolve(
        pair, target=_mac("3.12", "12.0"), exclude_newer="2025-02-01T00:00:00Z", index=_through(snapshot)
    )
    against = binaryonly.resolve(pair, target=_mac("3.12", "12.0"), exclude_newer="2025-02-01T00:00:00Z")
    assert through.packages == against.packages and "tensorflow-metal==1.2.0" in through.packages


@pytest.mark.network
def test_a_resolution_does_not_depend_on_what_uv_has_cached(tmp_path: Path) -> None:
    """uv --offline passes over the versions whose metadata it has not cached and answers with
    an older set (seen: protobuf 3.17.3 for ``protobuf<3.20`` as of 2022-06, where 3.19.4 is
    right; 123 of 869 preflights of the map changed between two runs, when the map resolved
    from uv's cache first). A warm cache holding only the older version must not change the
    answer, through the index or through the map's snapshot of it."""
    asked = {"target": _mac("3.10"), "exclude_newer": "2022-06-01T00:00:00Z"}
    warm = resolver.Index(uv_cache=tmp_path / "uv")
    assert "protobuf==3.17.3" in binaryonly.resolve(["protobuf==3.17.3"], index=warm, **asked).packages
    assert binaryonly.resolve(["protobuf<3.20"], index=warm, **asked).packages == ["protobuf==3.19.4"]
    with IndexSnapshot() as url:
        through = binaryonly.resolve(
            ["protobuf<3.20"], index=resolver.Index(url=url, uv_cache=warm.uv_cache), **asked
        )
    assert through.packages == ["protobuf==3.19.4"]


@pytest.mark.slow  # uv resolves a whole TensorFlow set for a Mac against the index
@pytest.mark.network
def test_the_snapshot_serves_a_wheels_metadata_even_where_the_index_has_none(snapshot) -> None:
    """tensorflow-metal 0.8.0's wheels were never given a ``.metadata`` file on PyPI: the
    snapshot reads METADATA from the wheel itself with range requests, as uv would have."""
    page = json.loads(urllib.request.urlopen(f"{snapshot['index_url']}tensorflow-metal/", timeout=60).read())
    (entry,) = [
        e
        for e in page["files"]
        if e["filename"] == "tensorflow_metal-0.8.0-cp310-cp310-macosx_12_0_arm64.whl"
    ]
    with pytest.raises(urllib.error.HTTPError):  # the index itself: 404
        urllib.request.urlopen(upstream(entry["url"]) + ".metadata", timeout=60)
    with urllib.request.urlopen(entry["url"] + ".metadata", timeout=60) as response:
        metadata, fresh = response.read().decode(), response.headers["Cache-Control"]
    assert "Name: tensorflow-metal\n" in metadata and "Version: 0.8.0\n" in metadata
    assert fresh.startswith("max-age=")
    # What uv resolves through the snapshot names the index's files, never the snapshot's.
    pins = macresolve.resolve(
        ["tensorflow-metal==0.8.0"],
        python="3.10",
        exclude_newer=None,
        index=_through(snapshot),
        cache_dir=snapshot["uv_cache"].parent / "macresolve-cache",
    )
    assert [pin.url for pin in pins if pin.name == "tensorflow-metal"] == [upstream(entry["url"])]
    assert all(pin.url.startswith("https://") for pin in pins)


def _mac(python: str, macos: str = "11.0") -> binaryonly.Target:
    return resolver.Target(python=python, platform="aarch64-apple-darwin", macos=macos)


@pytest.mark.slow  # uv resolves a whole TensorFlow set for a Mac against the index
@pytest.mark.network
def test_tf_2_5_is_not_installable_from_wheels_on_a_mac() -> None:
    """numpy 1.19 never had a macOS arm64 wheel: Apple's route was conda's tensorflow-deps."""
    with pytest.raises(binaryonly.NotInstallable) as caught:
        binaryonly.resolve(
            ["tensorflow-macos==2.5.0", "tensorflow-metal==0.1.2"],
            target=_mac("3.9"),
            exclude_newer="2021-08-05T00:00:00Z",
        )
    assert caught.value.requirement == "numpy>=1.19.2,<=1.19.5"
    assert caught.value.missing == ["numpy>=1.19.2,<=1.19.5"]
    assert str(caught.value) == (
        "numpy>=1.19.2,<=1.19.5: no wheel for CPython 3.9 on macOS 11.0 arm64 as of 2021-08-05, then or since"
    )


@pytest.mark.slow  # uv resolves a whole TensorFlow set for a Mac against the index
@pytest.mark.network
def test_tf_2_8_installs_with_the_first_arm64_wheels_of_what_it_lacked(snapshot) -> None:
    """At its release h5py, wrapt and grpcio had no arm64 wheel for CPython 3.9: each is taken
    as of the first final release that had one, everything else as of TF 2.8's release."""
    requirements = ["tensorflow-macos==2.8.0", "tensorflow-metal==0.4.0"]
    released = "2022-02-18T15:58:38Z"
    with pytest.raises(binaryonly.NotInstallable) as caught:
        binaryonly.resolve(requirements, target=_mac("3.9"), exclude_newer=released, later=False)
    assert caught.value.requirement == "h5py>=2.9.0"
    wheels = binaryonly.resolve(
        requirements, target=_mac("3.9"), exclude_newer=released, index=_through(snapshot)
    )
    assert wheels.missing == ["h5py>=2.9.0", "wrapt>=1.11.0", "grpcio>=1.24.3"]
    assert sorted(wheels.later) == ["grpcio", "h5py", "wrapt"]
    assert all(date > released for date in wheels.later.values())
    pins = dict(pin.split("==") for pin in wheels.packages)
    assert (pins["tensorflow-macos"], pins["h5py"], pins["numpy"]) == ("2.8.0", "3.7.0", "1.22.2")
    assert not [pin for pin in wheels.packages if "rc" in pin]  # final releases, not grpcio 1.52.0rc1


@pytest.mark.slow  # uv resolves a whole TensorFlow set for a Mac against the index
@pytest.mark.network
def test_a_package_with_no_wheel_anywhere_is_built_like_pip_does(snapshot) -> None:
    """termcolor 1.1.0 (pure Python) is an sdist only, on every platform: it does not make
    TF 2.9 on CPython 3.10 uninstallable; grpcio, with wheels for others but none for arm64
    CPython 3.9, does on 3.9."""
    requirements = ["tensorflow-macos==2.9.0", "tensorflow-metal==0.5.0"]
    wheels = binaryonly.resolve(
        requirements, target=_mac("3.10"), exclude_newer="2022-06-10T00:00:00Z", index=_through(snapshot)
    )
    assert (wheels.missing, wheels.later, wheels.sdists) == ([], {}, ["termcolor"])
    assert "termcolor==1.1.0" in wheels.packages
    wheels = binaryonly.resolve(
        requirements, target=_mac("3.9"), exclude_newer="2022-06-10T00:00:00Z", index=_through(snapshot)
    )
    assert wheels.missing == ["grpcio>=1.24.3"]


@pytest.mark.network
def test_the_map_preflight_records_the_requirement_and_is_cached(tmp_path: Path) -> None:
    tf_releases, metal_releases, _ = pairmap.releases(root=cache_dir(), log=lambda _: None)
    tf = next(release for release in tf_releases if release.version == "2.5.0")
    metal = next(release for release in metal_releases if release.version == "0.1.2")
    answer = pairmap.preflight(tf, metal, "3.9", root=tmp_path)
    assert (answer["status"], answer["requirement"]) == ("not_installable", "numpy>=1.19.2,<=1.19.5")
    assert answer["exclude_newer"].startswith("2021-")
    (cached,) = (tmp_path / "map" / "preflight").rglob("*.json")
    cached.write_text("{damaged")  # never trusted: computed again
    assert pairmap.preflight(tf, metal, "3.9", root=tmp_path) == answer
    assert pairmap._cached_preflight(tf, metal, "3.9", tmp_path) == answer
    other = next(release for release in metal_releases if release.version == "0.1.1")
    shutil.copy(cached, pairmap._preflight_entry(tf, other, "3.9", tmp_path)[0])
    assert pairmap._cached_preflight(tf, other, "3.9", tmp_path) is None  # it answers another pair


@pytest.mark.network
def test_a_verify_row_with_no_wheel_set_is_not_installable_in_seconds(tmp_path: Path) -> None:
    """The real path of verify on this machine: grpcio 1.48.2 has wheels up to CPython 3.10
    only, so pinned under TF 2.17 on the suite's Python (3.11 or newer) nothing installs it but
    a build from source."""
    matrix = write_matrix(
        tmp_path / "m.toml", [{"tf": "2.17.0", "metal": "none", "constraints": ["grpcio==1.48.2"]}]
    )
    reports = tmp_path / "reports"
    done = run_nox("-s", "verify(tf='2.17.0', metal='none')", matrix=matrix, reports=reports, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    reason = f"not installable from wheels: grpcio==1.48.2: no wheel for CPython {PYTHON} on this machine as of 2024-07-"
    assert f"Session verify(tf='2.17.0', metal='none') skipped: {reason}" in done.stderr
    (path,) = sorted((reports / "sessions").glob("verify-*.json"))
    record = load_record(path)
    assert (record.verdict, record.provision.status, record.provision.signature) == (
        "not_installable",
        "not_installable",
        "not installable",
    )
    assert record.provision.missing == ["grpcio==1.48.2"] and record.probes == {}
