"""The fix: the commands that turn this environment into the recommended pair, and running them.

Each command is an argument list built from checked parts only: the interpreter the user named
(absolute), distribution names from the doctor's own list, and the install command the map
resolved today (``report.install``: canonical versions and plain pins). Nothing read from the
environment becomes an option. Printed, they are quoted for a POSIX shell.

Running them (``--fix``) is for a Mac only (tensorflow-metal has no wheels elsewhere): pip in
that environment, in order, stopping at the first that fails. Written for its first real run
on a Mac; here it is tested as far as the refusal and the commands.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable

from tfcompat.core.errors import TfcompatError
from tfcompat.core.uvcall import uv_binary
from tfcompat.doctor.answer import Answers, requirement_names
from tfcompat.doctor.environment import TENSORFLOW, Environment
from tfcompat.doctor.model import Fix, Pair, Recommendation
from tfcompat.report.install import new_environment

#: Seconds one pip command may take (TensorFlow is ~250 MB).
COMMAND_TIMEOUT = 1800.0


class FixFailed(TfcompatError):
    """A command of the fix failed; the message is one line naming it."""


def fix_for(env: Environment, answers: Answers) -> Fix | None:
    """The commands for ``env``, or None when there is no recommendation to move to."""
    recommended = answers.recommended
    if recommended is None:
        return None
    recommendation = Recommendation(
        python=recommended.python,
        pair=Pair(tf=recommended.tf, metal=recommended.metal),
        evidence=recommended.evidence,
        source=recommended.source,
        install=recommended.install or "",
    )
    if recommended.install is None:
        return Fix(commands=[], text=[], recommendation=recommendation, note=recommended.install_note)
    commands: list[list[str]]
    if answers.other_python is not None:
        commands = new_environment(recommended.python, recommended.install)  # the report's steps
        new = True
    else:
        python = str(env.python)
        commands = []
        if "pip" not in env.distributions:
            commands.append([python, "-m", "ensurepip"])  # a venv made by uv has no pip
        wanted = requirement_names(recommended.tf)
        conflicts = [name for name in TENSORFLOW if name in env.distributions and name not in wanted]
        if conflicts:
            commands.append([python, "-m", "pip", "uninstall", "-y", *conflicts])
        install = shlex.split(recommended.install)  # built by report.install: "python -m pip install ..."
        commands.append([python, *install[1:]])
        new = False
    return Fix(
        commands=commands,
        text=[shlex.join(command) for command in commands],
        new_environment=new,
        recommendation=recommendation,
        note=recommended.install_note,
    )


def run_fix(fix: Fix, *, log: Callable[[str], None]) -> None:
    """Run the fix's commands in order (a Mac only; the caller checks); ``FixFailed`` at the
    first that fails."""
    for command, text in zip(fix.commands, fix.text, strict=True):
        log(f"doctor: running {text}")
        if command[0] == "uv":  # the new environment's steps: the suite's own uv
            command = [uv_binary(), *command[1:]]
        try:
            done = subprocess.run(command, timeout=COMMAND_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise FixFailed(f"{text}: did not finish in {COMMAND_TIMEOUT:.0f} s") from None
        except OSError as exc:
            raise FixFailed(f"{text}: cannot run ({exc.strerror})") from None
        if done.returncode != 0:
            raise FixFailed(f"{text}: exit code {done.returncode}")
