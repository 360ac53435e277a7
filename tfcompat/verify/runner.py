"""The probe runner: one probe script in its own subprocess, with a timeout, full logs and live output.

The probe's stdout and stderr go to files (the caller's log folder, else temporary files), never
into memory, so a probe that prints 100 MB neither blocks nor fills memory; only the last
``TAIL_BYTES`` of each are read back for the record. When the caller asks for it, the probe's
stdout is also copied as it comes to a stream (the terminal): progress lines, and Keras' own
progress bar when that stream is a terminal (the probe then writes to a pseudo-terminal, so
Keras sees one). The result line (a JSON object) goes to the record, not to the stream. The
probe runs in its own process group, so a timeout (or Ctrl-C of the suite) kills it and
everything it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tfcompat.core import config

#: How much of the end of stdout and stderr a result keeps (bytes, each).
TAIL_BYTES = 16 * 1024
#: After a timeout, how long the probe gets between SIGTERM and SIGKILL (seconds).
KILL_GRACE = 3.0
#: How long the copy of a probe's stdout may go on after the probe's group is gone (seconds): only
#: a process that left the group (and kept the stream open) can make it last that long.
COPY_GRACE = 5.0


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
    logs: tuple[Path, Path] | None = None  # the full stdout and stderr, when a log folder was given


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
    return config.PROBES_DIR / f"{name}.py"


def run_probe(
    python: Path,
    script: Path,
    args: list[str],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
    echo: BinaryIO | None = None,
) -> ProbeRun:
    """Run a probe ``script`` with ``python`` and ``args``; never raises for what the probe does.

    ``log_dir``: keep the whole stdout and stderr there, as ``<probe>.stdout.txt`` and
    ``<probe>.stderr.txt`` (created, or replaced). ``echo``: copy the probe's stdout to it while
    the probe runs. ``faulthandler`` is on so that a crash in native code still leaves a Python
    stack on stderr.
    """
    argv = [str(python), "-X", "faulthandler", str(script), *args]
    with _output(log_dir, script.stem, "stdout") as out, _output(log_dir, script.stem, "stderr") as err:
        copier = _StdoutCopier(out, echo) if echo is not None else None
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=copier.child_end if copier else out,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        except BaseException:
            if copier:
                copier.finish()
            raise
        timed_out = False
        try:
            if copier:
                copier.start()
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # Also on a normal exit and on KeyboardInterrupt: nothing the probe started outlives it.
            _kill_group(process)
            if copier:
                copier.finish()
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
        logs=(Path(out.name), Path(err.name)) if log_dir else None,
    )


def _output(log_dir: Path | None, probe: str, stream: str):
    """Where a probe's ``stream`` goes: its log file in ``log_dir``, else an anonymous temporary file."""
    if log_dir is None:
        return tempfile.TemporaryFile()
    log_dir.mkdir(parents=True, exist_ok=True)
    return open(log_dir / f"{probe}.{stream}.txt", "w+b")


class _StdoutCopier:
    """Copies a probe's stdout, as it comes, into its file and to ``echo``.

    The probe writes into a pipe, or into a pseudo-terminal when ``echo`` is a terminal (so that
    Keras draws its progress bar, as it does for a user at a terminal). A thread reads it: the
    file gets every byte; ``echo`` gets every line except the result (a line that starts with
    ``{``), which is for the record. A failing ``echo`` (a closed terminal, a full pipe reader
    gone) stops the echo, never the probe or its log.
    """

    def __init__(self, out: BinaryIO, echo: BinaryIO):
        self._out, self._echo = out, echo
        if _isatty(echo):
            import pty
            import termios

            self._read_end, self.child_end = pty.openpty()
            # Keep the probe's "\n" as it is in the log (a terminal would make it "\r\n").
            attributes = termios.tcgetattr(self.child_end)
            attributes[1] &= ~termios.ONLCR
            termios.tcsetattr(self.child_end, termios.TCSANOW, attributes)
        else:
            self._read_end, self.child_end = os.pipe()
        self._at_line_start, self._in_result = True, False
        self._thread = threading.Thread(target=self._copy, name="probe-stdout", daemon=True)

    def start(self) -> None:
        os.close(self.child_end)  # the probe holds its own copy; EOF comes when the probe's group is gone
        self.child_end = -1
        self._thread.start()

    def finish(self) -> None:
        """Wait for the copy to reach the end of the stream; close what this side holds."""
        if self.child_end >= 0:  # the probe never started, or start() was not reached
            os.close(self.child_end)
            self.child_end = -1
        if self._thread.ident is not None:
            self._thread.join(COPY_GRACE)
        if not self._thread.is_alive():  # else a process outside the group holds the stream: leave it
            os.close(self._read_end)
        self._out.flush()

    def _copy(self) -> None:
        while True:
            try:
                data = os.read(self._read_end, 1 << 16)
            except OSError:  # EIO: a pseudo-terminal whose other end is closed
                return
            if not data:
                return
            self._out.write(data)
            self._show(data)

    def _show(self, data: bytes) -> None:
        shown = []
        while data:
            if self._at_line_start and data[:1] == b"{":
                self._in_result = True
            stop = data.find(b"\n")
            line, data = (data, b"") if stop < 0 else (data[: stop + 1], data[stop + 1 :])
            if not self._in_result:
                shown.append(line)
            self._at_line_start = stop >= 0
            if self._at_line_start:
                self._in_result = False
        if shown and self._echo is not None:
            try:
                self._echo.write(b"".join(shown))
                self._echo.flush()
            except (OSError, ValueError):
                self._echo = None


def _isatty(stream: BinaryIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


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
