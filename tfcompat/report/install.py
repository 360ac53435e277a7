"""What a user types: the install command of a pair, and the lock file of a verify run.

Both are built only from checked parts (versions from the matrix or canonical release strings,
pins and packages that parse as plain requirements), never copied from a record, so a record
cannot put anything into a command a user pastes into a shell.
"""

from __future__ import annotations

import hashlib
import re
import shlex

from packaging.requirements import InvalidRequirement, Requirement

from tfcompat.core.macos import install_name
from tfcompat.core.record import InstallCommand, Record

_PIN = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?(\s*(===?|[<>!~]=|[<>])\s*[A-Za-z0-9.*+!_-]+,?)+"
)
_LOCKED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+( --hash=sha256:[0-9a-f]{64})*")
_RECORD_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{0,63}")
#: The folder of a new environment for a Python that has no pair (relative: where the user is).
NEW_ENVIRONMENT = "tf-metal"


def install_command(tf: str, metal: str, install: InstallCommand | None) -> tuple[str | None, str | None]:
    """(command, note): the command the engine resolved for macOS arm64 as of today, rebuilt from
    its checked parts (Apple's two packages, and the pins that keep the release importable).

    No command where the engine resolved none (the map has not asked about this pair and Python)
    or found that none installs the pair from wheels today: a command that was never resolved
    may not install at all.
    """
    if install is None:
        return None, "no install command resolved for this pair and Python yet (nox -s map resolves it)"
    if not install.works:
        return (
            None,
            f"no command installs this pair from wheels today: {install.reason or 'see the map record'}",
        )
    if not all(_safe_pin(pin) for pin in install.pins):
        return None, "the record's pins are not plain requirements: no command is printed"
    parts = [
        f"{install_name(tf)}=={tf}",
        *([f"tensorflow-metal=={metal}"] if metal != "none" else []),
        *install.pins,
    ]
    command = "python -m pip install " + " ".join(f'"{part}"' for part in parts)
    note = f"pins {', '.join(install.pins)}: {install.reason}" if install.pins and install.reason else None
    return command, note


def _safe_pin(pin: str) -> bool:
    if not _PIN.fullmatch(pin):
        return False
    try:
        requirement = Requirement(pin)
    except InvalidRequirement:
        return False
    return requirement.url is None and requirement.marker is None


def lock_name(record: Record, python: str, tf: str, metal: str, name: str) -> str:
    """``locks/py3.10-tf2.17.0-metal1.1.0-<record id>.txt``: versions from the matrix, an id that is
    a plain token (else a hash of the record's file name)."""
    token = record.id if _RECORD_ID.fullmatch(record.id) else hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"locks/py{python}-tf{tf}-metal{metal}-{token}.txt"


def lock_text(record: Record, *, name: str, machine: str) -> str | None:
    """What the verify run installed, one ``name==version`` a line (hashes where the record has
    them), for ``python -m pip install -r`` or ``uv pip sync``; None if a line is not a plain pin."""
    packages = record.provision.packages if record.provision else []
    if not packages or not all(_LOCKED.fullmatch(line) for line in packages):
        return None
    hashed = all("--hash=" in line for line in packages)
    header = [
        f"# What the verify run {record.id if _RECORD_ID.fullmatch(record.id) else name} installed, exactly.",
        f"# record: {name}",
        f"# machine: {machine}",
        "# use: python -m pip install -r THIS_FILE   or   uv pip sync THIS_FILE",
    ]
    if not hashed:
        header.append("# no hashes: the record lists versions only")
    return "\n".join([*(line.replace("\n", " ") for line in header), *sorted(packages, key=str.lower)]) + "\n"


def new_environment(python: str, install: str) -> list[list[str]]:
    """The commands that make an environment of ``python`` and install a pair in it, for a Python
    that has no pair (the report's answer prints them, the doctor's fix runs them). uv installs
    the interpreter where none is (a fresh Mac has only 3.9); ``install`` is a command built by
    ``install_command`` (``python -m pip install ...``), run with the new environment's Python."""
    return [
        ["uv", "python", "install", python],
        ["uv", "venv", "--seed", "--python", python, NEW_ENVIRONMENT],  # --seed: with pip, for the install
        [f"{NEW_ENVIRONMENT}/bin/python", *shlex.split(install)[1:]],
    ]
