"""Binary-only resolution: the complete set of wheels for a target as of a date, or what has none.

One uv call answers it: ``uv pip compile --only-binary :all: --exclude-newer DATE``, for this
machine's interpreter or for another platform (macOS arm64 from any OS: ``--python-platform
aarch64-apple-darwin --python-version X`` with ``MACOSX_DEPLOYMENT_TARGET``). Two refinements,
both read from the index's upload times (PEP 691/700), make its answer the one a user meets:

- A requirement that publishes no wheel at all in the versions allowed (termcolor 1.1.0 under
  TF 2.9, wrapt 1.12.1 under TF 2.5: pure Python, sdists only) is built from its sdist, as pip
  does on every platform without a compiler; the set lists it under ``sdists``. A requirement
  that has wheels for other platforms but none for the target (numpy 1.19.5 on macOS arm64) is
  what blocks an install from wheels: it is ``missing``, named as uv states it
  (``numpy>=1.19.2,<=1.19.5``).
- With ``later``, each missing requirement is taken as of the first upload of a wheel for the
  target within its range (uv's ``--exclude-newer-package``) and everything else stays as of the
  date: the installable set closest to the release. A requirement with no such wheel to this
  day raises ``NotInstallable``.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from packaging import tags
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from tfcompat.core import macos
from tfcompat.index import pypi
from tfcompat.resolve.resolver import Index, Pin, ResolveError, Target, pip_compile

#: Each step names one more requirement; a real tree needs two or three.
_MAX_STEPS = 8
#: What uv says when a requirement has no wheel it may use ("all versions of X have ..." too).
_NO_WHEEL = re.compile(r"(?:all versions of )?(\S+) (?:has|have) no (?:usable wheels|wheels with a matching)")


class NotInstallable(ResolveError):
    """No set of wheels installs the requirements on the target; ``requirement`` is the one that
    has no wheel for it in the range allowed, then or since. An answer about the pair."""

    no_verdict = False

    def __init__(self, requirement: str, message: str, *, missing: list[str], detail: str = ""):
        super().__init__(message, signature="not installable", detail=detail)
        self.requirement = requirement
        self.missing = missing  # every requirement found without a wheel as of the date, in order


@dataclass
class Resolution:
    """A resolution that installs: its ``pins`` and how it was reached."""

    pins: list[Pin]
    exclude_newer: str | None
    missing: list[str] = field(default_factory=list)  # requirements with no wheel as of the date
    later: dict[str, str] = field(default_factory=dict)  # package -> its own exclude-newer
    sdists: list[str] = field(default_factory=list)  # built from the sdist: no wheel for any platform
    seconds: float = 0.0

    @property
    def packages(self) -> list[str]:
        """``name==version`` of every pin, as an installer's requirements file lists them."""
        return [pin.requirement for pin in self.pins]


def resolve(
    requirements: list[str],
    *,
    target: Target,
    exclude_newer: str | None,
    constraints: tuple[str, ...] = (),
    later: bool = True,
    index: Index | None = None,
    timeout: float = 300.0,
) -> Resolution:
    """Resolve ``requirements`` for ``target`` from wheels as of ``exclude_newer`` (RFC 3339).

    Raise ``NotInstallable`` when no wheel set installs them (with ``later`` False: as soon as
    one requirement has no wheel as of the date), ``ResolveError`` for any other failure
    (no such release, index unreachable). ``index`` points uv at another index (the map's
    ``IndexSnapshot``) and cache, by default uv uses its own.
    """
    started = time.monotonic()
    deadline = started + timeout
    result = Resolution(pins=[], exclude_newer=exclude_newer)
    for _ in range(_MAX_STEPS):
        try:
            result.pins = pip_compile(
                requirements,
                target,
                deadline=deadline,
                exclude_newer=exclude_newer,
                sdists=tuple(result.sdists),
                newer_limits=tuple(result.later.items()),
                constraints=constraints,
                index=index,
            )
        except ResolveError as exc:
            text, blocker = _blocker(exc.detail)
            if blocker is None:
                raise
            detail = exc.detail
        else:
            result.seconds = round(time.monotonic() - started, 3)
            return result
        files = _index_files(blocker.name)
        name = canonicalize_name(blocker.name)
        allowed = [f for f in files if _allows(blocker, f.version) and _before(f.uploaded, exclude_newer)]
        if allowed and not any(f.tags for f in allowed) and name not in result.sdists:
            result.sdists.append(name)
            continue
        if text not in result.missing:
            result.missing.append(text)
        first = _first_wheel(blocker, files, target)
        previous = result.later.get(name)
        if not later or first is None or (previous is not None and first <= previous):
            since = "" if not later else ", then or since"
            message = f"{text}: no wheel for {target.describe()} as of {_day(exclude_newer)}{since}"
            raise NotInstallable(text, message, missing=list(result.missing), detail=detail)
        result.later[name] = first
    raise ResolveError(f"uv pip compile: no resolution after {_MAX_STEPS} steps")


