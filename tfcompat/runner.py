"""The probe runner: one probe script in its own subprocess, with a timeout and a bounded tail.

Output goes to temporary files, not pipes, so a probe that prints 100 MB neither blocks nor
fills memory; only the last ``TAIL_BYTES`` of each stream are read back. The probe runs in
its own process group, so a timeout (or Ctrl-C of the suite) kills it and everything it
started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: How much of the end of stdout and stderr a result keeps (bytes, each).
TAIL_BYTES = 16 * 1024
#: After a timeout, how long the probe gets between SIGTERM and SIGKILL (seconds).
KILL_GRACE = 3.0
PROBES_DIR = Path(__file__).resolve().parent.parent / "probes"


@dataclass
class ProbeRun:
    """What happened when a probe ran: how it ended, how long it took, what it printed."""

    returncode: int | None
    signal: str | None  # e.g. "SIGSEGV" when a signal ended the process
    seconds: float
    timed_out: bool
    stdout_tail: str
    stderr_tail: str
    result: dict | None  # the JSON object the probe printed last, if any


def interrupt_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C in this process.

    A CI runner cancels a job with SIGTERM, which by default ends Python at once: no ``finally``
    runs, so a probe in its own process group would live on and a temporary record file would
    stay. As a KeyboardInterrupt it unwinds through the same clean-up as Ctrl-C.
    """

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def probe_script(name: str) -> Path:
    """The script of the probe called ``name``: ``probes/<name>.py``."""
    return PROBES_DIR / f"{name}.py"


def run_probe(
    python: Path, script: Path, args: list[str], *, timeout: float, env: dict[str, str] | None = None
) -> ProbeRun:
    """Run a probe ``script`` with ``python`` and ``args``; never raises for what the probe does.

    ``faulthandler`` is on so that a crash in native code still leaves a Python stack on stderr.
    """
    argv = [str(python), "-X", "faulthandler", str(script), *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, start_new_session=True
        )
        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # Also on a normal exit and on KeyboardInterrupt: nothing the probe started outlives it.
            _kill_group(process)
        seconds = time.monotonic() - started
        stdout_tail, stderr_tail = _tail(out), _tail(err)
    code = process.returncode
    return ProbeRun(
        returncode=None if timed_out else code,
        signal=signal.Signals(-code).name if code is not None and code < 0 and not timed_out else None,
        seconds=round(seconds, 3),
        timed_out=timed_out,
        stdout_tail=stdout_tail,
        stderr_tail=stderr_tail,
        result=_last_json_object(stdout_tail),
    )


def _kill_group(process: subprocess.Popen) -> None:
    """SIGTERM the probe's process group, then SIGKILL whatever is left of it after a grace."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        process.wait()
        return  # the leader and all its children are gone
    try:
        process.wait(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # children that ignored SIGTERM, or the leader
    except ProcessLookupError:
        pass
    process.wait()


def _tail(handle) -> str:
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - TAIL_BYTES))
    data = handle.read()
    text = data.decode("utf-8", errors="replace")
    return f"[... {size - TAIL_BYTES} earlier bytes cut ...]\n{text}" if size > TAIL_BYTES else text


def _last_json_object(text: str) -> dict | None:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                # NaN and Infinity are not JSON: keep records strict so any reader can load them.
                value = json.loads(line, parse_constant=lambda constant: None)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None
