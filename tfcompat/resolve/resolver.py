"""The resolver's front end: one uv call that answers "what would pip install", and its answer.

Every resolution in tfcompat is ``uv pip compile --format pylock.toml`` for a ``Target`` (this
machine's interpreter, or macOS arm64 with a CPython version from any OS), made here: the
binary-only resolutions of verify and the map's preflights (``binaryonly``), the Mac
resolutions as of a release or of today (``macresolve``), pinned wheels named for the hazard
(``abi.macwheels``) and the release dates (``--no-deps``: the pair's own wheels). The answer is
one type, a list of ``Pin``: each distribution with the file pip would take (wheel, or sdist
where pip builds one), its sha256 and upload time. A failure is one ``ResolveError``: no
verdict when uv could not ask the index or ran out of time, an answer otherwise (no solution,
no such release), with uv's whole error output in ``detail``.
"""

from __future__ import annotations

import functools
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging import tags
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from tfcompat.core import uvcall
from tfcompat.core.errors import TfcompatError
from tfcompat.core.files import temporary_folder
from tfcompat.core.macos import DEPLOYMENT_TARGET, PLATFORM
from tfcompat.index import snapshot
from tfcompat.index.wheels import WheelRef, file_problem


class ResolveError(TfcompatError):
    """uv found no set, or could not answer. One line; ``signature`` is stable (``no such
    release``, ``no matching wheel``, ``index unreachable``, ...), ``detail`` is uv's own output."""

    no_verdict = True

    def __init__(self, message: str, *, signature: str = "provisioning failed", detail: str = "", **kind):
        super().__init__(message, **kind)
        self.signature = signature
        self.detail = detail


@dataclass(frozen=True)
class Target:
    """Where the wheels must install: a CPython ``python`` ("3.10") on this machine (``platform``
    None, through ``interpreter``) or on macOS arm64 from anywhere (then ``interpreter`` only
    stands in for uv's interpreter discovery, and ``macos`` is the oldest macOS to install on)."""

    python: str
    platform: str | None = None
    macos: str | None = None
    interpreter: str = sys.executable

    def __post_init__(self) -> None:
        if self.platform not in (None, PLATFORM) or (self.platform == PLATFORM) != bool(self.macos):
            raise ValueError(f"unsupported target: {self.platform} {self.macos}")

    @classmethod
    def mac(cls, python: str, macos_version: str = DEPLOYMENT_TARGET) -> Target:
        """An Apple-silicon Mac with CPython ``python``, installing wheels for ``macos_version``."""
        return cls(python=python, platform=PLATFORM, macos=macos_version)

    @functools.cached_property
    def tags(self) -> frozenset[tags.Tag]:
        """The wheel tags an installer accepts on the target, as pip computes them."""
        if self.platform == PLATFORM:
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
        where = f"macOS {self.macos} arm64" if self.platform == PLATFORM else "this machine"
        return f"CPython {self.python} on {where}"


@dataclass(frozen=True)
class Index:
    """Where uv reads the package index: ``url`` (the map's ``IndexSnapshot``, else uv's default),
    with a uv cache of its own (``uv_cache``); ``cached_only``: the index cannot be reached, so
    only cached answers are given (a ``ResolveError`` without a verdict for the others)."""

    url: str | None = None
    uv_cache: Path | None = None
    cached_only: str | None = None  # why the index is not asked


@dataclass(frozen=True)
class Pin:
    """One distribution of a resolved set and the file pip would take: its wheel for the target,
    or its source distribution where no wheel exists (``is_wheel`` is False)."""

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
    def wheel(self) -> WheelRef:
        return WheelRef(self.name, self.version, self.filename, self.url, self.sha256, self.size)

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


def pins_problem(pins: list[Pin], requirements: list[str]) -> str | None:
    """Why ``pins``, a resolution read back from a cache, do not answer ``requirements``; None
    when they do. Each pin's file must be a file of its release (a wheel of 2.17.0 named as
    2.18.0 is not), and each requirement pinned with ``==`` must have its release among them."""
    for pin in pins:
        problem = file_problem(pin.filename, pin.name, pin.version)
        if problem:
            return problem
    released = {pin.name: pin.version for pin in pins}
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            return f"{text[:80]!r} is not a requirement"
        pinned = [spec for spec in requirement.specifier if spec.operator == "=="]
        version = released.get(canonicalize_name(requirement.name))
        if pinned and (version is None or not requirement.specifier.contains(version, prereleases=True)):
            return f"it does not hold {text}"
    return None


def pip_compile(
    requirements: list[str],
    target: Target,
    *,
    deadline: float,
    exclude_newer: str | None = None,
    no_deps: bool = False,
    binary_only: bool = True,
    sdists: tuple[str, ...] = (),
    newer_limits: tuple[tuple[str, str], ...] = (),
    constraints: tuple[str, ...] = (),
    index: Index | None = None,
    what: str = "uv pip compile",
) -> list[Pin]:
    """What pip would install for ``requirements`` on ``target``: one ``uv pip compile`` call.

    ``exclude_newer`` (RFC 3339): as of that date; ``binary_only``: wheels only, but for the
    distributions in ``sdists`` (they publish none, pip builds them); ``newer_limits``: single
    distributions as of other dates (``(("keras", date),)``); ``index``: another index and uv
    cache; ``what``: how messages name the call. Never ``--offline``: uv then passes over the
    versions whose metadata it has not cached and answers with an older set, silently. Raises
    ``ResolveError``.
    """
    if index is not None and index.cached_only:
        raise ResolveError(f"not resolved: {index.cached_only}", signature="index unreachable")
    with temporary_folder("resolve") as tmp:
        lock = tmp / "pylock.toml"
        args = ["pip", "compile", "-", "--quiet", "--no-header", "--python", target.interpreter]
        env = dict(os.environ)
        if target.platform:
            args += ["--python-platform", target.platform, "--python-version", target.python]
            env |= {"MACOSX_DEPLOYMENT_TARGET": target.macos, "UV_PYTHON_DOWNLOADS": "never"}
        args += ["--format", "pylock.toml", "-o", str(lock)]
        args += ["--only-binary", ":all:", *(f"--no-binary={name}" for name in sdists)] if binary_only else []
        args += ["--no-deps"] if no_deps else []
        args += ["--exclude-newer", exclude_newer] if exclude_newer else []
        for name, date in newer_limits:
            args += ["--exclude-newer-package", f"{name}={date}"]
        if constraints:
            constraints_file = tmp / "constraints.txt"
            constraints_file.write_text("".join(f"{line}\n" for line in constraints))
            args += ["--constraint", str(constraints_file)]
        if index is not None:
            uvcall.use_index(args, env, url=index.url, uv_cache=index.uv_cache)
        try:
            done = uvcall.run(
                args, deadline=deadline, stdin="\n".join(requirements) + "\n", env=env, what=what
            )
        except uvcall.UvError as exc:
            raise ResolveError(str(exc), signature=exc.signature) from None
        if done.returncode != 0:
            signature, reason = uvcall.explain_error(done.stderr)
            raise ResolveError(
                f"{what}: {reason}",
                signature=signature,
                detail=done.stderr,
                no_verdict=uvcall.is_offline(done.stderr),
            )
        packages = tomllib.loads(lock.read_text()).get("packages", [])
    return [_pin(package) for package in packages]


def _pin(package: dict) -> Pin:
    # A version that only a source distribution holds (pip builds it) has no wheel to name.
    artifact = (package.get("wheels") or [None])[0] or package.get("sdist")
    if artifact is None:
        raise ResolveError(
            f"{package['name']}=={package.get('version')}: no file in uv's answer", no_verdict=False
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
