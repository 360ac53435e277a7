"""The environment a user already has: its Python and the distributions that matter, read
without importing TensorFlow and without changing anything.

The interpreter is run once, isolated from ``PYTHON*`` variables and from the current folder,
to say its version and its import path (``sys.path``: where pip, and ``importlib.metadata``,
find what is installed, user site-packages included). The distributions are then read here,
from the ``*.dist-info`` folders on that path, first one found per name as Python would: only
their ``METADATA`` headers (Name, Version, Requires-Dist), bounded, regular files only (a FIFO
cannot hang the read). Everything read is untrusted: a bad one is one line naming the file.
"""

from __future__ import annotations

import email.parser
import json
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tfcompat.core.config import caller_environment
from tfcompat.core.errors import TfcompatError

#: The distributions the diagnosis reads (the issue's list); every other one is skipped unread.
MATTERS = (
    "tensorflow",
    "tensorflow-macos",
    "tensorflow-cpu",
    "tensorflow-metal",
    "keras",
    "tf-keras",
    "numpy",
    "protobuf",
    "ml-dtypes",
)
#: What is read: those, and pip (the fix runs ``python -m pip``; a venv made by uv has none).
READ = (*MATTERS, "pip")
#: The distributions that are TensorFlow itself (its binaries, or the stub that names them).
TENSORFLOW = ("tensorflow", "tensorflow-macos", "tensorflow-cpu")
#: Seconds the interpreter gets to say what it is: a Python starts in well under one.
RUN_TIMEOUT = 30.0
#: The most of a METADATA file read: its headers come first and are a few kB.
METADATA_BYTES = 256 * 1024
#: What the interpreter prints: one JSON object. Python 2.7 and 3.x alike can run it, so an
#: old interpreter is told apart from one that cannot run at all.
_FACTS = (
    "import json, platform, sys\n"
    "print(json.dumps({'version': platform.python_version(), 'implementation': "
    "platform.python_implementation(), 'executable': sys.executable, 'prefix': sys.prefix, "
    "'base_prefix': getattr(sys, 'base_prefix', sys.prefix), 'path': [p for p in sys.path if p]}))\n"
)


class Unreadable(TfcompatError):
    """The environment cannot be read (not a Python, cannot run, unreadable metadata, a version
    that is not PEP 440): the doctor cannot tell. The message is one line naming what was read."""

    no_verdict = True


@dataclass(frozen=True)
class Distribution:
    name: str  # canonical: "tensorflow-metal"
    version: str  # canonical PEP 440
    metadata: str  # the METADATA file it was read from
    requires: tuple[str, ...] = ()  # Requires-Dist, as written


@dataclass
class Environment:
    """What the doctor reads of one environment."""

    python: Path  # the interpreter, as given or found (not resolved: a venv's python is a link)
    version: str  # "3.11.7"
    implementation: str  # "CPython"
    prefix: str
    virtual: bool  # a virtual environment (prefix != base_prefix)
    paths: list[str]  # the import path it searches, existing folders only
    distributions: dict[str, Distribution] = field(default_factory=dict)  # the first found per name
    #: More than one dist-info of a distribution that matters on the path: name -> every version.
    duplicates: dict[str, list[str]] = field(default_factory=dict)

    @property
    def minor(self) -> str:
        """``3.11``: the Python the wheels are tagged for."""
        return ".".join(self.version.split(".")[:2])

    def version_of(self, name: str) -> str | None:
        found = self.distributions.get(name)
        return found.version if found else None

    @property
    def tensorflow(self) -> Distribution | None:
        """The TensorFlow that ``import tensorflow`` gets: the binary distribution where both a
        stub and its binaries are installed (``tensorflow`` 2.13 - 2.15 requires ``tensorflow-macos``
        of the same version; from 2.15.1 it is the other way round)."""
        # ``tensorflow`` first: the name a user installs from 2.13 (its stub's version is the
        # binaries'); ``tensorflow-macos`` before it; ``tensorflow-cpu`` off a Mac.
        return next((self.distributions[name] for name in TENSORFLOW if name in self.distributions), None)


def find_python(given: str | None) -> Path:
    """The interpreter to diagnose: ``given`` (an interpreter or a virtual environment's folder),
    else the caller's active virtual environment, else ``python3`` on the caller's PATH."""
    if given:
        path = Path(given).expanduser()
        if path.is_dir():
            return _venv_python(path)
        if not path.exists():
            raise Unreadable(f"{given}: no such file or folder")
        return path.absolute()
    virtual_env, search = caller_environment()
    if virtual_env:
        return _venv_python(Path(virtual_env))
    found = shutil.which("python3", path=search)
    if not found:
        raise Unreadable("no virtual environment is active and no python3 is on PATH: name one")
    return Path(found)


