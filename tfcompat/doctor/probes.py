"""Proof on a Mac: the import and devices probes, run in the environment itself.

The suite's own probes (``probes/import.py``, ``probes/devices.py``), each in its own subprocess
with a timeout (``verify.runner``), read-only, judged as ``verify`` judges them (``verify.run.judge``:
a failed import by its signature, a plugin with no GPU listed as a failure). They need a Mac to
say anything about the GPU; off a Mac they run only when asked (``--probes yes``), with the
TensorFlow there is (tensorflow-cpu): that is how they are tested here.
"""

from __future__ import annotations

import os

from tfcompat.core.matrix import NO_PLUGIN, Row
from tfcompat.doctor.model import ProbeResult
from tfcompat.verify.run import judge
from tfcompat.verify.runner import probe_script, run_probe

PROBES = ("import", "devices")
#: Seconds per probe: a first import in a fresh environment compiles bytecode (~15 s).
TIMEOUT = 300.0


def run_probes(
    python: os.PathLike, *, python_minor: str, tf: str, metal: str | None, after_fix: bool = False
) -> list[ProbeResult]:
    """Run the probes in order; a probe after a failed one is not run."""
    row = Row(number=0, python=python_minor, tf=tf, metal=metal or NO_PLUGIN, supports=None)
    results: list[ProbeResult] = []
    for name in PROBES:
        if results and results[-1].status != "ok":
            results.append(
                ProbeResult(
                    probe=name,
                    status="not_run",
                    detail=f"{results[-1].probe} failed first",
                    after_fix=after_fix,
                )
            )
            continue
        # Read-only: no bytecode written into the environment by TensorFlow's first import.
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        run = run_probe(python, probe_script(name), [], timeout=TIMEOUT, env=env)
        probe = judge(name, run, row=row, timeout=TIMEOUT)
        if probe.status == "ok":
            detail = _passed(name, probe.result or {})
            results.append(ProbeResult(probe=name, status="ok", detail=detail, after_fix=after_fix))
        else:
            why = probe.signature or probe.reason or probe.status
            results.append(ProbeResult(probe=name, status="fail", detail=why, after_fix=after_fix))
    return results


def _passed(name: str, result: dict) -> str:
    if name == "import":
        plugins = ", ".join(str(p) for p in result.get("plugins") or []) or "no plugin libraries"
        return f"TensorFlow {result.get('tensorflow')} imports ({plugins})"
    gpus = [str(gpu) for gpu in result.get("gpus") or []]
    return f"GPU listed: {', '.join(gpus)}" if gpus else "no GPU listed (TensorFlow alone: the CPU)"
