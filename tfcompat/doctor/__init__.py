"""The doctor: check the environment a user already has, and print the one command that fixes it.

    environment (read, nothing imported or changed) → answer (the map's engine and the report's
    answer) → checks (one line per judgement) → fix (the commands) → probes (a Mac: proof)

A tool above the wings: it reads the environment itself, asks the same engine as ``map`` and
``abi`` (``predict.pairmap``) and the same answer as ``report``, and runs the suite's own probes.
``nox -s doctor -- [PYTHON]``; ``python -m tfcompat.doctor [PYTHON]`` gives the same exit codes
(0 healthy, 1 a problem found, 2 cannot tell).
"""

from __future__ import annotations

from tfcompat.doctor.cli import main

__all__ = ["main"]
