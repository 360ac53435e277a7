"""Requests to the index: asked again after a passing fault of the network, and only then."""

from __future__ import annotations

import socket
import struct
import threading
import urllib.error

import pytest

from tfcompat.index import net


class ResetsFirst:
    """A server on loopback that resets the first ``resets`` connections (RST, as a flaky network
    does), then answers every request with ``200 OK`` and ``body``."""

    def __init__(self, resets: int, *, body: bytes = b"ok") -> None:
        self.resets, self.connections, self.body = resets, 0, body
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/simple/"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                connection.recv(65536)
                if self.connections <= self.resets:
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    continue
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
                connection.sendall(head.encode() + self.body)

    def close(self) -> None:
        self.socket.close()


@pytest.mark.parametrize("resets", [1, 2])
def test_a_reset_connection_is_asked_again(resets):
    server = ResetsFirst(resets)
    try:
        with net.urlopen(server.url, timeout=10) as response:
            assert response.read() == b"ok"
        assert server.connections == resets + 1
    finally:
        server.close()


def test_a_network_that_keeps_failing_is_given_up_after_three_attempts():
    server = ResetsFirst(net.ATTEMPTS)
    try:
        with pytest.raises((urllib.error.URLError, ConnectionResetError)):
            net.urlopen(server.url, timeout=10)
        assert server.connections == net.ATTEMPTS
    finally:
        server.close()


def test_a_refused_connection_is_answered_at_once():
    """Nothing listens there: no verdict at once, not three times over."""
    with pytest.raises(urllib.error.URLError) as caught:
        net.urlopen("http://127.0.0.1:9/simple/", timeout=10)
    assert isinstance(caught.value.reason, ConnectionRefusedError)
    assert not net.passing(caught.value)


@pytest.mark.parametrize(
    ("error", "passing"),
    [
        # What the resolver says for a moment, and what it says for a host that does not exist.
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), True),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), False),
    ],
)
def test_only_a_resolver_that_could_not_answer_for_now_is_asked_again(error, passing):
    assert net.passing(urllib.error.URLError(error)) is passing


def test_a_proxy_set_later_in_the_process_is_honoured(monkeypatch):
    """urllib's own urlopen keeps the proxies of its first call for the whole process: a session
    or a test that sets them later would be ignored. Each request here reads them again."""
    target, proxy = ResetsFirst(0, body=b"direct"), ResetsFirst(0, body=b"proxied")
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    try:
        with net.urlopen(target.url, timeout=10) as response:
            assert response.read() == b"direct"
        monkeypatch.setenv("http_proxy", proxy.url.removesuffix("simple/"))
        with net.urlopen(target.url, timeout=10) as response:
            assert response.read() == b"proxied"
    finally:
        target.close()
        proxy.close()
