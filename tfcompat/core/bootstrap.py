"""``python3 noxfile.py``: from any Python 3 to the suite's locked environment, in one command.

A fresh Mac has Apple's ``python3`` 3.9 and no uv; Homebrew's and Debian's Pythons refuse
``pip install`` (PEP 668). So the noxfile, run as a script by whatever ``python3`` there is,
hands over to uv before it imports anything else: it puts the pinned uv in ``.tools/`` of the
checkout when it is missing (``pip install --target``, which touches neither that Python nor
its site-packages, so PEP 668 allows it), then replaces itself with ``uv run --locked
noxfile.py ARGS``: uv provides a Python 3.11+ (downloading one where none is installed) and
exactly the dependencies of ``noxfile.py.lock``.

This module runs on every Python 3 the noxfile may be started with (3.9 on a fresh Mac): the
standard library only, nothing newer than 3.9.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

#: The pid that handed over, in the environment of the Python uv starts: that Python (whose parent
#: is uv, in the process that handed over) runs nox; any other, e.g. a test's ``python3
#: noxfile.py`` started from inside a session, hands over itself.
HANDED_OVER = "TFCOMPAT_HANDED_OVER"
#: The caller's ``VIRTUAL_ENV`` and ``PATH``, kept for ``nox -s doctor``: ``uv run`` sets both to
#: the suite's own environment, and the doctor's default is the environment the user had active.
CALLER_VIRTUAL_ENV = "TFCOMPAT_CALLER_VIRTUAL_ENV"
CALLER_PATH = "TFCOMPAT_CALLER_PATH"
#: The pin of uv in the noxfile's PEP 723 block: the one place that names uv's version.
_UV_PIN = re.compile(r'^#\s+"uv==([0-9][0-9a-z.]*)",?$', re.MULTILINE)


def uv_version(noxfile: Path) -> str:
    """The uv version the noxfile's own dependency block pins."""
    found = _UV_PIN.search(noxfile.read_text(encoding="utf-8"))
    if found is None:
        _fail(f"{noxfile.name}: no uv==VERSION in its script block")
    return found.group(1)


def hand_over(noxfile: Path, argv: list[str]) -> None:
    """Replace this process with ``uv run --locked NOXFILE ARGV``, installing uv first if needed;
    return at once in the Python that uv started for it.

    Otherwise never returns: the process becomes uv's, or exits 2 with one line saying what to do.
    """
    if os.environ.get(HANDED_OVER) == str(os.getppid()):
        return
    version = uv_version(noxfile)
    tools = noxfile.parent / ".tools"
    uv = tools / "bin" / ("uv.exe" if os.name == "nt" else "uv")
    if _installed_version(uv) != version:
        _install_uv(tools, version)
    env = dict(os.environ, **{HANDED_OVER: str(os.getpid())})
    env.setdefault(CALLER_VIRTUAL_ENV, os.environ.get("VIRTUAL_ENV", ""))
    env.setdefault(CALLER_PATH, os.environ.get("PATH", ""))
    command = [str(uv), "run", "--locked", str(noxfile), *argv]
    if os.name == "nt":  # no exec on Windows: wait for uv and pass its exit code on
        raise SystemExit(subprocess.call(command, env=env))
    os.execve(str(uv), command, env)


def _installed_version(uv: Path) -> str | None:
    """The version ``uv --version`` states ("uv 0.13.9 (…)"), or None when there is no working uv."""
    try:
        done = subprocess.run([str(uv), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    words = done.stdout.split()
    return words[1] if done.returncode == 0 and len(words) > 1 and words[0] == "uv" else None


def _install_uv(tools: Path, version: str) -> None:
    """``pip install --target .tools uv==VERSION`` with the Python running this script."""
    print(f"tfcompat: installing uv {version} into {tools} (once)", file=sys.stderr)
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    argv += ["--upgrade", "--target", str(tools), f"uv=={version}"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        _fail(f"cannot run pip to install uv ({exc}); install uv {version} yourself")
    if done.returncode != 0:
        if "No module named pip" in done.stderr:
            why = f"{sys.executable} has no pip"
        else:
            why = (done.stderr.strip().splitlines() or ["pip failed with no message"])[-1]
        _fail(
            f"could not install uv {version} into {tools}: {why}; "
            f"install uv {version} (https://docs.astral.sh/uv/) and run `uv run --locked noxfile.py`"
        )


def _fail(message: str) -> None:
    """One line on stderr, and exit 2: the suite could not start."""
    print(f"tfcompat: {message}", file=sys.stderr)
    raise SystemExit(2)
