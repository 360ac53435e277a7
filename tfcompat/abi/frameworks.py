"""The three floors of a pair: the oldest macOS it installs on, loads on, and was built for.

- **install**: the newest macOS platform tag of the pair's wheels (``macosx_12_0_arm64``): pip
  refuses a wheel tagged for a newer macOS than the running one.
- **load**: the oldest macOS whose system libraries export every non-weak symbol that the images
  ``import tensorflow`` and the plugin's dlopen load import from them (two-level binds to
  ``/usr/lib`` and ``/System`` libraries), dated by the availability table
  (``data/availability.json``, made by ``upkeep.availability`` from Apple's SDK stubs and headers). Weak
  imports never raise it; a symbol the table cannot date is listed as unknown, never guessed.
- **built for**: the newest ``LC_BUILD_VERSION`` minos of those images. Information only: dyld
  loads an image built for a newer macOS (TensorFlow 2.5's images say 12.0 and ran on 11).

``steps`` keeps, per macOS the load floor passes through, the import that needs it, so that any
older macOS can be judged (``load_verdict``) and dyld's error for it written (``dyld_words``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from tfcompat.abi import dyld, macho

TABLE = Path(__file__).resolve().parent / "data" / "availability.json"
#: The first macOS of Apple-silicon Macs: a pair that needs nothing newer loads from here on.
FIRST_ARM64 = "11.0"
#: Kept in a record's ``unknown``; ``unknown_count`` counts them all.
UNKNOWN_CAP = 20


@dataclass(frozen=True)
class Need:
    """A non-weak import of a system symbol: who imports it, from which library."""

    image: str  # relative to site-packages
    library: str  # the install name the import's ordinal names
    symbol: str
    built_for: str | None = None  # the importing image's minos


@functools.cache
def table() -> dict[str, dict[str, dict]]:
    """Library -> symbol -> its fact (``macos``, ``absent``, ``missing_below``, ``stub``,
    ``header``), read once per process."""
    return json.loads(TABLE.read_text())["libraries"]


@functools.cache
def table_digest() -> str:
    """What the table says, as a digest: part of the key of cached predictions."""
    return hashlib.sha256(TABLE.read_bytes()).hexdigest()[:16]


def system_imports_of(meta: dict) -> list[tuple[str, str]]:
    """(library, symbol) of every import a wheel image's facts bind to a system library."""
    dylibs = meta["dylibs"]
    return [
        (dylibs[ordinal - 1][0], name)
        for name, ordinal, _weak in meta["imports"]
        if 0 < ordinal <= len(dylibs) and dyld.in_system(dylibs[ordinal - 1][0])
    ]


def needs(image: dyld.Library, imports: Iterable[macho.Import]) -> list[Need]:
    """The non-weak imports of ``image`` bound to a system library (weak ones never fail)."""
    found = []
    for item in imports:
        if item.weak or not 0 < item.ordinal <= len(image.dylibs):
            continue
        dylib = image.dylibs[item.ordinal - 1]
        if dyld.in_system(dylib.path) and dylib.kind != "weak":
            found.append(Need(image.path, dylib.path, item.name, image.min_macos))
    return found


def floors(*, wheels: Iterable[str | None], images: Iterable[dyld.Library], needed: Iterable[Need]) -> dict:
    """The record's ``floors`` for one pair: ``wheels`` are the macOS versions their platform tags
    accept, ``images`` the images loaded, ``needed`` their non-weak system imports."""
    known = table()
    steps: dict[str, dict] = {}
    unknown = []
    for need in needed:
        fact = known.get(need.library, {}).get(need.symbol)
        if fact is None:
            unknown.append(f"{need.symbol} ({need.library})")
            continue
        step = {
            "macos": fact["macos"],
            "symbol": need.symbol,
            "library": need.library,
            "image": need.image,
            "built_for": need.built_for,
            "exact": fact["missing_below"],
            "absent": fact["absent"],
            "source": fact.get("header") or fact["stub"],
        }
        # One step per macOS: the import that proves most (exact, then the newest absence), by name.
        held = steps.get(fact["macos"])
        if held is None or _better(step, held):
            steps[fact["macos"]] = step
    ordered = [steps[macos] for macos in sorted(steps, key=Version) if macos != FIRST_ARM64]
    unknown = sorted(set(unknown))
    install = [v for v in wheels if v]
    built = [image.min_macos for image in images if image.min_macos]
    return {
        "install": max(install, key=Version) if install else None,
        "load": ordered[-1]["macos"] if ordered else FIRST_ARM64,
        "steps": ordered,
        "unknown": unknown[:UNKNOWN_CAP],
        "unknown_count": len(unknown),
        "built_for": max(built, key=Version) if built else None,
    }


