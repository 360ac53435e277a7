"""Provisioning: what to install for a row on this platform, and installing it with uv.

Four steps, each cached where its answer cannot change:
1. the interpreter: ``uv python find`` (or ``uv python install``) for the row's Python;
2. the release date: the upload time of the row's pinned wheels, read from a ``pylock.toml``
   that ``uv pip compile --no-deps`` writes without downloading anything;
3. the resolution: ``uv pip compile --exclude-newer <release date + 1 day>``, i.e. what a user
   could have installed then (no numpy 2 under TF 2.9), plus the row's constraints, from binary
   wheels only (``binaryonly``): a row whose tree has a requirement with no wheel for this
   machine is not installable in seconds, instead of building it from source for 15 minutes;
4. the environment: one per resolved set, installed with ``uv pip sync --compile-bytecode`` so
   the first import is not slowed by compiling TensorFlow's 10k modules, and reused only when
   its files still match their installers' RECORD (``installed``); a damaged one is rebuilt.

Every cache entry names the question it answers and is checked before use (``cache``).
A full disk, or a folder that cannot be written, is a ``ProvisionError``: no verdict.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import platform
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec

from tfcompat.core import cache, config, macos, uvcall
from tfcompat.core.errors import TfcompatError
from tfcompat.core.files import DiskFull, FilesError, folder_line, temporary_folder, write_failure
from tfcompat.core.matrix import Row
from tfcompat.resolve import binaryonly
from tfcompat.resolve.resolver import ResolveError, Target, pins_problem, pip_compile
from tfcompat.verify import installed

#: Part of a resolution's question: the answers of the binary-only resolver, not of plain uv.
_BINARY_ONLY = "binary-only-2"
#: What uv says when a write fails for want of space (ENOSPC, EDQUOT).
_NO_SPACE = re.compile(r"(?:([^\s`'\"]+)[`'\"]?: )?(?:No space left on device|Disk quota exceeded)")
#: A TensorFlow environment as measured here (tensorflow-cpu 2.17: 1.2 GB of files, bytecode on top).
_ENV_SIZE_HINT = (
    "an environment takes up to about 1.5 GB (less where uv hard-links from its cache on that disk)"
)


class NotRunnableHere(TfcompatError):
    """The row cannot run on this OS at all (not a failure of the pair); the message says why."""


class ProvisionError(ResolveError):
    """Provisioning failed: no verdict. ``signature`` is stable, the message is one line with
    uv's reason, ``detail`` the command's whole error output, for the record."""

    def __init__(self, signature: str, message: str, detail: str = ""):
        super().__init__(message, signature=signature, detail=detail)


@dataclass
class Environment:
    """A provisioned environment for one row, and how it came to be."""

    python: Path
    interpreter: str  # "3.11.7 /usr/bin/python3.11"
    requirements: list[str]
    exclude_newer: str | None
    packages: list[str] = field(default_factory=list)  # "name==version", as installed
    reused: bool = False
    seconds: float = 0.0
    missing: list[str] = field(default_factory=list)  # no wheel here as of exclude_newer
    exclude_newer_package: dict[str, str] = field(default_factory=dict)  # taken as of a later date
    sdists: list[str] = field(default_factory=list)  # built from sdists: no wheel for any platform


def requirements_for(row: Row, *, system: str, machine: str) -> list[str]:
    """The pinned distributions that make up ``row`` on this platform.

    On an Apple-silicon Mac what a user installs there (``core.macos``), on an Intel Mac
    ``tensorflow``; elsewhere the CPU-only build is the same TensorFlow without a GPU stack, a
    third of the download.
    """
    if system == "Darwin":
        if machine == "arm64":
            return macos.requirements(row.tf, row.metal)
        return [f"tensorflow=={row.tf}"] + ([f"{macos.PLUGIN}=={row.metal}"] if row.has_plugin else [])
    if row.has_plugin:
        raise NotRunnableHere(f"tensorflow-metal has no wheels for {system}: verify needs macOS")
    name = (
        "tensorflow-cpu" if (system, machine) in {("Linux", "x86_64"), ("Windows", "AMD64")} else "tensorflow"
    )
    return [f"{name}=={row.tf}"]


def provision(row: Row, *, timeout: float, log=print) -> Environment:
    """Find the interpreter, resolve and install ``row``; raise ``ProvisionError`` if any fails."""
    started = time.monotonic()
    deadline = started + timeout
    requirements = requirements_for(row, system=platform.system(), machine=platform.machine())
    unusable = folder_line("cache folder", config.cache_dir(), config.CACHE_ENV)
    if unusable:
        raise ProvisionError("cache unusable", unusable)
    try:
        interpreter, version = find_interpreter(row.python, deadline=deadline)
        exclude_newer = release_date(requirements, interpreter, version, deadline=deadline)
        wheels = resolve(
            requirements, row.constraints, interpreter, version, exclude_newer, deadline=deadline
        )
        lock = "".join(f"{pin}\n" for pin in wheels.packages)
        # Only the wheels resolved: the packages that publish no wheel at all are the only sdists.
        binary_only = ["--only-binary", ":all:", *(f"--no-binary={name}" for name in wheels.sdists)]
        python, reused = environment(
            interpreter, version, lock, deadline=deadline, log=log, install_options=binary_only
        )
    except DiskFull as exc:
        raise ProvisionError("disk full", str(exc)) from None
    except FilesError as exc:
        raise ProvisionError("cache unusable", str(exc)) from None
    return Environment(
        python=python,
        interpreter=f"{version} {interpreter}",
        requirements=requirements,
        exclude_newer=exclude_newer,
        packages=wheels.packages,
        reused=reused,
        seconds=round(time.monotonic() - started, 3),
        missing=wheels.missing,
        exclude_newer_package=wheels.later,
        sdists=wheels.sdists,
    )


def environment(
    interpreter: Path, version: str, lock: str, *, deadline: float, log, install_options: list[str] = ()
) -> tuple[Path, bool]:
    """The python of an environment of ``interpreter`` holding exactly ``lock`` (requirements.txt
    text), and whether it was reused: it is when its files prove intact, else it is (re)built
    with ``uv pip sync`` and ``install_options`` (e.g. binary wheels only)."""
    env_dir = config.cache_dir() / "envs" / _digest(version, str(interpreter), lock)[:16]
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = installed.site_packages(env_dir, version)
    # What the environment must hold: its manifest is only valid for exactly this.
    key = {"lock_sha256": _digest(lock), "interpreter": str(interpreter), "version": version}
    # Two sessions of rows with the same resolved set share this environment: one builds it
    # while the other waits, instead of both clearing it at once.
    with environment_lock(env_dir):
        if (
            (env_dir / installed.MANIFEST).is_file()
            and python.exists()
            and (env_dir / "pyvenv.cfg").is_file()
        ):
            try:
                checked = installed.check(env_dir, site, key=key, expected=_pins(lock))
            except installed.Damaged as exc:
                log(f"rebuilding {env_dir}: damaged: {exc}")
            else:
                log(f"reusing {env_dir}: {checked.files} files match their RECORD ({checked.seconds:.2f} s)")
                return python, True
        else:
            log(f"creating {env_dir}")
        _build(env_dir, interpreter, python, lock, deadline=deadline, options=install_options)
        try:
            installed.seal(env_dir, site, key=key, expected=_pins(lock))
        except installed.Damaged as exc:
            clean = f"uv cache clean {exc.dist}" if exc.dist else "uv cache clean"
            raise ProvisionError(
                "damaged environment",
                f"{env_dir} is damaged right after it was built ({exc}): uv's cache may hold a damaged "
                f"copy; run `{clean}` and rerun",
            ) from None
    return python, False


def _build(
    env_dir: Path, interpreter: Path, python: Path, lock: str, *, deadline: float, options: list[str]
) -> None:
    """Make a new virtual environment at ``env_dir`` and install exactly ``lock`` in it."""
    with temporary_folder("uv") as tmp:
        lock_file = tmp / "requirements.txt"
        lock_file.write_text(lock)
        _uv(
            ["venv", "--clear", "--python", str(interpreter), str(env_dir)], deadline=deadline, folder=env_dir
        )
        _uv(
            ["pip", "sync", "--compile-bytecode", *options, "--python", str(python), str(lock_file)],
            deadline=deadline,
            folder=env_dir,
        )


def find_interpreter(python: str, *, deadline: float) -> tuple[Path, str]:
    """The path and full version of an interpreter for ``python`` (e.g. "3.10")."""
    try:
        path = _uv(["python", "find", python], deadline=deadline).strip()
    except ProvisionError as exc:
        # pyenv's shim for a version that is installed but not selected exits 127 with this word.
        if "pyenv:" in exc.detail:
            raise ProvisionError(
                "interpreter not found",
                f"Python {python}: pyenv has it but its shim exits 127 because it is not selected; "
                f"select it too, e.g. PYENV_VERSION=$(pyenv version-name):$(pyenv latest {python})",
            ) from None
        try:
            _uv(["python", "install", python], deadline=deadline)
            path = _uv(["python", "find", python], deadline=deadline).strip()
        except ProvisionError as install:
            raise ProvisionError(
                "interpreter not found",
                f"Python {python} not found, and uv could not install it ({install}); "
                f"install it (uv python install {python}, pyenv, python.org) or set the row's python",
            ) from None
    probe = "import platform; print(platform.python_version())"
    version = _run([path, "-c", probe], deadline=deadline, what=f"Python {python}").strip()
    return Path(path), version


def release_date(requirements: list[str], interpreter: Path, version: str, *, deadline: float) -> str | None:
    """One day after the newest upload of the pinned distributions, as RFC 3339; cached."""
    question = {"requirements": requirements, "interpreter": str(interpreter)}
    entry = cache.entry_path(config.cache_dir() / "release", question)
    cached = cache.load_json(entry, question, valid=_valid_release)
    if cached is not None:
        return cached["exclude_newer"]
    target = Target(python=_minor(version), interpreter=str(interpreter))
    pins = pip_compile(
        requirements, target, deadline=deadline, no_deps=True, binary_only=False, what="uv pip"
    )
    exclude_newer = macos.released(datetime.fromisoformat(pin.uploaded) for pin in pins if pin.uploaded)
    cache.store_json(entry, question, {"exclude_newer": exclude_newer})
    return exclude_newer


def resolve(
    requirements: list[str],
    constraints: tuple[str, ...],
    interpreter: Path,
    version: str,
    exclude_newer: str | None,
    *,
    deadline: float,
):
    """The full set of binary wheels for this interpreter (a ``binaryonly.Resolution``); cached,
    since ``--exclude-newer`` makes the answer fixed. Raise ``binaryonly.NotInstallable`` when no
    set of wheels installs the row, ``ResolveError`` for any other failure."""
    question = {
        "resolver": _BINARY_ONLY,
        "requirements": requirements,
        "constraints": list(constraints),
        "python": version,
        "exclude_newer": exclude_newer,
        "platform": platform.platform(),
    }
    entry = cache.entry_path(config.cache_dir() / "resolve", question)

    cached = cache.load_json(
        entry, question, valid=lambda value: _resolution(value, requirements) is not None
    )
    if cached is not None:
        return _resolution(cached, requirements)
    wheels = binaryonly.resolve(
        requirements,
        target=Target(python=_minor(version), interpreter=str(interpreter)),
        exclude_newer=exclude_newer,
        constraints=constraints,
        timeout=deadline - time.monotonic(),
    )
    cache.store_json(entry, question, dataclasses.asdict(wheels))
    return wheels


def _resolution(value, requirements: list[str]) -> binaryonly.Resolution | None:
    """A cached resolution of ``requirements`` read back, or None when it is not one: not of the
    right types, or not an answer to them (``pins_problem``)."""
    try:
        resolution = msgspec.convert(value, binaryonly.Resolution)
    except msgspec.ValidationError:
        return None
    return None if pins_problem(resolution.pins, requirements) else resolution


def _minor(version: str) -> str:
    """``3.11`` of ``3.11.7``."""
    return ".".join(version.split(".")[:2])


def _valid_release(value) -> bool:
    return isinstance(value, dict) and (
        value.get("exclude_newer") is None or isinstance(value["exclude_newer"], str)
    )


def _pins(lock: str) -> list[str]:
    return [line.strip() for line in lock.splitlines() if "==" in line and not line.lstrip().startswith("#")]


def _uv(args: list[str], *, deadline: float, stdin: str | None = None, folder: Path | None = None) -> str:
    what = f"uv {args[0]}"
    try:
        done = uvcall.run(args, deadline=deadline, stdin=stdin, what=what)
    except uvcall.UvError as exc:
        raise ProvisionError(exc.signature, str(exc)) from None
    return _output(done, what=what, folder=folder)


def _run(argv: list[str], *, deadline: float, what: str) -> str:
    """Run a command that is not uv (the interpreter); its stdout, or ``ProvisionError``."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ProvisionError("provisioning timeout", f"{what}: provisioning ran out of time")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=remaining, check=False)
    except subprocess.TimeoutExpired:
        raise ProvisionError(
            "provisioning timeout", f"{what}: no answer within the provision timeout"
        ) from None
    except OSError as exc:
        raise ProvisionError("cannot run", f"{what}: cannot run {argv[0]}: {exc.strerror}") from None
    return _output(done, what=what, folder=None)


