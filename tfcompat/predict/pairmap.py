"""The map: every final TensorFlow x tensorflow-metal release with a macOS arm64 wheel, predicted.

``nox -s map`` runs on any OS and writes one record (kind ``map``, ``map-<id>.json``) with a cell
per pair:

- the abi prediction (``check.predict``), with its second layer, the pair's minimum macOS and its
  floors (install, load with the symbol that sets it, built for: ``abi.frameworks``);
- per Python that both releases have wheels for, an install preflight: the complete set of
  binary wheels for macOS arm64 as of the pair's release (``binaryonly``), or the requirement
  that has no arm64 wheel then or since;
- where the plugin is predicted to load, the training hazard of the pair, and per Python that
  installs, the command that works today (``recommend``).

The releases are the index's (PEP 691 JSON, three requests), not the matrix's: a new release is a
new row or column at the next run, and no file needs an edit. The index answers are cached
(``$TFCOMPAT_CACHE/map/index/``), so a run without network maps the releases it last saw, and
says so.

TensorFlow's side is read once per release, from one wheel: the cp310 one where the release has
it (the matrix's default Python, so ``nox -s abi`` shares the cached facts), else its newest
Python's. The plugin's library is byte-identical across the Python tags of every
tensorflow-metal release, and on the TensorFlow releases sampled (``benchmarks/map.py
--python-tags``) no prediction differs between Python tags (see the README). Each release is
predicted in one of ``WHEEL_WORKERS`` worker processes (its wheel downloaded, read and deleted
the first time: 2 - 4 at once keep 2 cores busy and the extra disk under 4 GB), every plugin
dlopened in a fork of its process. The preflights run in a pool of ``RESOLVE_WORKERS`` uv
processes against the run's snapshot of the index (``IndexSnapshot``: each page fetched once)
with a uv cache of their own, deleted after the run, from that cache alone when it has what a
resolution needs. Answers are cached: preflights by their inputs and the resolver's code
(``$TFCOMPAT_CACHE/map/preflight/``: the release date fixes the answer), predictions by the two
wheels' sha256 and the model's code (``$TFCOMPAT_CACHE/map/abi/``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import multiprocessing
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import msgspec
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from tfcompat.abi import check, dyld, frameworks, macho, macwheels
from tfcompat.core import cache, macos
from tfcompat.core.config import cache_dir
from tfcompat.core.errors import TfcompatError
from tfcompat.core.host import host_info, tool_versions
from tfcompat.core.record import (
    MapCell,
    MapSection,
    Preflight,
    Record,
    Release,
    Wheel,
    make_record,
    now,
    write_record,
)
from tfcompat.core.uvcall import uv_binary
from tfcompat.index import pypi
from tfcompat.index.snapshot import IndexSnapshot
from tfcompat.index.wheels import WheelError, WheelRef
from tfcompat.predict import recommend
from tfcompat.resolve import binaryonly
from tfcompat.resolve.resolver import Index, ResolveError, Target

PLUGIN = macos.PLUGIN
TENSORFLOW = ("tensorflow-macos", "tensorflow")
#: The Python whose TensorFlow wheel is read, where a release has one: the matrix's default.
ABI_PYTHON = "3.10"
WHEEL_WORKERS = 3
#: uv processes at once: a resolution waits on the index far more than it computes (0.3 s of
#: CPU in 3 s when online), so more of them than cores keep the preflights moving.
RESOLVE_WORKERS = 8


class MapError(TfcompatError):
    """The map cannot be made at all (no index answer and none cached, an unknown release, a bad
    option); the message is one line."""


@dataclass(frozen=True)
class IndexWheel(WheelRef):
    """One macOS arm64 wheel on the index, for one CPython: where it is, and what the index
    says of it."""

    uploaded: datetime
    python: str  # "3.10"
    macos: str  # the oldest macOS its platform tag accepts, "12.0"

    @property
    def ref(self) -> WheelRef:
        """The plain reference (what the caches and the record are keyed by)."""
        return WheelRef(self.name, self.version, self.filename, self.url, self.sha256, self.size)


@dataclass(frozen=True)
class MapRelease:
    """A release of a column or row: the wheel with its binaries, and the one a user installs,
    per Python (the same for tensorflow-metal and for TensorFlow from 2.15.1)."""

    version: str
    binary: dict[str, IndexWheel]
    install: dict[str, IndexWheel]

    @property
    def pythons(self) -> list[str]:
        return sorted(set(self.binary) & set(self.install), key=Version)

    @property
    def read(self) -> IndexWheel:
        """The wheel whose images stand for every Python of the release."""
        return self.binary.get(ABI_PYTHON) or self.binary[max(self.binary, key=Version)]

    def record(self) -> Release:
        wheel = self.read
        return Release(
            version=self.version,
            package=wheel.name,
            pythons=self.pythons,
            wheel=Wheel(name=wheel.name, version=wheel.version, filename=wheel.filename, sha256=wheel.sha256),
        )


def main(
    argv: list[str], *, log: Callable[[str], None] = print, answers: dict | None = None
) -> tuple[Record, Path] | None:
    """``nox -s map [-- --tf V --metal V]``: the record and its path; None after --help."""
    parser = argparse.ArgumentParser(prog="nox -s map --", description=__doc__.splitlines()[0])
    parser.add_argument("--tf", action="append", default=[], help="only this TensorFlow release (repeatable)")
    parser.add_argument("--metal", action="append", default=[], help="only this plugin release (repeatable)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code:
            raise MapError("bad options after --: see nox -s map -- --help") from None
        return None
    return run_map(tf=args.tf, metal=args.metal, log=log, answers=answers)


def run_map(
    *,
    tf: list[str] = (),
    metal: list[str] = (),
    log: Callable[[str], None] = print,
    answers: dict | None = None,
) -> tuple[Record, Path]:
    """Map every release (or only those named) and write the record; return it and its path.

    Raise ``MapError`` when there is nothing to map (no index answer and none cached, or a
    named release that does not exist)."""
    started_at = now()
    host, tools = host_info(), tool_versions(uv_binary())
    started = time.monotonic()
    mapped = predict(tf=tf, metal=metal, log=log, answers=answers)
    section = MapSection(
        tf_releases=[release.record() for release in mapped.tf],
        metal_releases=[release.record() for release in mapped.metal],
        cells=msgspec.convert(list(mapped.cells.values()), list[MapCell]),
        seconds=round(time.monotonic() - started, 3),
        error=mapped.error,
    )
    verdict = "error" if mapped.error else "ok"
    record = make_record(
        "map", None, host=host, tools=tools, started=started_at, verdict=verdict, map=section
    )
    return record, write_record(record)


@dataclass
class Mapped:
    """What the engine found for some releases: the releases, one cell per pair (TensorFlow-major,
    as a map cell's fields plus the prediction's ``unresolved`` lines), and how much has no answer."""

    tf: list[MapRelease]
    metal: list[MapRelease]
    cells: dict[tuple[str, str], dict]
    error: str | None


def predict(
    *,
    tf: list[str] = (),
    metal: list[str] = (),
    root: Path | None = None,
    log: Callable[[str], None] = print,
    answers: dict | None = None,
) -> Mapped:
    """The one engine for a pair's answers: load verdict (and why), second layer, floors,
    install preflight per Python, training hazard and today's install commands, for every
    release on the index or only those named (a named pre-release too). An ``abi`` session and
    the map ask it alike. Raises ``MapError`` when there is nothing to predict (no index answer
    and none cached, or a named release that the index does not have). ``answers``: the index's
    answers one run keeps (a main job asks the engine once per ``abi`` session after the map, and
    the releases on the index do not change while it runs): the first to ask fills it."""
    root = root or cache_dir()
    index = releases(root=root, log=log, named=(*tf, *metal), answers=answers)
    tf_releases = _only(index.tf, tf, "TensorFlow")
    metal_releases = _only(index.metal, metal, PLUGIN)
    cells, unanswered = build(tf_releases, metal_releases, root=root, log=log, unreachable=index.unreachable)
    return Mapped(
        tf_releases,
        metal_releases,
        {(cell["tf"], cell["metal"]): cell for cell in cells},
        _no_verdict(cells, unanswered),
    )


class Releases(NamedTuple):
    """The map's rows and columns, oldest first, and why the index could not be asked (then
    they are the last ones it answered)."""

    tf: list[MapRelease]
    metal: list[MapRelease]
    unreachable: str | None


def releases(
    *, root: Path, log: Callable[[str], None], named: tuple[str, ...] = (), answers: dict | None = None
) -> Releases:
    """Every final TensorFlow and tensorflow-metal release with a macOS arm64 wheel, and the
    pre-releases ``named``."""
    unreachable: list[str] = []
    wheels = {}
    for name in (*TENSORFLOW, PLUGIN):
        found = index_wheels(name, root=root, log=log, unreachable=unreachable, answers=answers)
        wheels[name] = {v: w for v, w in found.items() if v in named or not Version(v).is_prerelease}
    tf_releases = []
    for version in sorted({v for name in TENSORFLOW for v in wheels[name]}, key=Version):
        binary = wheels[macos.binary_name(version)].get(version, {})
        install = wheels[macos.install_name(version)].get(version, {})
        if binary and install:
            tf_releases.append(MapRelease(version, binary, install))
    metal_releases = [
        MapRelease(v, w, w) for v, w in sorted(wheels[PLUGIN].items(), key=lambda i: Version(i[0]))
    ]
    return Releases(tf_releases, metal_releases, unreachable[0] if unreachable else None)


def index_wheels(
    name: str, *, root: Path, log: Callable[[str], None], unreachable: list[str], answers: dict | None = None
) -> dict[str, dict[str, IndexWheel]]:
    """Releases of ``name`` (not yanked, pre-releases too): version -> Python -> its macOS arm64 wheel.
    When the index cannot be reached, the last answer cached, and the reason in ``unreachable``."""
    answer = _index_answer(name, root=root, log=log, unreachable=unreachable, answers=answers)
    found: dict[str, dict[str, IndexWheel]] = {}
    for entry in answer["files"]:
        try:
            wheel = _mac_wheel(name, entry)
        except (KeyError, TypeError, ValueError, InvalidWheelFilename, InvalidVersion):
            continue  # not a macOS arm64 CPython wheel of a release, or not usable
        if wheel is not None:
            found.setdefault(wheel.version, {}).setdefault(wheel.python, wheel)
    return found


def _mac_wheel(name: str, entry: dict) -> IndexWheel | None:
    if entry.get("yanked") or not entry["filename"].endswith(".whl"):
        return None
    _, version, _, tags = parse_wheel_filename(entry["filename"])
    if version.is_devrelease or version.local:
        return None
    for tag in tags:
        mac = macos.is_mac_arm64(tag)
        if mac and tag.interpreter.startswith("cp3") and tag.abi == tag.interpreter:
            return IndexWheel(
                name=name,
                version=str(version),
                filename=entry["filename"],
                url=urllib.parse.urljoin(pypi.project_url(name), entry["url"]),
                sha256=entry["hashes"]["sha256"],
                size=int(entry.get("size") or 0),
                uploaded=datetime.fromisoformat(entry["upload-time"].replace("Z", "+00:00")),
                python=f"3.{tag.interpreter[3:]}",
                macos=".".join(tag.platform.split("_")[1:3]),
            )
    return None


def _index_answer(
    name: str, *, root: Path, log: Callable[[str], None], unreachable: list[str], answers: dict | None = None
) -> dict:
    """The index's answer for ``name``: the one in ``answers`` (by project URL; the run's own, see
    ``predict``) when it is there, else asked and kept there; the cached one, said so, when the
    index is unreachable."""
    url = pypi.project_url(name)
    if answers is not None and url in answers:
        return answers[url]
    cached, question = index_cache(name, root), {"index_url": url}
    try:
        answer = pypi.index_answer(name)
        if answers is not None:
            answers[url] = answer
    except pypi.IndexAnswerError as exc:
        answer = cache.load_json(cached, question, valid=_valid_index_answer)
        if answer is None:
            raise MapError(
                f"{exc}; no earlier answer is cached: connect to the index and rerun", no_verdict=True
            ) from None
        when = datetime.fromtimestamp(cached.stat().st_mtime).isoformat(timespec="minutes")
        log(f"map: {exc}: using the answer cached {when}")
        unreachable.append(str(exc))
        return answer
    cache.store_json(cached, question, answer)
    return answer


def index_cache(name: str, root: Path) -> Path:
    """Where the last answer of the index in use for ``name`` is kept (by the index's URL)."""
    return cache.entry_path(root / "map" / "index" / "v2", {"index_url": pypi.project_url(name)})


def _valid_index_answer(value) -> bool:
    """A PEP 691 project page: the files, each named, with its hashes."""
    files = value.get("files") if isinstance(value, dict) else None
    return isinstance(files, list) and all(
        isinstance(entry, dict)
        and isinstance(entry.get("filename"), str)
        and isinstance(entry.get("hashes"), dict)
        for entry in files
    )


def _only(found: list[MapRelease], wanted: list[str], what: str) -> list[MapRelease]:
    if not wanted:
        return found
    known = {release.version: release for release in found}
    unknown = [version for version in wanted if version not in known]
    if unknown:
        raise MapError(f"{what} {unknown[0]}: no release with a macOS arm64 wheel on the index")
    return [known[version] for version in wanted]


def build(
    tf_releases: list[MapRelease],
    metal_releases: list[MapRelease],
    *,
    root: Path,
    log: Callable[[str], None],
    unreachable: str | None = None,
) -> tuple[list[dict], list[str]]:
    """The cells, TensorFlow-major: abi predictions, preflights, and for the cells that load
    their hazard and install commands (``recommend``), computed concurrently; and why some of
    the latter have no answer. With the index ``unreachable``, what is not cached has no answer
    (it needs the index)."""
    cells = {
        (t.version, m.version): {"tf": t.version, "metal": m.version, "abi": None, "pythons": {}}
        for t in tf_releases
        for m in metal_releases
    }
    started = time.monotonic()
    jobs = [(t, m, python) for t in tf_releases for m in metal_releases for python in _shared(t, m)]
    done_before = sum(_cached_preflight(t, m, python, root) is not None for t, m, python in jobs)
    log(
        f"map: {len(tf_releases)} TensorFlow x {len(metal_releases)} {PLUGIN} releases, "
        f"{len(jobs)} install preflights ({done_before} cached)"
    )
    with contextlib.ExitStack() as stack:
        if unreachable:
            index = {"unreachable": unreachable}
        else:
            # Install commands are resolved as of today, so a warm run may need the index too.
            index = {
                "index_url": stack.enter_context(IndexSnapshot()),
                "uv_cache": Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tfcompat-uv-"))),
            }
        unanswered = _build(
            tf_releases, metal_releases, jobs, cells, index, root=root, log=log, started=started
        )
    statuses = Counter(p["status"] for cell in cells.values() for p in cell["pythons"].values())
    log(
        f"map: preflights {statuses['installs']} install, {statuses['not_installable']} not installable, "
        f"{statuses['error']} without an answer ({time.monotonic() - started:.0f} s)"
    )
    return list(cells.values()), unanswered


def _build(
    tf_releases, metal_releases, jobs, cells, index: dict, *, root: Path, log, started: float
) -> list[str]:
    """Fill ``cells``: predictions in worker processes, preflights in uv processes (through
    ``index``: the run's snapshot of the index and a uv cache of its own), then hazards and
    install commands (``recommend.add``); return why some of those have no answer."""
    # One release (an abi session) is too little work for worker processes: it runs here.
    resolver = ThreadPoolExecutor(RESOLVE_WORKERS)
    predictor = _process_pool() if len(tf_releases) > 1 else _Here()
    try:
        preflights = {resolver.submit(preflight, *job, root=root, **index): job for job in jobs}
        for t, m, python in jobs:
            cells[t.version, m.version]["pythons"][python] = None  # the order of the record: by Python
        plugins = _plugin_refs(metal_releases, root, cells)
        predictions = {}
        for release in tf_releases:
            cached = _cached_predictions(release.read.ref, root)
            if all(ref.sha256 in cached for _, ref in plugins):
                answers = {metal: cached[ref.sha256] for metal, ref in plugins}
                _fill(cells, release, answers, "cached", log)
            else:
                predictions[predictor.submit(predict_release, release.read.ref, plugins, root)] = release
        for future in as_completed(predictions):
            answers, seconds = future.result()
            _fill(cells, predictions[future], answers, f"{seconds:.1f} s", log)
        log(f"map: {len(tf_releases)} TensorFlow releases predicted in {time.monotonic() - started:.0f} s")
        resolving = Index(
            url=index.get("index_url"), uv_cache=index.get("uv_cache"), cached_only=index.get("unreachable")
        )
        return recommend.add(
            cells, preflights, resolver=resolver, predictor=predictor, index=resolving, root=root, log=log
        )
    finally:
        # On an interrupt (Ctrl-C, SIGTERM) the queued work is dropped; what runs ends first.
        resolver.shutdown(cancel_futures=True)
        predictor.shutdown(cancel_futures=True)


class _Here(Executor):
    """An executor that runs each job at once, in this process."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the caller's future.result() raises it, as a pool's would
            future.set_exception(exc)
        return future


def _fill(cells: dict, release: MapRelease, answers: dict[str, dict], how: str, log) -> None:
    for metal, fields in answers.items():
        cells[release.version, metal].update(fields)
    verdicts = Counter(fields.get("abi") for fields in answers.values())
    why = next((fields["error"] for fields in answers.values() if fields.get("error")), None)
    log(
        f"map: tf {release.version}: {verdicts['ok']} plugins load, {verdicts['fail']} fail"
        + (f", no prediction: {why}" if why else "")
        + f" ({how}, {release.read.filename})"
    )


def _shared(tf: MapRelease, metal: MapRelease) -> list[str]:
    return [python for python in tf.pythons if python in metal.pythons]


def _process_pool() -> ProcessPoolExecutor:
    """Worker processes for the predictions: reading wheels and export sets is Python work,
    which threads would do one at a time. forkserver (spawn where there is none) because the
    map's own threads are running uv; the server preloads this module, not the caller's."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
    else:
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(WHEEL_WORKERS, mp_context=context)


def _plugin_refs(metal_releases: list[MapRelease], root: Path, cells: dict) -> list[tuple[str, WheelRef]]:
    """Cache every plugin wheel's facts first (1.4 MB each, every prediction needs them all); a
    plugin that cannot be read has its cells say why."""

    def read_plugin(release: MapRelease) -> str | None:
        try:
            macwheels.facts(release.read.ref, root=macwheels.cache_root(root)).close()
        except (WheelError, macho.MachOError) as exc:
            return str(exc)
        return None

    with ThreadPoolExecutor(WHEEL_WORKERS) as pool:
        errors = dict(
            zip((m.version for m in metal_releases), pool.map(read_plugin, metal_releases), strict=True)
        )
    for (_, metal), cell in cells.items():
        if errors[metal]:
            cell["error"] = errors[metal]
    return [(m.version, m.read.ref) for m in metal_releases if not errors[m.version]]


#: A worker process's plugin sides, by wheel sha256: opened once, kept for its life.
_plugin_sides: dict[str, check.PluginSide] = {}


def predict_release(
    ref: WheelRef, plugins: list[tuple[str, WheelRef]], root: Path
) -> tuple[dict[str, dict], float]:
    """Predict every plugin against one TensorFlow release (in a worker process): TensorFlow's
    wheel is downloaded, read and deleted if its facts are not cached, loaded once, and every
    plugin dlopened in a fork of it. Return plugin version -> the cell's abi fields, and seconds."""
    started = time.monotonic()
    cached = _cached_predictions(ref, root)
    facts = None
    try:
        facts = macwheels.facts(ref, root=macwheels.cache_root(root))
        side = check.tensorflow_side(facts)
        for _, plugin_ref in plugins:
            if plugin_ref.sha256 in cached:
                continue
            if plugin_ref.sha256 not in _plugin_sides:
                plugin_facts = macwheels.facts(plugin_ref, root=macwheels.cache_root(root))
                _plugin_sides[plugin_ref.sha256] = check.plugin_side(plugin_facts)
            prediction = check.predict(side, _plugin_sides[plugin_ref.sha256]).section()
            cached[plugin_ref.sha256] = {"abi": prediction.pop("verdict"), **prediction}
    except (WheelError, macho.MachOError, check.AbiError) as exc:
        return {metal: {"error": str(exc)} for metal, _ in plugins}, round(time.monotonic() - started, 3)
    finally:
        if facts is not None:
            facts.close()
    path, question = _predictions_entry(ref, root)
    cache.store_json(path, question, cached)
    return {metal: cached[plugin_ref.sha256] for metal, plugin_ref in plugins}, round(
        time.monotonic() - started, 3
    )


def _predictions_entry(ref: WheelRef, root: Path) -> tuple[Path, dict]:
    """Where a TensorFlow wheel's predictions are cached, and the question they answer: this
    wheel (its sha256) judged by this model (its code)."""
    question = {
        "tf_wheel": ref.sha256,
        "code": _code(check, dyld, macho, macwheels, frameworks),
        "availability": frameworks.table_digest(),
    }
    return cache.entry_path(root / "map" / "abi" / "v3", question), question


@functools.cache
def _code(*modules) -> str:
    """A digest of the code that computes an answer, part of its cache key: an answer cached by
    other code (an older tfcompat, a fix of the model or the resolver) is never read."""
    sources = b"".join(Path(module.__file__).read_bytes() for module in modules)
    return hashlib.sha256(sources).hexdigest()[:16]


def _cached_predictions(ref: WheelRef, root: Path) -> dict[str, dict]:
    """Plugin wheel sha256 -> the cell's abi fields, as far as cached for this TensorFlow wheel."""
    path, question = _predictions_entry(ref, root)
    return cache.load_json(path, question, valid=_valid_predictions) or {}


def _valid_predictions(value) -> bool:
    """Plugin sha256 -> a cell's abi fields (``_fill`` reads them): a verdict, the first reason
    of a failure, and nothing a record would refuse."""
    if not isinstance(value, dict):
        return False
    try:
        for fields in value.values():
            cell = msgspec.convert({"tf": "0", "metal": "0", **fields}, MapCell)
            if cell.abi not in ("ok", "fail") or (cell.abi == "fail") != bool(cell.first):
                return False
    except (msgspec.ValidationError, TypeError):
        return False
    return True


def preflight(
    tf: MapRelease,
    metal: MapRelease,
    python: str,
    *,
    root: Path,
    index_url: str | None = None,
    uv_cache: Path | None = None,
    unreachable: str | None = None,
) -> dict:
    """Can the pair be installed from wheels on macOS arm64 with ``python``, as of its release?

    The answer is cached by its inputs; "error" (no answer: the index or uv failed, or it is
    ``unreachable``) is not. ``index_url`` and ``uv_cache``: see ``binaryonly.resolve``."""
    cached = _cached_preflight(tf, metal, python, root)
    if cached is not None:
        return cached
    requirements, target, exclude_newer = _preflight_inputs(tf, metal, python)
    if unreachable:
        return {"status": "error", "exclude_newer": exclude_newer, "error": f"not resolved: {unreachable}"}
    try:
        wheels = binaryonly.resolve(
            requirements,
            target=target,
            exclude_newer=exclude_newer,
            index=Index(url=index_url, uv_cache=uv_cache),
        )
    except binaryonly.NotInstallable as exc:
        result = {
            "status": "not_installable",
            "requirement": exc.requirement,
            "exclude_newer": exclude_newer,
            "missing": exc.missing,
        }
    except ResolveError as exc:
        return {"status": "error", "exclude_newer": exclude_newer, "error": str(exc)}
    else:
        result = {
            "status": "installs",
            "exclude_newer": exclude_newer,
            "packages": wheels.packages,
            "missing": wheels.missing,
            "exclude_newer_package": wheels.later,
            "sdists": wheels.sdists,
        }
    path, question = _preflight_entry(tf, metal, python, root)
    cache.store_json(path, question, result)
    return result


def _preflight_inputs(tf: MapRelease, metal: MapRelease, python: str):
    """The requirements a Mac user installs, the target (the oldest macOS the pair's wheels
    accept) and the release date: one day after the newest of the pair's wheels."""
    wheels = [tf.install[python], tf.binary[python], metal.binary[python]]
    oldest = max((wheel.macos for wheel in wheels), key=Version)
    released = macos.released(wheel.uploaded for wheel in wheels)
    return macos.requirements(tf.version, metal.version), Target.mac(python, oldest), released


def _preflight_entry(tf: MapRelease, metal: MapRelease, python: str, root: Path) -> tuple[Path, dict]:
    """Where a preflight is cached, and the question it answers (a self-proving ``cache`` entry)."""
    requirements, target, exclude_newer = _preflight_inputs(tf, metal, python)
    question = {
        "code": _code(binaryonly),
        "requirements": requirements,
        "python": target.python,
        "macos": target.macos,
        "exclude_newer": exclude_newer,
    }
    return cache.entry_path(root / "map" / "preflight" / "v2", question), question


def _cached_preflight(tf: MapRelease, metal: MapRelease, python: str, root: Path) -> dict | None:
    """The cached answer, if its entry proves it answers this question and has the answer's
    shape; else None (a damaged entry is removed, with one line, and computed again)."""
    path, question = _preflight_entry(tf, metal, python, root)
    return cache.load_json(path, question, valid=_valid_preflight)


def _valid_preflight(value) -> bool:
    try:
        return msgspec.convert(value, Preflight).status in ("installs", "not_installable")
    except msgspec.ValidationError:
        return False


def _no_verdict(cells: list[dict], unanswered: list[str] = ()) -> str | None:
    """How much of the map has no answer, and the first reason; None when it is whole.
    ``unanswered``: why hazards or install commands have none."""
    reasons = [cell["error"] for cell in cells if cell.get("error")]
    reasons += [p["error"] for cell in cells for p in cell["pythons"].values() if p["status"] == "error"]
    reasons += unanswered
    if not reasons:
        return None
    return (
        f"{len(reasons)} predictions, preflights, hazards or install commands without an answer; "
        f"the first: {reasons[0]}"
    )
