"""The host: what machine a record was made on, and the tools that made it."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata

import tfcompat


def host_info() -> dict:
    """OS, OS version (macOS product version on a Mac), machine, chip, and the suite's Python."""
    system = platform.system()
    return {
        "os": system,
        "os_version": platform.mac_ver()[0] if system == "Darwin" else platform.release(),
        "machine": platform.machine(),
        "chip": _mac_chip() if system == "Darwin" else None,
        "python": platform.python_version(),
    }


def tool_versions(uv: str) -> dict:
    """The versions of tfcompat, uv and nox; None for one that cannot be asked."""
    return {"tfcompat": tfcompat.__version__, "uv": _output([uv, "--version"]), "nox": _dist_version("nox")}


def _mac_chip() -> str | None:
    # "Apple M2 Pro" on Apple silicon, the Intel brand string on Intel Macs.
    return _output(["sysctl", "-n", "machdep.cpu.brand_string"])


def _output(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
