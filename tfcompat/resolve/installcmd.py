"""Install commands that work today: what a user types for a pair, with the pins it needs now.

``pip install "tensorflow-macos==2.9.0" "tensorflow-metal==0.5.0"`` resolves differently today
than at the pair's release: old TensorFlow pins nothing on numpy or protobuf, so today's
resolver brings numpy 2 and protobuf 7, and ``import tensorflow`` fails for reasons that have
nothing to do with the plugin. For a pair, the printed command is resolved as a user would
today (macOS arm64, binary wheels only, no date limit, ``macresolve``) and compared with the
set as of the pair's release. Where a distribution whose new major version is known to break
an older TensorFlow (``KNOWN_BREAKS``) comes in a newer major than the release had, the command
pins it below the next major (``"numpy<2"``, derived from the as-of set), and the pinned
command is resolved again to check that it installs from wheels. A pair that no set of wheels
installs today gets ``works=False`` with uv's reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from packaging.version import InvalidVersion, Version

from tfcompat.core import macos
from tfcompat.core.errors import TfcompatError
from tfcompat.resolve import macresolve
from tfcompat.resolve.resolver import Index, Pin, ResolveError

#: Distributions whose newer majors are known to break a TensorFlow released with an older
#: one: the newest release major that is broken by any newer one, and why. A protobuf 6 release
#: is not here: TensorFlow 2.20 (gencode 5.28, released with protobuf 6.31) imports, fits and
#: saves with today's protobuf 7.36 (tried on Linux), whose runtime accepts older gencode.
KNOWN_BREAKS = {
    "numpy": (1, "numpy 2 changed the C API that TensorFlow's binaries were built against"),
    "protobuf": (3, "protobuf 4's runtime refuses code generated for protobuf 3"),
    "keras": (2, "tf.keras of a TensorFlow before 2.16 is written for Keras 2"),
}
#: Rounds of pin-and-resolve: a pin can move another distribution to a new major.
MAX_ROUNDS = 3


class InstallError(TfcompatError):
    """No answer: the index cannot be reached (the message is one line with the fix)."""

    no_verdict = True


def install_command(
    *,
    tf: str,
    metal: str,
    python: str,
    cache_dir: Path | None = None,
    release: dict[str, str] | None = None,
    sdists: tuple[str, ...] = (),
    index: Index | None = None,
) -> dict:
    """The ``install`` section (``record.InstallCommand``) for a pair on macOS arm64 with CPython
    ``python``: the command to print, the pins it carries, why, and whether it works.

    ``release``: the pair's set as of its release (distribution -> version) when the caller has
    it (the map's preflight), else it is resolved. ``sdists``: what that set builds from a
    pure-Python sdist (the preflight's ``sdists``): today's check allows the same, as pip does.
    ``index``: where uv reads the index (the map's
    snapshot). Resolves with uv (about 1 - 3 s per call, cached: as of the release for good,
    today for the day). Raises ``InstallError`` when the index cannot be reached.
    """
    reqs = macos.requirements(tf, metal)
    try:
        if release is None:
            release = {
                pin.name: pin.version for pin in _as_of_release(reqs, python=python, cache_dir=cache_dir)
            }
        pins: list[str] = []
        reasons: list[str] = []
        for _ in range(MAX_ROUNDS):
            try:
                today = macresolve.resolve(
                    reqs + pins,
                    python=python,
                    exclude_newer=None,
                    binary_only=True,
                    sdists=sdists,
                    cache_dir=cache_dir,
                    index=index,
                )
            except ResolveError as exc:
                if exc.no_verdict:
                    raise
                return _section(
                    reqs, pins, "; ".join([*reasons, f"no set of wheels installs it today: {exc}"]), False
                )
            new = breaking(release, {pin.name: pin.version for pin in today})
            if not new:
                return _section(reqs, pins, "; ".join(reasons) or None, True, keras=_keras(today))
            pins += [pin for pin, _ in new]
            reasons += [reason for _, reason in new]
    except ResolveError as exc:
        raise InstallError(f"{command(reqs)} (macOS arm64, Python {python}): no answer: {exc}") from None
    return _section(reqs, pins, "; ".join([*reasons, f"still a new major after {MAX_ROUNDS} rounds"]), False)


def command(reqs: list[str], pins: list[str] = ()) -> str:
    """The command a user types; every argument double-quoted (``<`` is a shell operator)."""
    return "python -m pip install " + " ".join(f'"{item}"' for item in [*reqs, *pins])


def _section(
    reqs: list[str], pins: list[str], reason: str | None, works: bool, keras: str | None = None
) -> dict:
    section = {"command": command(reqs, pins), "pins": list(pins), "reason": reason, "works": works}
    return section | ({"keras": keras} if keras else {})


def _keras(pins: list[Pin]) -> str | None:
    """The Keras distributions of a set, as the answer names them: ``keras 3.12.0``."""
    found = [f"{pin.name} {pin.version}" for pin in pins if pin.name in ("keras", "tf-keras")]
    return ", ".join(found) or None


def _as_of_release(reqs: list[str], *, python: str, cache_dir: Path | None) -> list[Pin]:
    """The set a user got at the pair's release (source distributions allowed, as pip did).
    Where that has no solution for macOS arm64 today's index can give (TF 2.7: no libclang for
    it then), the dated set of the distributions that matter here, the rest as of today."""
    date = macresolve.release_date(reqs, python=python, cache_dir=cache_dir)
    try:
        return macresolve.resolve(
            reqs, python=python, exclude_newer=date, binary_only=False, cache_dir=cache_dir
        )
    except ResolveError as exc:
        if exc.no_verdict:
            raise
    now = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z")
    today = macresolve.resolve(
        reqs, python=python, exclude_newer=None, binary_only=False, cache_dir=cache_dir
    )
    lifted = tuple((pin.name, now) for pin in today if pin.name not in KNOWN_BREAKS)
    return macresolve.resolve(
        reqs, python=python, exclude_newer=date, binary_only=False, newer_limits=lifted, cache_dir=cache_dir
    )


def breaking(release: dict[str, str], today: dict[str, str]) -> list[tuple[str, str]]:
    """``(pin, reason)`` for each known-breaking distribution that today's set (distribution ->
    version) takes in a newer major than the release's. The doctor asks the same of an installed
    set: the one rule for "a new major that breaks an older TensorFlow"."""
    found = []
    for name, (newest_broken, why) in KNOWN_BREAKS.items():
        then, now = release.get(name), today.get(name)
        if then is None or now is None:
            continue
        major_then, major_now = _major(then), _major(now)
        if None not in (major_then, major_now) and major_then <= newest_broken < major_now:
            found.append(
                (f"{name}<{major_then + 1}", f"today pip takes {name} {now}, the release had {then} ({why})")
            )
    return found


def _major(version: str) -> int | None:
    try:
        return Version(version).major
    except InvalidVersion:
        return None
