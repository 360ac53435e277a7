"""What pip installs for a pair on an Apple-silicon Mac: the full set of distributions, resolved
by uv for macOS arm64 from any OS, as of the pair's release or as of today.

``release_date`` is one day after the newest upload of the pair's own wheels (as ``provision``
dates a row: the day a user could first install it, with the fixes released alongside);
``resolve`` gives every distribution with the file pip would take (URL, sha256), from ``uv pip
compile --python-platform aarch64-apple-darwin --format pylock.toml``. Answers, "no solution"
included, are cached in ``<cache>/macresolve/v1/``: a dated resolution for good (the date
fixes it), today's for the current UTC day only (new releases change it). Each entry names its
question and checksums its answer (``cache``): a bad one is asked of uv again.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from packaging.utils import canonicalize_name

from tfcompat.core import cache, config, macos, uvcall
from tfcompat.core.files import FilesError
from tfcompat.resolve.resolver import Index, Pin, ResolveError, Target, pip_compile

FORMAT = "v1"
_TIMEOUT = 300.0


def release_date(reqs: list[str], *, python: str, cache_dir: Path | None = None) -> str:
    """One day after the newest upload of the wheels ``reqs`` pin, RFC 3339 (cached for good)."""
    question = {"release": list(reqs), "python": python}
    path = cache.entry_path(_cache(cache_dir) / "release", question)
    cached = cache.load_json(
        path, question, valid=lambda v: isinstance(v, dict) and isinstance(v.get("exclude_newer"), str)
    )
    if cached is not None:
        return cached["exclude_newer"]
    pins = _compile(reqs, python=python, no_deps=True)
    date = macos.released(datetime.fromisoformat(pin.uploaded) for pin in pins if pin.uploaded)
    if date is None:
        raise ResolveError(f"{' '.join(reqs)}: the index gives no upload time", no_verdict=False)
    _store(path, question, {"exclude_newer": date})
    return date


def resolve(
    reqs: list[str],
    *,
    python: str,
    exclude_newer: str | None,
    constraints: tuple[str, ...] = (),
    binary_only: bool = True,
    newer_limits: tuple[tuple[str, str], ...] = (),
    sdists: tuple[str, ...] = (),
    cache_dir: Path | None = None,
    index: Index | None = None,
) -> list[Pin]:
    """The full set pip would install for ``reqs`` on macOS arm64 with CPython ``python``: as of
    ``exclude_newer``, or today when it is None. ``binary_only=False`` lets pip build from
    source distributions, as it did by default (the versions a user got then).
    ``newer_limits`` dates single packages: ``(("keras", date),)`` (uv's ``--exclude-newer-package``).
    ``sdists``: with ``binary_only``, the distributions that publish no wheel at all and are
    built from their sdist (pure Python), as pip does and as ``binaryonly`` allows.
    ``index``: where uv reads the index (not part of the question: the same index's answer)."""
    day = "asof" if exclude_newer else datetime.now(UTC).strftime("today-%Y-%m-%d")
    folder = _cache(cache_dir) / day
    limits = [f"{name}={date}" for name, date in newer_limits]
    question = {
        "python": python,
        "exclude_newer": exclude_newer,
        "binary_only": binary_only,
        "requirements": list(reqs),
        "constraints": list(constraints),
        "newer_limits": limits,
    }
    if sdists:
        question["sdists"] = sorted(sdists)
    path = cache.entry_path(folder, question)
    cached = cache.load_json(path, question, valid=_valid_answer)
    if cached is not None and "error" in cached:
        raise ResolveError(cached["error"], no_verdict=False)
    if cached is not None:
        return [Pin(**pin) for pin in cached["pins"]]
    if not exclude_newer:
        _drop_other_days(folder)
    try:
        pins = _compile(
            reqs,
            python=python,
            exclude_newer=exclude_newer,
            constraints=constraints,
            binary_only=binary_only,
            newer_limits=newer_limits,
            sdists=sdists,
            index=index,
        )
    except ResolveError as exc:
        if not exc.no_verdict:  # "no solution" is an answer too, as fixed as a set
            _store(path, question, {"error": str(exc)})
        raise
    _store(path, question, {"pins": [asdict(pin) for pin in pins]})
    return pins


def find(pins: list[Pin], name: str) -> Pin | None:
    """The pin of distribution ``name`` (any spelling), if the set holds it."""
    name = canonicalize_name(name)
    return next((pin for pin in pins if pin.name == name), None)


def _compile(
    reqs: list[str],
    *,
    python: str,
    no_deps: bool = False,
    binary_only: bool = True,
    exclude_newer: str | None = None,
    constraints: tuple[str, ...] = (),
    newer_limits: tuple[tuple[str, str], ...] = (),
    sdists: tuple[str, ...] = (),
    index: Index | None = None,
) -> list[Pin]:
    try:
        return pip_compile(
            reqs,
            Target.mac(python),
            deadline=time.monotonic() + _TIMEOUT,
            exclude_newer=exclude_newer,
            no_deps=no_deps,
            binary_only=binary_only,
            sdists=sdists,
            newer_limits=newer_limits,
            constraints=constraints,
            index=index,
        )
    except ResolveError as exc:
        raise _error(exc) from None


def _error(exc: ResolveError) -> ResolveError:
    """One line: for the network, what could not be reached and the fix; for an answer about
    the pair, uv's whole cause (which requirement has no wheel, and what needs it)."""
    if not exc.detail:  # uv gave no answer at all, or the index is not asked in this run
        return exc
    if uvcall.is_offline(exc.detail):
        _, reason = uvcall.explain_error(exc.detail)
        return ResolveError(
            f"{reason}; connect to the index once, the answers are then cached", no_verdict=True
        )
    return ResolveError(uvcall.whole_reason(exc.detail), no_verdict=False)


def _cache(cache_dir: Path | None) -> Path:
    return Path(cache_dir or config.cache_dir()) / "macresolve" / FORMAT


def _store(path: Path, question: dict, answer: dict) -> None:
    """Cache ``answer``; a cache that cannot be written (a full disk) is the machine's failure."""
    try:
        cache.store_json(path, question, answer)
    except FilesError as exc:
        raise ResolveError(str(exc), no_verdict=True) from None


def _valid_release(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("exclude_newer"), str)


def _valid_answer(value) -> bool:
    """A cached resolution: ``{"error": str}``, or ``{"pins": [...]}`` each fitting ``Pin``."""
    if not isinstance(value, dict):
        return False
    if "error" in value:
        return isinstance(value["error"], str)
    pins = value.get("pins")
    if not isinstance(pins, list):
        return False
    try:
        [Pin(**pin) for pin in pins]
    except TypeError:
        return False
    return all(isinstance(pin["name"], str) and isinstance(pin["sha256"], str) for pin in pins)


def _drop_other_days(folder: Path) -> None:
    """Yesterday's answers about today are never read again."""
    if folder.parent.is_dir():
        for other in folder.parent.glob("today-*"):
            if other != folder:
                shutil.rmtree(other, ignore_errors=True)
