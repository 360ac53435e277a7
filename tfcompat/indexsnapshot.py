"""A snapshot of the package index's pages for one run: each fetched once, served as fresh.

uv revalidates every cached index page on every resolution unless the index marked it fresh;
behind a proxy that strips caching headers (as on this project's machines) each of the map's
~900 resolutions downloads the pages of its whole dependency tree again (numpy's alone is
1.8 MB; about 3 s and 0.4 s of CPU per resolution). ``IndexSnapshot`` is a local HTTP server
that fetches each PEP 691 page from the index in use once, keeps it for the run and serves it
with a max-age: uv then reads each page once. The pages are the index's, file URLs made
absolute, so wheels and their metadata still come from the index itself.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

from tfcompat import claims

_JSON = "application/vnd.pypi.simple.v1+json"
_FRESH = "max-age=86400"  # the run's snapshot: never revalidated during it
_TIMEOUT = 60.0


class IndexSnapshot:
    """``with IndexSnapshot() as url:`` a local index URL for ``uv --index-url`` during the block."""

    def __init__(self) -> None:
        self._pages: dict[str, tuple[int, str, bytes]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/simple/"

    def __enter__(self) -> str:
        self._thread.start()
        return self.url

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def page(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for ``/simple/<name>/``; fetched once, then kept."""
        parts = path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "simple":
            return 404, "text/plain", b"not part of the snapshot"
        with self._lock:
            lock = self._locks.setdefault(parts[1], threading.Lock())
        with lock:
            if parts[1] not in self._pages:
                answer = _page(parts[1])
                if answer[0] not in (200, 404):  # an unreachable index is asked again next time
                    return answer
                self._pages[parts[1]] = answer
            return self._pages[parts[1]]


def _page(name: str) -> tuple[int, str, bytes]:
    upstream = claims.index_url(name)
    request = urllib.request.Request(upstream, headers={"Accept": _JSON})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, "text/plain", str(exc.reason).encode()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return 502, "text/plain", f"no answer from the index: {exc}".encode()
    for entry in answer.get("files", []):
        entry["url"] = urllib.parse.urljoin(upstream, entry["url"])
    return 200, _JSON, json.dumps(answer).encode()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # uv hung up: nothing to say
            super().handle_error(request, client_address)


def _handler(snapshot: IndexSnapshot) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: uv sends many small requests

        def do_GET(self) -> None:
            status, kind, body = snapshot.page(urllib.parse.urlsplit(self.path).path)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if status == 200:
                self.send_header("Cache-Control", _FRESH)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass  # uv's requests are not the run's output

    return Handler