def _venv_python(folder: Path) -> Path:
    for name in ("bin/python3", "bin/python", "Scripts/python.exe"):
        if (folder / name).is_file():
            return (folder / name).absolute()
    raise Unreadable(f"{folder}: not a Python or a virtual environment's folder (no bin/python3)")


def read_environment(python: Path) -> Environment:
    """Run ``python`` once for its facts and read its distributions; ``Unreadable`` (one
    line) when it is not a Python that runs or what it has installed cannot be read."""
    facts = _run(python)
    try:
        version, prefix = str(facts["version"]), str(facts["prefix"])
        paths = [str(item) for item in facts["path"]]
        Version(version)
    except (KeyError, TypeError, InvalidVersion):
        raise Unreadable(f"{python}: did not say what Python it is") from None
    environment = Environment(
        python=python,
        version=version,
        implementation=str(facts.get("implementation") or ""),
        prefix=prefix,
        virtual=prefix != str(facts.get("base_prefix") or prefix),
        paths=[path for path in paths if os.path.isdir(path)],
    )
    _read_distributions(environment)
    return environment


def _run(python: Path) -> dict:
    # -E: no PYTHON* variables (a PYTHONPATH of this process is not the user's environment);
    # -B: no bytecode written (a .pth that imports a module at startup, as setuptools' does,
    # would otherwise leave a __pycache__ in the environment); run from an empty folder, so
    # nothing in the caller's folder shadows the standard library.
    with tempfile.TemporaryDirectory(prefix="tfcompat-doctor-") as empty:
        try:
            done = subprocess.run(
                [str(python), "-E", "-B", "-c", _FACTS],
                capture_output=True,
                timeout=RUN_TIMEOUT,
                cwd=empty,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise Unreadable(f"{python}: did not answer in {RUN_TIMEOUT:.0f} s") from None
        except OSError as exc:
            raise Unreadable(f"{python}: not a Python that runs ({exc.strerror})") from None
    if done.returncode != 0:
        last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
        raise Unreadable(f"{python}: cannot run (exit code {done.returncode}: {last[:200]})")
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        facts = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        facts = None
    if not isinstance(facts, dict):
        raise Unreadable(f"{python}: not a Python (it did not print what a Python prints)")
    return facts


def _read_distributions(environment: Environment) -> None:
    seen: dict[str, list[str]] = {}
    for folder in environment.paths:
        try:
            with os.scandir(folder) as entries:
                names = sorted(entry.name for entry in entries if entry.name.endswith(".dist-info"))
        except OSError as exc:
            raise Unreadable(f"{folder}: cannot read: {exc.strerror}") from None
        for name in names:
            project = canonicalize_name(name.removesuffix(".dist-info").rpartition("-")[0] or name)
            if project not in READ:
                continue  # read only what the diagnosis needs: a site-packages holds hundreds
            dist = _read_metadata(Path(folder) / name / "METADATA")
            if dist.name not in READ:
                continue
            seen.setdefault(dist.name, []).append(dist.version)
            environment.distributions.setdefault(dist.name, dist)
    environment.duplicates = {name: versions for name, versions in seen.items() if len(versions) > 1}


def _read_metadata(path: Path) -> Distribution:
    text = _read_text(path)
    headers = email.parser.HeaderParser().parsestr(text)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        raise Unreadable(f"{path}: no Name or Version")
    try:
        canonical = str(Version(version.strip()))
    except InvalidVersion:
        raise Unreadable(f"{path}: version {version.strip()[:60]!r} is not PEP 440") from None
    return Distribution(
        name=canonicalize_name(name.strip()),
        version=canonical,
        metadata=str(path),
        requires=tuple(str(item) for item in headers.get_all("Requires-Dist") or ()),
    )


def _read_text(path: Path) -> str:
    """The start of a METADATA file: a regular file only, opened without blocking (a FIFO or a
    device would hang a plain read), at most ``METADATA_BYTES``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise Unreadable(f"{path}: cannot read: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Unreadable(f"{path}: not a regular file (a FIFO, device or folder)")
        data = os.read(fd, METADATA_BYTES)
    except OSError as exc:
        raise Unreadable(f"{path}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace")


def requirements_of(dist: Distribution, python: str) -> list[Requirement]:
    """The Requires-Dist of ``dist`` that apply on an Apple-silicon Mac with CPython ``python``
    ("3.11") and no extras (a line that is not a requirement is skipped, as pip skips it)."""
    markers = _MAC | {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}
    found = []
    for line in dist.requires:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if marker is not None and not marker.evaluate(markers):
            continue
        found.append(requirement)
    return found


#: The environment markers of an Apple-silicon Mac, whatever OS the doctor runs on.
_MAC = {
    "sys_platform": "darwin",
    "platform_system": "Darwin",
    "platform_machine": "arm64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
