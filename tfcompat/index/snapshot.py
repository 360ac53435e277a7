"""A snapshot of the package index for one run: each page and each file's metadata fetched once,
served as fresh.

uv revalidates every cached index page, and the cached metadata of every file it looks at, on
every resolution unless the index marked them fresh; behind a proxy that strips caching headers
(as on this project's machines) each of the map's ~900 resolutions asks the index again for the
pages of its whole dependency tree (numpy's alone is 1.8 MB) and sends ~40 revalidations for
the files' metadata: about 1 s a resolution where uv's cache already holds every answer.
``IndexSnapshot`` is a local HTTP server that fetches each PEP 691 page from the index in use
once, keeps it for the run and serves it with a max-age. Each file's URL on those pages points
back at the snapshot: its PEP 658 metadata (``<file>.metadata``, a few kB) is fetched once and
served fresh too, and the file itself is a redirect to the index's own URL (uv downloads one
only to build an sdist's metadata). ``upstream`` turns a snapshot URL back into the index's, so
nothing the suite keeps names the snapshot.
"""

from __future__ import annotations

import http.server
import json
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile

from tfcompat.index import net, pypi, rangefile

_JSON = "application/vnd.pypi.simple.v1+json"
_FRESH = "max-age=86400"  # the run's snapshot: never revalidated during it
_TIMEOUT = 60.0
_POLL = 0.02  # seconds between serve_forever's checks for shutdown
_PYPI_FILES = "files.pythonhosted.org"
_SDISTS = (".tar.gz", ".zip", ".tar.bz2")
#: A snapshot's file URL: ``http://127.0.0.1:PORT/files/<scheme>/<host>/<path>``.
_FILE_URL = re.compile(r"^http://127\.0\.0\.1:\d+/files/(https?)/(.+)$")


def upstream(url: str) -> str:
    """The index's own URL for a URL a snapshot served (any other URL unchanged)."""
    found = _FILE_URL.match(url)
    return f"{found.group(1)}://{found.group(2)}" if found else url


class IndexSnapshot:
    """``with IndexSnapshot() as url:`` a local index URL for ``uv --index-url`` during the block."""

    def __init__(self) -> None:
        self._answers: dict[str, tuple[int, str, bytes]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        # serve_forever checks for shutdown every poll_interval: its default 0.5 s was half of a
        # warm abi session's time, spent waiting for the server to stop.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(_POLL,), daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.root}/simple/"

    def __enter__(self) -> str:
        self._thread.start()
        return self.url

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for ``/simple/<name>/``, ``/files/.../<wheel>.metadata``
        or ``/files/.../<sdist>``; fetched once, then kept. Anything else: 404 (wheels themselves
        are redirected to the index before this is asked)."""
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "simple":
            return self._once(path, lambda: self._page(parts[1]))
        if parts[0] == "files" and path.endswith(".metadata"):
            return self._once(path, lambda: _metadata(self.upstream_of(path)))
        if parts[0] == "files" and path.endswith(_SDISTS):
            # Served fresh, so that uv reuses the metadata it built from it (jax's: 2 s each).
            return self._once(path, lambda: _fetch(self.upstream_of(path), "application/octet-stream"))
        return 404, "text/plain", b"not part of the snapshot"

    def upstream_of(self, path: str) -> str:
        return upstream(self.root + path)

    def _once(self, key: str, fetch) -> tuple[int, str, bytes]:
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._answers:
                answer = fetch()
                if answer[0] not in (200, 404):  # an unreachable index is asked again next time
                    return answer
                self._answers[key] = answer
            return self._answers[key]

    def _page(self, name: str) -> tuple[int, str, bytes]:
        index = pypi.project_url(name)
        status, kind, body = _fetch(index, _JSON)
        if status != 200:
            return status, kind, body
        try:
            answer = json.loads(body)
            for entry in answer.get("files", []):
                url = urllib.parse.urlsplit(urllib.parse.urljoin(index, entry["url"]))
                if url.netloc == _PYPI_FILES and entry["filename"].endswith(".whl"):
                    # PyPI serves every wheel's metadata (PEP 658, backfilled); a proxy that
                    # drops the field from the page makes uv read each wheel by range requests.
                    entry.setdefault("core-metadata", True)
                entry["url"] = f"{self.root}/files/{url.scheme}/{url.netloc}{url.path}"
                if url.fragment:
                    entry["url"] += f"#{url.fragment}"
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return 502, "text/plain", f"not an index page: {exc}".encode()
        return 200, _JSON, json.dumps(answer).encode()


def _metadata(url: str) -> tuple[int, str, bytes]:
    """A wheel's core metadata: the index's ``.metadata`` file, else (not every old wheel was
    backfilled: tensorflow-metal 0.8.0's has none) the METADATA read from the wheel itself with
    range requests, as uv would have read it."""
    answer = _fetch(url, "text/plain")
    if answer[0] != 404:
        return answer
    wheel = url.removesuffix(".metadata")
    try:
        with rangefile.open_zip(wheel, timeout=_TIMEOUT) as archive:
            name = next(
                (n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)), None
            )
            if name is None:
                return 404, "text/plain", b"no METADATA in the wheel"
            return 200, "text/plain", archive.read(name)
    except (rangefile.RangeUnsupported, OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        return 502, "text/plain", f"cannot read the metadata of {wheel}: {exc}".encode()


def _fetch(url: str, accept: str) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with net.urlopen(request, timeout=_TIMEOUT) as response:
            return 200, response.headers.get("Content-Type", accept), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, "text/plain", str(exc.reason).encode()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return 502, "text/plain", f"no answer from the index: {exc}".encode()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # uv hung up: nothing to say
            super().handle_error(request, client_address)


def _handler(snapshot: IndexSnapshot) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: uv sends many small requests

        def do_GET(self, *, body: bool = True) -> None:
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith("/files/") and not path.endswith((".metadata", *_SDISTS)):
                # A wheel itself: from the index, as uv would have fetched it.
                self.send_response(302)
                self.send_header("Location", snapshot.upstream_of(path))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, kind, answer = snapshot.answer(path)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(answer)))
            if status == 200:
                self.send_header("Cache-Control", _FRESH)
            self.end_headers()
            if body:
                self.wfile.write(answer)

        def do_HEAD(self) -> None:
            self.do_GET(body=False)

        def log_message(self, *args) -> None:
            pass  # uv's requests are not the run's output

    return Handler
