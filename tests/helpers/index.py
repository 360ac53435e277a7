"""The one local package index of the tests: real HTTP on 127.0.0.1, answers they choose.

``LocalIndex`` serves ``routes`` (a path to a ``Response``) and asks ``fallback(path)`` for the
rest; a body may be a callable that yields chunks, for a download still running when its client
is killed. ``recorded_index`` serves the recorded real PEP 691 answers of tests/data, with the
real METADATA tables of tensorflow-metal 1.1.0 and 1.2.0 cached under their wheels' sha256.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import socket
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.paths import DATA
from tfcompat.upkeep import claims

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
TABLE_1_2_0 = (DATA / "tensorflow_metal-1.2.0-METADATA-table.md").read_text()
TABLE_1_1_0 = (DATA / "tensorflow_metal-1.1.0-METADATA-table.md").read_text()
PLUGIN_WHEEL = "tensorflow_metal-1.2.0-cp311-cp311-macosx_12_0_arm64.whl"


@dataclass
class Response:
    status: int = 200
    kind: str = "application/octet-stream"
    #: The bytes, or a callable yielding them in chunks (then ``length`` is the Content-Length).
    body: bytes | Callable[[], Iterable[bytes]] = b""
    length: int | None = None


class LocalIndex:
    """A package index on localhost; ``url`` is its root, ``simple`` its PEP 691 index URL."""

    def __init__(self, fallback: Callable[[str], Response | None] | None = None):
        self.routes: dict[str, Response] = {}
        self.fallback = fallback
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                answer = index.routes.get(self.path) or (index.fallback and index.fallback(self.path))
                answer = answer or Response(404, "text/plain", b"not found")
                streamed = callable(answer.body)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.kind)
                self.send_header("Content-Length", str(answer.length if streamed else len(answer.body)))
                self.end_headers()
                try:
                    for chunk in answer.body() if streamed else [answer.body]:
                        self.wfile.write(chunk)
                except OSError:
                    pass  # the client went away (killed, or it stopped reading)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.simple = f"{self.url}/simple/"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def answer(self, name: str, body: bytes, kind: str = JSON_TYPE, status: int = 200) -> None:
        """The index's answer for project ``name``."""
        self.routes[f"/simple/{name}/"] = Response(status, kind, body)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> LocalIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def recorded_index(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalIndex]:
    """The recorded real index answers on localhost, and a ``cache`` that holds the real METADATA
    tables under the real wheels' sha256, as a run that downloaded them once would."""
    with LocalIndex() as server:
        for name in ("tensorflow", "tensorflow-metal"):
            server.answer(name, (DATA / f"simple-{name}.json").read_bytes())
        monkeypatch.setenv("TFCOMPAT_INDEX_URL", server.simple)
        monkeypatch.setenv("TFCOMPAT_CACHE", str(cache))
        seed_tables(TABLE_1_2_0, TABLE_1_1_0)
        yield server


def seed_tables(table_1_2_0: str, table_1_1_0: str) -> None:
    """Cache these tables as the METADATA of the real 1.2.0 and 1.1.0 wheels."""
    for entry in json.loads((DATA / "simple-tensorflow-metal.json").read_text())["files"]:
        for version, table in (("1.2.0", table_1_2_0), ("1.1.0", table_1_1_0)):
            if entry["filename"].startswith(f"tensorflow_metal-{version}-"):
                claims.remember_metadata(entry["hashes"]["sha256"], table)


def closed_port_url() -> str:
    """An index URL where nothing listens: the connection is refused, as with no network."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/simple/"


def a_wheel(metadata: str) -> bytes:
    """A wheel with a real METADATA text, built here: the real one is 1.4 MB of Metal binaries."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("tensorflow-plugins/libmetal_plugin.dylib", b"\xcf\xfa\xed\xfe")
        archive.writestr("tensorflow_metal-1.2.0.dist-info/METADATA", metadata)
    return out.getvalue()


def serve_wheel(index: LocalIndex, wheel: bytes, sha256: str | None = None) -> str:
    """Make ``wheel`` the only tensorflow-metal 1.2.0 file on ``index`` (with ``sha256``, or its
    own); return its sha256."""
    sha256 = sha256 or hashlib.sha256(wheel).hexdigest()
    entry = {
        "filename": PLUGIN_WHEEL,
        "url": f"../../files/{PLUGIN_WHEEL}",
        "hashes": {"sha256": sha256},
        "yanked": False,
    }
    index.answer("tensorflow-metal", json.dumps({"meta": {"api-version": "1.1"}, "files": [entry]}).encode())
    index.routes[f"/files/{PLUGIN_WHEEL}"] = Response(200, "application/octet-stream", wheel)
    return sha256