def _output(done: subprocess.CompletedProcess, *, what: str, folder: Path | None) -> str:
    """A provisioning command's stdout, or ``ProvisionError`` with its one-line reason."""
    if done.returncode != 0:
        full = _NO_SPACE.search(" ".join(done.stderr.split()))
        if full:
            raise ProvisionError("disk full", _disk_full(full.group(1), folder, what), detail=done.stderr)
        signature, reason = uvcall.explain_error(done.stderr)
        raise ProvisionError(signature, f"{what}: {reason}", detail=done.stderr)
    return done.stdout


def _disk_full(failed: str | None, env_dir: Path | None, what: str) -> str:
    """The line for a command that ran out of space writing ``failed`` (a path, if uv named one)."""
    path = Path(failed) if failed and failed.startswith("/") else None
    if path is None or (env_dir is not None and path.is_relative_to(env_dir)):
        folder = env_dir.parent if env_dir is not None else Path(tempfile.gettempdir())
        hint = _ENV_SIZE_HINT if env_dir is not None else ""
    else:  # uv's own cache, most likely: name the folder it could not write
        folder, hint = next((parent for parent in path.parents if parent.is_dir()), path.parent), ""
    return str(DiskFull(folder, what=what, needed=None, hint=hint))


@contextlib.contextmanager
def environment_lock(env_dir: Path):
    """The lock held on ``env_dir`` while it is checked, built or reused (an advisory lock on
    ``<env_dir>.lock``). Whatever else checks or seals an environment holds it too: sealing
    removes the manifest first, and a session that found no manifest would rebuild the
    environment under it."""
    path = env_dir.with_suffix(".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")
    except OSError as exc:
        raise write_failure(exc, path.parent, what=f"making {path.name}", needed=None) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
