"""The one place uv runs, and how what it says is read: which uv, with a deadline, pointed at
which index, and what its failures mean. Verify, the map, abi and the install commands all run
uv through ``run``, so they name the same failure the same way, and a network failure is never
read as an answer about a pair."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Mapping

from tfcompat.core.errors import TfcompatError

#: What uv says when the index cannot be reached (as opposed to: no such wheel, no solution).
OFFLINE_SIGNS = ("Failed to fetch", "error sending request", "not found in the cache", "Failed to download")
#: Index hosts that are this machine (the map's snapshot): never reached through a proxy.
LOCAL_HOSTS = ("127.0.0.1", "localhost")


class UvError(TfcompatError):
    """uv could not give an answer at all: it is missing, cannot be started, or ran out of time.
    ``signature`` is stable: ``uv missing``, ``cannot run`` or ``provisioning timeout``."""

    no_verdict = True

    def __init__(self, message: str, *, signature: str):
        super().__init__(message)
        self.signature = signature


class UvMissing(UvError):
    """No uv to run (the message is one line with the fix)."""

    def __init__(self, message: str):
        super().__init__(message, signature="uv missing")


def uv_binary() -> str:
    """The uv executable: the one the ``uv`` Python package ships (the noxfile pins its
    version, so every record's ``tools.uv`` is that version), else the first on PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found:
        return found
    raise UvMissing("uv not found: install it (pip install uv)")


def run(
    args: list[str],
    *,
    deadline: float,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    what: str | None = None,
) -> subprocess.CompletedProcess:
    """Run ``uv ARGS`` (text in and out) and return how it ended, whatever its exit code.

    ``deadline`` is a ``time.monotonic()`` time: uv is stopped there. Raises ``UvError`` (one
    line, starting with ``what``, default ``uv ARGS[0]``) when uv is missing, cannot be started
    or gives no answer in time: no verdict, nothing was learnt about what it was asked.
    """
    uv = uv_binary()
    what = what or f"uv {args[0]}"
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise UvError(f"{what}: ran out of time before it started", signature="provisioning timeout")
    try:
        return subprocess.run(
            [uv, *args],
            input=stdin or "",
            capture_output=True,
            text=True,
            env=dict(os.environ if env is None else env),
            timeout=remaining,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UvError(f"{what}: no answer in {remaining:.0f} s", signature="provisioning timeout") from None
    except OSError as exc:
        raise UvError(f"{what}: cannot run {uv}: {exc.strerror}", signature="cannot run") from None


def use_index(argv: list[str], env: dict[str, str], *, url: str | None, uv_cache=None) -> None:
    """Point a uv command (``argv``, ``env``, changed in place) at the index ``url`` (uv's
    default when None) and a uv cache of its own (``uv_cache``)."""
    if url:
        argv += ["--index-url", url]
        if urllib.parse.urlsplit(url).hostname in LOCAL_HOSTS:  # never through a proxy
            no_proxy = ",".join(filter(None, [env.get("NO_PROXY"), env.get("no_proxy"), *LOCAL_HOSTS]))
            env |= {"NO_PROXY": no_proxy, "no_proxy": no_proxy}
    if uv_cache:
        env["UV_CACHE_DIR"] = str(uv_cache)


def is_offline(stderr: str) -> bool:
    """Did uv fail because the index could not be reached (a machine failure, no verdict)?"""
    return any(sign in stderr for sign in OFFLINE_SIGNS)


def whole_reason(stderr: str, *, limit: int = 600) -> str:
    """uv's whole answer in one line: its first error line, then every cause (which requirement
    has no wheel, and what needs it), without the hint paragraphs."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [
        line.removeprefix("error:").removeprefix("cause:").strip()
        for line in lines
        if not line.startswith(("hint:", "help:"))
    ]
    if not lines:
        return "uv failed with no message"
    return ": ".join([lines[0], " ".join(lines[1:])] if lines[1:] else lines)[:limit]


_UV_REASONS = (
    (re.compile(r"there is no version of (\S+?)(?:,| and)"), "no such release", "no such release: {0}"),
    (
        re.compile(
            r"(\S+) has no wheels with a matching (Python ABI|Python implementation|platform) tag"
            r" \(e\.g\., `([^`]+)`\)"
        ),
        "no matching wheel",
        "{0} has no wheel for {2} ({1} tag)",
    ),
    (
        re.compile(r"Failed to (?:fetch|download):? `?([^\s`]+)|error sending request for url \(([^)\s]+)"),
        "index unreachable",
        "network unreachable: cannot get {0}",
    ),
)


def explain_error(stderr: str) -> tuple[str, str]:
    """A stable signature and one line of reason from uv's error output."""
    text = " ".join(stderr.split())
    for pattern, signature, template in _UV_REASONS:
        match = pattern.search(text)
        if match:
            # Alternatives in one pattern leave the groups they did not match as None.
            return signature, template.format(*[group for group in match.groups() if group is not None])
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    causes = [line.removeprefix("cause:").strip() for line in lines if line.startswith("cause:")]
    first = lines[0].removeprefix("error:").strip() if lines else "failed with no message"
    return "provisioning failed", "; ".join([first, *causes[-1:]])
