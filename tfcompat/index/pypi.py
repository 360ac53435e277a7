"""The package index: its PEP 691 JSON answer for a project, and the macOS arm64 wheels in it.

Every answer crosses the network from an index the user may have chosen
(``TFCOMPAT_INDEX_URL``), so it is checked before it is used; a failure is one line naming
the URL, and no verdict: the index could not be asked, which says nothing about a pair.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from tfcompat.core import config
from tfcompat.core.errors import TfcompatError
from tfcompat.core.macos import is_mac_arm64
from tfcompat.index import net

_JSON = "application/vnd.pypi.simple.v1+json"
_TIMEOUT = 30.0  # seconds without an answer before a request is given up


class IndexAnswerError(TfcompatError):
    """The index cannot be reached, or its answer is not a PEP 691 project page (one line)."""

    no_verdict = True


@dataclass(frozen=True)
class WheelFile:
    """One wheel the index lists: its version, where it is, and its content hash."""

    version: Version
    filename: str
    url: str
    sha256: str


def macos_wheels(name: str) -> dict[Version, list[WheelFile]]:
    """Every release of ``name`` with a macOS arm64 wheel that is not yanked, and those wheels.

    Yanked files are left out: PEP 592 asks installers to skip them, and the publisher withdrew them.
    """
    answer = index_answer(name)
    wheels: dict[Version, list[WheelFile]] = {}
    try:
        for entry in answer["files"]:
            if entry.get("yanked") or not entry["filename"].endswith(".whl"):
                continue
            _, version, _, tags = parse_wheel_filename(entry["filename"])
            if any(is_mac_arm64(tag) for tag in tags):
                url = urllib.parse.urljoin(project_url(name), entry["url"])
                wheels.setdefault(version, []).append(
                    WheelFile(version, entry["filename"], url, entry["hashes"]["sha256"])
                )
    except (KeyError, TypeError, AttributeError, InvalidWheelFilename) as exc:
        raise IndexAnswerError(
            f"{project_url(name)}: corrupt index answer ({type(exc).__name__}: {exc})"
        ) from None
    return wheels


def project_url(name: str) -> str:
    """The PEP 691 project URL of ``name`` on the index in use."""
    return f"{config.index_base().rstrip('/')}/{name}/"


def index_answer(name: str) -> dict:
    """The index's PEP 691 JSON answer for ``name``: ``{"files": [...], "meta": ...}``."""
    url = project_url(name)
    request = urllib.request.Request(url, headers={"Accept": _JSON})
    try:
        with net.urlopen(request, timeout=_TIMEOUT) as response:
            kind = response.headers.get_content_type()
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise IndexAnswerError(f"{url}: the index answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise IndexAnswerError(f"{url}: cannot reach the package index ({_reason(exc)})") from None
    if kind != _JSON:
        raise IndexAnswerError(f"{url}: the index answered {kind}, not PEP 691 JSON")
    try:
        answer = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexAnswerError(f"{url}: corrupt index answer ({exc})") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("files"), list):
        raise IndexAnswerError(f"{url}: corrupt index answer (no list of files)")
    return answer


def _reason(exc: BaseException) -> str:
    """Why a request failed, in a few words: urllib wraps the interesting part in ``reason``."""
    return str(getattr(exc, "reason", None) or exc)
