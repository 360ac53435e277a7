"""The package index: its PEP 691 JSON answer for a project, and the macOS arm64 wheels in it.

Every answer crosses the network from an index the user may have chosen
(``TFCOMPAT_INDEX_URL``), so it is checked before it is used (``answer_problem``): at most
``MAX_ANSWER_BYTES``, JSON within ``bounded``'s limits, and every file entry of the shape PEP 691
gives it, with a URL that is https or on the configured index's own scheme and host (a
``file:///etc/os-release`` is never opened). A failure is one line naming the URL, and no
verdict: the index could not be asked, which says nothing about a pair.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from tfcompat.core import config
from tfcompat.core.bounded import BoundsError, json_value
from tfcompat.core.errors import TfcompatError
from tfcompat.core.macos import is_mac_arm64
from tfcompat.index import net

_JSON = "application/vnd.pypi.simple.v1+json"
_TIMEOUT = 30.0  # seconds without an answer before a request is given up
#: The largest answer read: PyPI's page of every tensorflow file is about 3 MB.
MAX_ANSWER_BYTES = 64 << 20
#: The largest file size believed (a TensorFlow wheel is 250 MB).
MAX_FILE_BYTES = 1 << 40
_SHA256 = re.compile(r"[0-9a-f]{64}")


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
    for entry in answer["files"]:
        if entry.get("yanked") or not entry["filename"].endswith(".whl"):
            continue
        try:
            _, version, _, tags = parse_wheel_filename(entry["filename"])
        except (InvalidWheelFilename, ValueError) as exc:
            raise IndexAnswerError(f"{project_url(name)}: corrupt index answer ({exc})") from None
        if any(is_mac_arm64(tag) for tag in tags):
            url = urllib.parse.urljoin(project_url(name), entry["url"])
            wheels.setdefault(version, []).append(
                WheelFile(version, entry["filename"], url, entry["hashes"]["sha256"])
            )
    return wheels


def project_url(name: str) -> str:
    """The PEP 691 project URL of ``name`` on the index in use."""
    return f"{config.index_base().rstrip('/')}/{name}/"


def index_answer(name: str) -> dict:
    """The index's PEP 691 JSON answer for ``name``: ``{"files": [...], "meta": ...}``, checked
    (``answer_problem``)."""
    url = project_url(name)
    request = urllib.request.Request(url, headers={"Accept": _JSON})
    try:
        with net.urlopen(request, timeout=_TIMEOUT) as response:
            kind = response.headers.get_content_type()
            body = response.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise IndexAnswerError(f"{url}: the index answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise IndexAnswerError(f"{url}: cannot reach the package index ({_reason(exc)})") from None
    if kind != _JSON:
        raise IndexAnswerError(f"{url}: the index answered {kind}, not PEP 691 JSON")
    if len(body) > MAX_ANSWER_BYTES:
        raise IndexAnswerError(f"{url}: corrupt index answer: larger than {MAX_ANSWER_BYTES >> 20} MiB")
    try:
        answer = json_value(body, what=f"{url}: corrupt index answer")
    except BoundsError as exc:
        raise IndexAnswerError(str(exc)) from None
    problem = answer_problem(answer, url)
    if problem:
        raise IndexAnswerError(f"{url}: corrupt index answer: {problem}")
    return answer


def answer_problem(answer: object, url: str) -> str | None:
    """What in ``answer``, a PEP 691 project page read from ``url``, is not what the suite may
    use; None when all of it is. Every file entry is checked (the suite reads its file name,
    URL, sha256, size, upload time and yanked flag); other keys are the index's own."""
    if not isinstance(answer, dict) or not isinstance(answer.get("files"), list):
        return "no list of files"
    for number, entry in enumerate(answer["files"]):
        problem = _entry_problem(entry, url)
        if problem:
            return f"files[{number}]: {problem}"
    return None


def url_allowed(url: str, *, base: str | None = None) -> bool:
    """Whether the absolute ``url`` may be fetched: https, or the scheme and host (and port) of
    the index in use (``base``, default ``TFCOMPAT_INDEX_URL`` or PyPI)."""
    try:
        where = urllib.parse.urlsplit(url)
        index = urllib.parse.urlsplit(base or config.index_base())
    except ValueError:  # a port out of range, a malformed IPv6 host
        return False
    if where.scheme == "https" and where.hostname:
        return True
    return where.scheme in ("http", "https") and (where.scheme, where.netloc) == (index.scheme, index.netloc)


def _entry_problem(entry: object, url: str) -> str | None:
    if not isinstance(entry, dict):
        return "not a file entry"
    filename = entry.get("filename")
    if not isinstance(filename, str) or not 0 < len(filename) <= 255 or not _plain_name(filename):
        return "'filename' is not a file name of at most 255 characters"
    link = entry.get("url")
    if not isinstance(link, str) or len(link) > 4096:
        return "'url' is not a URL of at most 4096 characters"
    if not url_allowed(urllib.parse.urljoin(url, link), base=url):
        return f"{link[:60]!r} is neither https nor on the index's own host"
    hashes = entry.get("hashes")
    if (
        not isinstance(hashes, dict)
        or not isinstance(hashes.get("sha256"), str)
        or not _SHA256.fullmatch(hashes["sha256"])
    ):
        return "'hashes' has no sha256 of 64 hex digits"
    size = entry.get("size")
    if size is not None and (type(size) is not int or not 0 <= size <= MAX_FILE_BYTES):
        return "'size' is not a size in bytes"
    uploaded = entry.get("upload-time")
    if uploaded is not None and not _is_time(uploaded):
        return "'upload-time' is not a time"
    yanked = entry.get("yanked", False)
    if not isinstance(yanked, (bool, str)):
        return "'yanked' is neither true, false nor a reason"
    return None


def _plain_name(filename: str) -> bool:
    """A file name, not a path: it becomes the name of a downloaded file."""
    return filename.isprintable() and not {"/", "\\"} & set(filename) and filename not in (".", "..")


def _is_time(text: object) -> bool:
    if not isinstance(text, str) or len(text) > 40:
        return False
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _reason(exc: BaseException) -> str:
    """Why a request failed, in a few words: urllib wraps the interesting part in ``reason``."""
    return str(getattr(exc, "reason", None) or exc)
