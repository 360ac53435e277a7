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
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from packaging import tags
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from tfcompat.core import uvcall
from tfcompat.core.files import temporary_folder
from tfcompat.upkeep import claims
from tfcompat.verify.provision import ProvisionError

#: uv's --python-platform for Apple silicon, the only foreign platform the suite resolves for.
MACOS_ARM64 = "aarch64-apple-darwin"
#: A package moved to a later date is taken as of the day after its first wheel for the target,
#: as a release is resolved as of the day after its upload (provision._RELEASE_SLACK).
_SLACK = timedelta(days=1)
#: Each step names one more requirement; a real tree needs two or three.
_MAX_STEPS = 8
#: What uv says when a requirement has no wheel it may use ("all versions of X have ..." too).
_NO_WHEEL = re.compile(r"(?:all versions of )?(\S+) (?:has|have) no (?:usable wheels|wheels with a matching)")


class NotInstallable(ProvisionError):
    """No set of wheels installs the requirements on the target; ``requirement`` is the one that
    has no wheel for it in the range allowed, then or since."""

    def __init__(self, requirement: str, message: str, *, missing: list[str], detail: str = ""):
        super().__init__("not installable", message, detail)
        self.requirement = requirement
        self.missing = missing  # every requirement found without a wheel as of the date, in order


@dataclass(frozen=True)
class Target:
    """Where the wheels must install: a CPython ``python`` ("3.10") on this machine (``platform``
    None, through ``interpreter``) or on ``platform`` from anywhere (then ``interpreter`` only
    stands in for uv's interpreter discovery, and ``macos`` is the oldest macOS to install on)."""

    python: str
    platform: str | None = None
    macos: str | None = None
    interpreter: str = sys.executable

    def __post_init__(self) -> None:
        if self.platform not in (None, MACOS_ARM64) or (self.platform == MACOS_ARM64) != bool(self.macos):
            raise ValueError(f"unsupported target: {self.platform} {self.macos}")

    @functools.cached_property
    def tags(self) -> frozenset[tags.Tag]:
        """The wheel tags an installer accepts on the target, as pip computes them."""
        if self.platform == MACOS_ARM64:
            major, minor = (int(part) for part in self.macos.split(".")[:2])
            platforms = list(tags.mac_platforms((major, minor), "arm64"))
        else:
            platforms = list(tags.platform_tags())
        version = tuple(int(part) for part in self.python.split("."))
        interpreter = f"cp{version[0]}{version[1]}"
        return frozenset(tags.cpython_tags(version, platforms=platforms)) | frozenset(
            tags.compatible_tags(version, interpreter, platforms=platforms)
        )

    def describe(self) -> str:
        where = f"macOS {self.macos} arm64" if self.platform == MACOS_ARM64 else "this machine"
        return f"CPython {self.python} on {where}"


@dataclass
class WheelSet:
    """A resolution that installs: ``packages`` ("name==version") and how it was reached."""

    packages: list[str]
    exclude_newer: str | None
    missing: list[str] = field(default_factory=list)  # requirements with no wheel as of the date
    later: dict[str, str] = field(default_factory=dict)  # package -> its own exclude-newer
    sdists: list[str] = field(default_factory=list)  # built from the sdist: no wheel for any platform
    seconds: float = 0.0


def resolve(
    requirements: list[str],
    *,
    target: Target,
    exclude_newer: str | None,
    constraints: tuple[str, ...] = (),
    later: bool = True,
    index_url: str | None = None,
    uv_cache: Path | None = None,
    timeout: float = 300.0,
) -> WheelSet:
    """Resolve ``requirements`` for ``target`` from wheels as of ``exclude_newer`` (RFC 3339).

    Raise ``NotInstallable`` when no wheel set installs them (with ``later`` False: as soon as
    one requirement has no wheel as of the date), ``ProvisionError`` for any other failure
    (no such release, index unreachable). ``index_url`` and ``uv_cache`` point uv at another
    index (the map's ``IndexSnapshot``) and cache, by default uv uses its own.
    """
    started = time.monotonic()
    deadline = started + timeout
    result = WheelSet(packages=[], exclude_newer=exclude_newer)
    for _ in range(_MAX_STEPS):
        done = _compile(requirements, constraints, target, result, (index_url, uv_cache), deadline)
        if done.returncode == 0:
            result.packages = _pins(done.stdout)
            result.seconds = round(time.monotonic() - started, 3)
            return result
        text, blocker = _blocker(done.stderr)
        if blocker is None:
            signature, reason = uvcall.explain_error(done.stderr)
            raise ProvisionError(signature, f"uv pip compile: {reason}", detail=done.stderr)
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
            raise NotInstallable(text, message, missing=list(result.missing), detail=done.stderr)
        result.later[name] = first
    raise ProvisionError("provisioning failed", f"uv pip compile: no resolution after {_MAX_STEPS} steps")


def _compile(requirements, constraints, target, state: WheelSet, where, deadline):
    """One uv call for the state so far. Never ``--offline``: uv then passes over the versions
    whose metadata it has not cached and answers with an older set, silently."""
    index_url, uv_cache = where
    argv = [uvcall.uv_binary(), "pip", "compile", "-", "--no-header", "--no-annotate"]
    argv += ["--python", target.interpreter]
    env = dict(os.environ)
    uvcall.use_index(argv, env, url=index_url, uv_cache=uv_cache)
    if target.platform:
        argv += ["--python-platform", target.platform, "--python-version", target.python]
        env |= {"MACOSX_DEPLOYMENT_TARGET": target.macos, "UV_PYTHON_DOWNLOADS": "never"}
    argv += ["--only-binary", ":all:", *(f"--no-binary={name}" for name in state.sdists)]
    if state.exclude_newer:
        argv += ["--exclude-newer", state.exclude_newer]
    argv += [f"--exclude-newer-package={name}={date}" for name, date in state.later.items()]
    stdin = "\n".join(requirements) + "\n"
    with temporary_folder("binaryonly") as tmp:
        if constraints:
            path = tmp / "constraints.txt"
            path.write_text("\n".join(constraints) + "\n")
            argv += ["--constraint", str(path)]
        return _run([*argv, "--quiet"], stdin=stdin, env=env, deadline=deadline)


def _run(argv: list[str], *, stdin: str, env: dict, deadline: float) -> subprocess.CompletedProcess:
    remaining = deadline - time.monotonic()
    try:
        if remaining <= 0:
            raise subprocess.TimeoutExpired(argv, 0)
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, timeout=remaining)
    except subprocess.TimeoutExpired:
        raise ProvisionError("provisioning timeout", "uv pip compile: no answer in time") from None
    except OSError as exc:
        raise ProvisionError("cannot run", f"uv pip compile: cannot run {argv[0]}: {exc.strerror}") from None


def _pins(lock: str) -> list[str]:
    return [line.strip() for line in lock.splitlines() if "==" in line and not line.lstrip().startswith("#")]


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
        answer = claims.index_answer(name)
    except claims.ClaimsError as exc:
        raise ProvisionError("index unreachable", str(exc)) from None
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
    return _rfc3339(min(uploads) + _SLACK) if uploads else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _before(uploaded: datetime | None, cutoff: str | None) -> bool:
    return cutoff is None or uploaded is None or uploaded < _time(cutoff)


def _rfc3339(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _day(date: str | None) -> str:
    return date[:10] if date else "today"
