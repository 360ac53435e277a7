"""The host: what machine a record was made on, and the tools that made it.

The facts that tell evidence apart live here: the macOS version and build (from ``sw_vers``), the
GPUs macOS lists with their Metal support (``system_profiler``), whether a GPU is the virtual one
of a macOS virtual machine ("Apple Paravirtual device", as on GitHub's hosted macOS runners), and
the CI run that made the record. Parsing is separated from running the tools (``parse_*``, text
in, dict out), so every judgement is tested on recorded outputs on any OS; a tool that is missing,
fails or hangs gives None, never an exception.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
import subprocess
from collections.abc import Mapping
from importlib import metadata

import tfcompat

# Absolute paths: the system's own tools, whatever PATH a runner or a user's shell has.
SW_VERS = "/usr/bin/sw_vers"
SYSTEM_PROFILER = "/usr/sbin/system_profiler"
SYSCTL = "/usr/sbin/sysctl"
#: Seconds for one query of a system tool; system_profiler's displays query takes well under one.
TOOL_TIMEOUT = 30
#: The GPU name macOS virtual machines show (Apple's paravirtualized graphics), e.g. on every
#: GitHub-hosted macOS runner; GitHub documents that Metal Performance Shaders are unsupported there.
PARAVIRTUAL_GPU = "Apple Paravirtual device"
#: The macOS version of a record whose Mac could not tell it.
UNKNOWN = "unknown"

_PRODUCT_VERSION = re.compile(r"\d+(\.\d+){0,2}")
_BUILD_VERSION = re.compile(r"\d+[A-Z]\d+[a-z]?")  # 24G90, 25B78, a beta's 25A5279m
_METAL_FAMILY = re.compile(r"spdisplays_metal(\d+)")  # spdisplays_metal3 -> "Metal 3"
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def host_info(environ: Mapping[str, str] | None = None) -> dict:
    """The host section of a record (``environ`` defaults to this process's environment).

    ``{"os", "os_version", "os_build", "machine", "chip", "python", "gpus", "ci"}`` (the record
    model's ``Host``): on a Mac the macOS version and build from ``sw_vers`` ("unknown" and None
    when it cannot be asked), the chip, and ``gpus`` as ``[{"name", "metal_support", "virtual"}]``;
    elsewhere the kernel release, no build or chip, and no Metal GPUs. ``ci`` is :func:`ci_facts`.
    """
    system = platform.system()
    mac = _mac_facts() if system == "Darwin" else None
    return {
        "os": system,
        # The record model holds a version string: a Mac whose sw_vers could not be asked says so.
        "os_version": (mac["os_version"] or UNKNOWN) if mac else platform.release(),
        "os_build": mac["os_build"] if mac else None,
        "machine": platform.machine(),
        "chip": mac["chip"] if mac else None,
        "python": platform.python_version(),
        # A list in the record model: empty when system_profiler could not be asked either.
        "gpus": (mac["gpus"] or []) if mac else [],
        "ci": ci_facts(os.environ if environ is None else environ),
    }


def tool_versions(uv: str) -> dict:
    """The versions of tfcompat, uv and nox; None for one that cannot be asked."""
    return {"tfcompat": tfcompat.__version__, "uv": _output([uv, "--version"]), "nox": _dist_version("nox")}


def parse_sw_vers(product_version: str | None, build_version: str | None, *, mac_ver: str = "") -> dict:
    """``{"os_version", "os_build"}`` from the outputs of ``sw_vers -productVersion`` / ``-buildVersion``.

    An output that is missing or not shaped like a version gives None. ``mac_ver`` (what
    ``platform.mac_ver()`` said) stands in for a missing product version only when it is not one
    of macOS's compatibility answers: a Python built with an older SDK is told 16.0 on macOS 26
    (CPython issue 135675) and 10.16 on macOS 11, versions that never shipped.
    """
    version = _matching(_PRODUCT_VERSION, product_version)
    if version is None and _matching(_PRODUCT_VERSION, mac_ver) and not _compatibility_version(mac_ver):
        version = mac_ver
    return {"os_version": version, "os_build": _matching(_BUILD_VERSION, build_version)}


def parse_displays(text: str | None) -> list[dict] | None:
    """The GPUs in ``system_profiler SPDisplaysDataType -json`` output, or None if it is unreadable.

    Each is ``{"name", "metal_support", "virtual"}``: the name from ``sppci_model`` (else
    ``_name``), Metal support as macOS words it ("Metal 3" from ``spdisplays_metal3``; an older
    macOS's ``spdisplays_metalfamily`` value is kept as it is), and whether it is the virtual GPU
    of a macOS virtual machine.
    """
    try:
        entries = json.loads(text or "")["SPDisplaysDataType"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(entries, list):
        return None
    gpus = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name = entry.get("sppci_model") or entry.get("_name")
        if not isinstance(name, str) or not name.strip():
            continue
        metal = next(
            (
                entry[key]
                for key in ("spdisplays_mtlgpufamilysupport", "spdisplays_metalfamily", "spdisplays_metal")
                if isinstance(entry.get(key), str)
            ),
            None,
        )
        family = _METAL_FAMILY.fullmatch(metal or "")
        gpus.append(
            {
                "name": name.strip(),
                "metal_support": f"Metal {family.group(1)}" if family else metal,
                "virtual": name.strip().casefold() == PARAVIRTUAL_GPU.casefold(),
            }
        )
    return gpus


def ci_facts(environ: Mapping[str, str]) -> dict | None:
    """The CI run a record comes from (GitHub Actions' own variables), or None outside CI.

    ``runner_environment`` is ``github-hosted`` or ``self-hosted``; ``image`` and ``image_version``
    (``ImageOS``, ``ImageVersion``) exist only on GitHub's hosted images; ``run_url`` links the
    run (and its attempt). A variable that is unset, empty or malformed gives None.
    """
    if environ.get("GITHUB_ACTIONS") != "true":
        return None

    def value(name: str) -> str | None:
        return environ.get(name) or None

    return {
        "provider": "github-actions",
        "runner_name": value("RUNNER_NAME"),
        "runner_os": value("RUNNER_OS"),
        "runner_arch": value("RUNNER_ARCH"),
        "runner_environment": value("RUNNER_ENVIRONMENT"),
        "image": value("ImageOS"),
        "image_version": value("ImageVersion"),
        "run_url": _run_url(environ),
    }


def macos_versions(sw_vers: str = SW_VERS, *, mac_ver: str = "", timeout: float = TOOL_TIMEOUT) -> dict:
    """:func:`parse_sw_vers` of this Mac's ``sw_vers``, asked outside the compatibility mode.

    ``SYSTEM_VERSION_COMPAT=1`` in the environment makes macOS answer every process with the
    compatibility version (16.0 on macOS 26); ``0`` asks for the real one.
    """
    env = {**os.environ, "SYSTEM_VERSION_COMPAT": "0"}
    product = _output([sw_vers, "-productVersion"], env=env, timeout=timeout)
    build = _output([sw_vers, "-buildVersion"], env=env, timeout=timeout)
    return parse_sw_vers(product, build, mac_ver=mac_ver)


def metal_gpus(system_profiler: str = SYSTEM_PROFILER, *, timeout: float = TOOL_TIMEOUT) -> list[dict] | None:
    """:func:`parse_displays` of this Mac's ``system_profiler SPDisplaysDataType -json``."""
    return parse_displays(_output([system_profiler, "SPDisplaysDataType", "-json"], timeout=timeout))


@functools.cache
def _mac_facts() -> dict:
    # Asked once per process: nox runs every session of a run in one process, and the answers
    # cannot change while it runs.
    return {
        **macos_versions(SW_VERS, mac_ver=platform.mac_ver()[0]),
        # "Apple M2 Pro" on Apple silicon, "Apple M1 (Virtual)" on a hosted runner.
        "chip": _output([SYSCTL, "-n", "machdep.cpu.brand_string"]),
        "gpus": metal_gpus(SYSTEM_PROFILER),
    }


def _run_url(environ: Mapping[str, str]) -> str | None:
    server = environ.get("GITHUB_SERVER_URL", "")
    repository = environ.get("GITHUB_REPOSITORY", "")
    run_id = environ.get("GITHUB_RUN_ID", "")
    attempt = environ.get("GITHUB_RUN_ATTEMPT", "")
    if not (server.startswith("https://") and _REPOSITORY.fullmatch(repository) and run_id.isdigit()):
        return None
    url = f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}"
    return f"{url}/attempts/{attempt}" if attempt.isdigit() else url


def _compatibility_version(version: str) -> bool:
    parts = version.split(".")
    return parts[0] == "16" or parts[:2] == ["10", "16"]


def _matching(pattern: re.Pattern[str], text: str | None) -> str | None:
    text = (text or "").strip()
    return text if pattern.fullmatch(text) else None


def _output(
    argv: list[str], *, env: Mapping[str, str] | None = None, timeout: float = TOOL_TIMEOUT
) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True, env=env)
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return None
    return done.stdout.strip() or None


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
