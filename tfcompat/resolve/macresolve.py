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

import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from tfcompat.abi import macwheels
from tfcompat.core import cache, config, uvcall
from tfcompat.core.files import FilesError, temporary_folder
from tfcompat.index import snapshot

FORMAT = "v1"
RELEASE_SLACK = timedelta(days=1)  # the same slack ``provision`` gives a row's release date
_TIMEOUT = 300.0


@dataclass(frozen=True)
class Index:
    """Where uv reads the package index: ``url`` (the map's ``IndexSnapshot``, else uv's default),
    with a uv cache of its own (``uv_cache``); ``cached_only``: the index cannot be reached, so
    only cached answers are given (``ResolveError``, offline, for the others)."""

    url: str | None = None
    uv_cache: Path | None = None
    cached_only: str | None = None  # why the index is not asked


class ResolveError(Exception):
    """uv found no set for macOS arm64, or could not ask the index. One line with uv's reason;
    ``offline`` tells a machine failure (no verdict) from an answer about the pair."""

    def __init__(self, message: str, *, offline: bool):
        super().__init__(message)
        self.offline = offline


@dataclass(frozen=True)
class Pin:
    """One distribution of a resolved set and the file pip would take: its macOS arm64 wheel,
    or its source distribution where no wheel existed then (``is_wheel`` is False)."""

    name: str  # canonical: "tensorflow-macos"
    version: str
    filename: str
    url: str
    sha256: str
    size: int
    uploaded: str | None  # RFC 3339, when the index says

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def wheel(self) -> macwheels.WheelRef:
        return macwheels.WheelRef(self.name, self.version, self.filename, self.url, self.sha256, self.size)


def requirements(tf: str, metal: str) -> list[str]:
    """What a user asks pip for on an Apple-silicon Mac: ``tensorflow-macos`` up to TF 2.12,
    ``tensorflow`` from 2.13 (which pulls ``tensorflow-macos`` itself up to 2.15), and the plugin."""
    name = "tensorflow-macos" if Version(tf) < Version("2.13.0rc0") else "tensorflow"
    return [f"{name}=={tf}"] + ([f"tensorflow-metal=={metal}"] if metal != "none" else [])


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
    uploads = [datetime.fromisoformat(pin.uploaded) for pin in pins if pin.uploaded]
    if not uploads:
        raise ResolveError(f"{' '.join(reqs)}: the index gives no upload time", offline=False)
    date = (max(uploads) + RELEASE_SLACK).isoformat().replace("+00:00", "Z")
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
        raise ResolveError(cached["error"], offline=False)
    if cached is not None:
        return [Pin(**pin) for pin in cached["pins"]]
    if index is not None and index.cached_only:
        raise ResolveError(f"not resolved: {index.cached_only}", offline=True)
    if not exclude_newer:
        _drop_other_days(folder)
    try:
        pins = _compile(
            reqs,
            python=python,
            exclude_newer=exclude_newer,
            constraints=constraints,
            binary_only=binary_only,
            newer_limits=limits,
            sdists=sdists,
            index=index,
        )
    except ResolveError as exc:
        if not exc.offline:  # "no solution" is an answer too, as fixed as a set
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
    newer_limits: list[str] = (),
    sdists: tuple[str, ...] = (),
    index: Index | None = None,
) -> list[Pin]:
    try:
        uv = uvcall.uv_binary()
    except uvcall.UvMissing:
        raise ResolveError("uv not found: install it (pip install uv)", offline=True) from None
    with temporary_folder("resolve") as tmp:
        lock = tmp / "pylock.toml"
        # This interpreter only stands in for uv's interpreter discovery: the flags set the target.
        argv = [uv, "pip", "compile", "-", "--quiet", "--no-header", "--python", sys.executable]
        argv += ["--python-platform", "aarch64-apple-darwin", "--python-version", python]
        argv += ["--format", "pylock.toml", "-o", str(lock)]
        argv += ["--only-binary", ":all:", *(f"--no-binary={name}" for name in sdists)] if binary_only else []
        argv += ["--no-deps"] if no_deps else []
        argv += ["--exclude-newer", exclude_newer] if exclude_newer else []
        for limit in newer_limits:
            argv += ["--exclude-newer-package", limit]
        if constraints:
            constraints_file = tmp / "constraints.txt"
            constraints_file.write_text("".join(f"{line}\n" for line in constraints))
            argv += ["--constraint", str(constraints_file)]
        env = dict(
            os.environ,
            MACOSX_DEPLOYMENT_TARGET=macwheels.MACOSX_DEPLOYMENT_TARGET,
            UV_PYTHON_DOWNLOADS="never",
        )
        if index is not None:
            uvcall.use_index(argv, env, url=index.url, uv_cache=index.uv_cache)
        try:
            done = subprocess.run(
                argv, input="\n".join(reqs), capture_output=True, text=True, env=env, timeout=_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            raise ResolveError(
                f"uv gave no answer in {_TIMEOUT:.0f} s: is the index reachable?", offline=True
            ) from None
        if done.returncode != 0:
            raise _error(done.stderr)
        packages = tomllib.loads(lock.read_text()).get("packages", [])
    return [_pin(package) for package in packages]


def _error(stderr: str) -> ResolveError:
    """One line: for the network, what could not be reached and the fix; for an answer about
    the pair, uv's whole cause (which requirement has no wheel, and what needs it)."""
    if uvcall.is_offline(stderr):
        _, reason = uvcall.explain_error(stderr)
        return ResolveError(f"{reason}; connect to the index once, the answers are then cached", offline=True)
    return ResolveError(uvcall.whole_reason(stderr), offline=False)


def _pin(package: dict) -> Pin:
    # A version that only a source distribution holds (pip built it) has no wheel to name.
    artifact = (package.get("wheels") or [None])[0] or package.get("sdist")
    if artifact is None:
        raise ResolveError(
            f"{package['name']}=={package.get('version')}: no file in uv's answer", offline=False
        )
    uploaded = artifact.get("upload-time")
    return Pin(
        name=str(canonicalize_name(package["name"])),
        version=package["version"],
        filename=artifact["url"].rsplit("/", 1)[-1],
        url=snapshot.upstream(artifact["url"]),  # never the run's snapshot
        sha256=artifact["hashes"]["sha256"],
        size=artifact.get("size", 0),
        uploaded=uploaded.isoformat() if uploaded else None,
    )


def _cache(cache_dir: Path | None) -> Path:
    return Path(cache_dir or config.cache_dir()) / "macresolve" / FORMAT


def _store(path: Path, question: dict, answer: dict) -> None:
    """Cache ``answer``; a cache that cannot be written (a full disk) is the machine's failure."""
    try:
        cache.store_json(path, question, answer)
    except FilesError as exc:
        raise ResolveError(str(exc), offline=True) from None


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
