"""What the map adds to a pair it recommends: the training hazard and today's install command.

A cell whose plugin is predicted to load gets ``hazard`` (``xla.decide``): whether the probe's
fit compiles with XLA, read from the TensorFlow wheel and the Keras wheels of the pair's set as
of its release. That set is the preflight's (its ``packages``; the preflight already resolved it),
for one Python: the one whose TensorFlow wheel the map reads, else the newest both releases have.
Only where no preflight set exists (not installable from wheels) is the pair resolved for the
hazard alone (``xla.predict``). The answer depends on the TensorFlow wheel and the Keras
versions only, so cells that share them share one computation: 48 for the 131 loadable
cells of the whole map.

Each (cell, Python) whose preflight installs, in a cell that is predicted to load, gets the
command a user types today (``installcmd``), compared against the preflight's set (no second
resolution as of the release), resolved today through the run's index snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from tfcompat.abi import macwheels
from tfcompat.hazard import xla
from tfcompat.index.wheels import WheelError, WheelRef
from tfcompat.resolve import installcmd
from tfcompat.resolve.resolver import Index


@dataclass(frozen=True)
class HazardQuestion:
    """What decides one cell's hazard: the TensorFlow wheel and the Keras pins of the pair's set
    for ``python`` (``keras`` None: no set was resolved, the pair itself is asked)."""

    tf: str
    metal: str
    python: str
    tf_wheel: WheelRef
    keras: tuple[tuple[str, str], ...] | None

    @property
    def key(self) -> tuple:
        """Cells with equal keys have the same answer."""
        if self.keras is None:
            return (self.tf, self.metal, self.python)
        return (self.tf_wheel.sha256, self.keras)


def hazard_python(tf_pythons: list[str], metal_pythons: list[str], read: str) -> str | None:
    """The Python whose set decides a cell's hazard: ``read`` (the Python of the TensorFlow
    wheel the map reads) when both releases have it, else the newest they share."""
    shared = [python for python in tf_pythons if python in metal_pythons]
    if not shared:
        return None
    return read if read in shared else max(shared, key=Version)


def question(tf, metal, python: str, preflight: dict) -> HazardQuestion:
    """The hazard question of a cell (``tf``, ``metal``: ``pairmap.MapRelease``) from its preflight."""
    keras = None
    if preflight["status"] == "installs":
        pins = (package.split("==", 1) for package in preflight["packages"])
        keras = tuple(
            sorted(
                (str(canonicalize_name(name)), version)
                for name, version in pins
                if canonicalize_name(name) in xla.KERAS_DISTRIBUTIONS
            )
        )
    return HazardQuestion(tf.version, metal.version, python, tf.binary[python].ref, keras)


def hazards(questions: list[HazardQuestion], root: Path) -> tuple[dict[str, dict | str], float, int]:
    """Answer the hazard questions of one TensorFlow release (in a worker process): plugin
    version -> the hazard section, or why there is none; the seconds it took, and how many
    distinct questions were computed."""
    started = time.monotonic()
    answers: dict[tuple, dict | str] = {}
    for asked in questions:
        if asked.key not in answers:
            answers[asked.key] = _hazard(asked, root)
    return {asked.metal: answers[asked.key] for asked in questions}, time.monotonic() - started, len(answers)


def _hazard(asked: HazardQuestion, root: Path) -> dict | str:
    try:
        if asked.keras is None:
            return xla.predict(tf=asked.tf, metal=asked.metal, python=asked.python, cache_dir=root)
        keras = macwheels.resolve(list(asked.keras), python=asked.python, root=macwheels.cache_root(root))
        wheels = xla.WheelSet.of_wheels(asked.tf_wheel, keras)
        return xla.decide(wheels, plugin=True, cache_dir=root)
    except (xla.HazardError, WheelError) as exc:
        return str(exc)


def install(tf: str, metal: str, python: str, preflight: dict, *, root: Path, index: Index) -> dict | str:
    """The install section for one (cell, Python) whose preflight installs, or why there is none."""
    release = {}
    for package in preflight["packages"]:
        name, _, version = package.partition("==")
        release[str(canonicalize_name(name))] = version
    try:
        return installcmd.install_command(
            tf=tf,
            metal=metal,
            python=python,
            cache_dir=root,
            release=release,
            sdists=tuple(preflight.get("sdists") or ()),
            index=index,
        )
    except installcmd.InstallError as exc:
        return str(exc)


def add(
    cells: dict,
    preflights: dict[Future, tuple],
    *,
    resolver: Executor,
    predictor: Executor,
    index: Index,
    root: Path,
    log: Callable[[str], None],
) -> list[str]:
    """Fill ``cells`` (by (tf, metal), abi predicted) with the preflights as they complete,
    and add hazards and install commands to the cells that load; return why some have none.

    ``preflights``: future -> (tf, metal, python) (``pairmap.MapRelease`` and a Python). Each
    TensorFlow release's hazards are asked in ``predictor`` (worker processes: reading Keras'
    code is Python work) as soon as the preflights they need are in; install commands in
    ``resolver`` (threads: uv does the work)."""
    started = time.monotonic()
    asked: dict[str, list] = {}  # tf version -> the loadable cells' (tf, metal, hazard Python)
    waiting: dict[str, set] = {}  # tf version -> the preflights its hazards still wait for
    for tf, metal, python in preflights.values():
        cell = cells[tf.version, metal.version]
        if cell["abi"] == "ok" and python == hazard_python(tf.pythons, metal.pythons, tf.read.python):
            asked.setdefault(tf.version, []).append((tf, metal, python))
            waiting.setdefault(tf.version, set()).add((metal.version, python))
    hazard_jobs: dict[Future, str] = {}
    install_jobs: dict[Future, tuple] = {}
    for future in as_completed(preflights):
        tf, metal, python = preflights[future]
        cell = cells[tf.version, metal.version]
        cell["pythons"][python] = result = future.result()
        if cell["abi"] == "ok" and result["status"] == "installs":
            job = resolver.submit(install, tf.version, metal.version, python, result, root=root, index=index)
            install_jobs[job] = (cell, python)
        pending = waiting.get(tf.version, set())
        if (metal.version, python) in pending:
            pending.remove((metal.version, python))
            if not pending:
                questions = [
                    question(t, m, p, cells[t.version, m.version]["pythons"][p])
                    for t, m, p in asked[tf.version]
                ]
                hazard_jobs[predictor.submit(hazards, questions, root)] = tf.version
    unanswered: list[str] = []
    work = computed = 0.0
    for future in as_completed(hazard_jobs):
        answers, seconds, count = future.result()
        work, computed = work + seconds, computed + count
        for metal, answer in answers.items():
            if isinstance(answer, str):
                unanswered.append(f"hazard of tf {hazard_jobs[future]} + {metal}: {answer}")
                answer = xla.no_prediction(answer)
            cells[hazard_jobs[future], metal]["hazard"] = answer
    hazard_cells = sum(len(items) for items in asked.values())
    log(
        f"map: hazards: {int(computed)} distinct questions for {hazard_cells} loadable cells "
        f"({work:.1f} s of work in worker processes; done at {time.monotonic() - started:.0f} s)"
    )
    pinned = broken = 0
    for future in as_completed(install_jobs):
        cell, python = install_jobs[future]
        answer = future.result()
        if isinstance(answer, str):
            unanswered.append(answer)
            continue
        cell["pythons"][python]["install"] = answer
        pinned += bool(answer["pins"])
        broken += not answer["works"]
    log(
        f"map: install commands for {len(install_jobs)} (pair, Python): {pinned} carry pins, "
        f"{broken} install from no wheels today ({time.monotonic() - started:.0f} s)"
    )
    return unanswered