def _blocker(stderr: str) -> tuple[str, Requirement | None]:
    """The first requirement uv names as having no wheel it may use, as uv wrote it and parsed."""
    match = _NO_WHEEL.search(" ".join(stderr.split()))
    if match is None:
        return "", None
    text = match.group(1).rstrip(",.")
    try:
        return text, Requirement(text)
    except InvalidRequirement:
        return text, None


def _allows(requirement: Requirement, version: Version) -> bool:
    """Whether ``version`` is in range: pre-releases only when the range names one, as an
    installer prefers (a later date is looked for among final releases)."""
    return requirement.specifier.contains(version, prereleases=bool(requirement.specifier.prereleases))


@dataclass(frozen=True)
class IndexFile:
    """One file of a package on the index: its version, upload time and wheel tags (empty for an sdist)."""

    version: Version
    uploaded: datetime | None
    tags: frozenset[tags.Tag]


_index_lock = threading.Lock()


def _index_files(name: str) -> tuple[IndexFile, ...]:
    """Every file of ``name`` on the index: one request per package and process."""
    with _index_lock:
        return _files_of(canonicalize_name(name))


@functools.lru_cache(maxsize=64)
def _files_of(name: str) -> tuple[IndexFile, ...]:
    try:
        answer = pypi.index_answer(name)
    except pypi.IndexAnswerError as exc:
        raise ResolveError(str(exc), signature="index unreachable") from None
    files = []
    for entry in answer["files"]:
        filename = entry.get("filename", "")
        if entry.get("yanked"):
            continue
        try:
            if filename.endswith(".whl"):
                _, version, _, wheel_tags = parse_wheel_filename(filename)
            else:
                version, wheel_tags = _sdist_version(name, filename), frozenset()
        except (InvalidWheelFilename, InvalidVersion):
            continue
        if version is not None:
            files.append(IndexFile(version, _time(entry.get("upload-time")), wheel_tags))
    return tuple(files)


def _sdist_version(name: str, filename: str) -> Version | None:
    """The version in an sdist's file name (``termcolor-1.1.0.tar.gz``), or None for other files."""
    for suffix in (".tar.gz", ".zip", ".tar.bz2", ".tgz"):
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            prefix, _, version = stem.rpartition("-")
            if canonicalize_name(prefix) == canonicalize_name(name):
                return Version(version)
    return None


def _first_wheel(requirement: Requirement, files, target: Target) -> str | None:
    """The day after the first upload of a wheel for ``target`` in ``requirement``'s range, or None."""
    uploads = [
        f.uploaded
        for f in files
        if f.uploaded is not None and _allows(requirement, f.version) and f.tags & target.tags
    ]
    return macos.available(uploads)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _before(uploaded: datetime | None, cutoff: str | None) -> bool:
    return cutoff is None or uploaded is None or uploaded < _time(cutoff)


def _day(date: str | None) -> str:
    return date[:10] if date else "today"