def _better(step: dict, held: dict) -> bool:
    """Whether ``step`` proves more than ``held`` (exact first, then the newer absence), or as
    much and comes first by name."""

    def strength(item: dict) -> tuple:
        return (item["exact"], Version(item["absent"] or "0"))

    if strength(step) != strength(held):
        return strength(step) > strength(held)
    return step["symbol"] < held["symbol"]


def load_verdict(floors: dict, macos: str) -> tuple[str, dict | None]:
    """Whether the pair's system imports bind on ``macos``: ("loads", None), ("fails", the step
    that proves it) or ("unknown", the step that may fail there, or None when only imports the
    table cannot date are in doubt).

    A symbol fails below its ``macos`` when the table says every older macOS lacks it, and on
    every macOS up to its ``absent`` SDK (Apple does not take an exported symbol away and bring it
    back: a stub that lacks it speaks for the releases before it too)."""
    running = Version(macos)
    doubt = None
    for step in floors["steps"]:
        if running >= Version(step["macos"]):
            continue
        if step["exact"] or (step["absent"] and running <= Version(step["absent"])):
            return "fails", step
        doubt = doubt or step
    if doubt is not None or floors["unknown_count"]:
        return "unknown", doubt
    return "loads", None


def dyld_words(floors: dict, macos: str) -> dyld.Failure | None:
    """The error dyld prints on ``macos`` for the import that fails there, or None when none is
    known to fail. macOS 11's dyld adds "(which was built for Mac OS X 12.0)" to the image; macOS
    12 and later add "(built for macOS 13.0 which is newer than running OS)" and the UUIDs, which
    this model leaves out as it does in its other messages."""
    verdict, step = load_verdict(floors, macos)
    if verdict != "fails":
        return None
    referenced = f"Referenced from: {dyld.SITE}/{step['image']}"
    built_for = step["built_for"]
    if built_for and Version(built_for) > Version(macos):
        if Version(macos) < Version("12"):
            referenced += f" (which was built for Mac OS X {built_for})"
        else:
            referenced += f" (built for macOS {built_for} which is newer than running OS)"
    return dyld.Failure(
        f"Symbol not found: {step['symbol']}", (referenced, f"Expected in: {step['library']}")
    )


def usable_on(pairs: Iterable[dict], macos: str) -> list[dict]:
    """Which pairs can be installed and loaded on ``macos``, for the answer per macOS.

    ``pairs`` are dicts with ``floors`` (the record's) and whatever names the pair; each comes
    back with ``on_macos``: "usable" (installs and its system imports bind), "install" (pip
    refuses a wheel tagged for a newer macOS), "load" (a system symbol is missing: ``error`` has
    dyld's words) or "unknown" (``why``); pairs without floors are "unknown". The pair's own
    verdict (does the plugin load against this TensorFlow) is the caller's to combine."""
    answers = []
    for pair in pairs:
        floor = pair.get("floors")
        answer = {**pair}
        if not floor:
            answer.update(on_macos="unknown", why="no floors recorded")
        elif floor["install"] and Version(macos) < Version(floor["install"]):
            answer.update(on_macos="install", why=f"the wheels need macOS {floor['install']} to install")
        else:
            verdict, step = load_verdict(floor, macos)
            if verdict == "fails":
                answer.update(on_macos="load", error=dyld_words(floor, macos).message)
            elif verdict == "unknown":
                why = (
                    f"{step['symbol']} is in macOS {step['macos']}"
                    + (f", not in {step['absent']}" if step["absent"] else "")
                    + f": not known for {macos}"
                    if step
                    else f"{floor['unknown_count']} system symbols cannot be dated"
                )
                answer.update(on_macos="unknown", why=why)
            else:
                answer.update(on_macos="usable")
        answers.append(answer)
    return answers
