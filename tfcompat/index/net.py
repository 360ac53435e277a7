"""Requests to the package index, with a second chance for the network's passing faults.

A resolver on this project's machines sometimes answers "Temporary failure in name resolution"
(``EAI_AGAIN``) for a moment, and a connection is sometimes reset: asked again half a second
later, the index answers. Every request of the ``index`` package goes through ``urlopen``, which
asks up to three times for those faults only; a host that does not exist, a refused connection or
an HTTP error status is answered at once (the caller says why, as no verdict).
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

ATTEMPTS = 3
_PAUSE = 0.5  # seconds before the second attempt; doubled before the third


def urlopen(request: urllib.request.Request | str, *, timeout: float):
    """``urllib.request.urlopen``, asked again after a passing fault of the network.

    Each call builds its opener: ``urllib.request.urlopen`` keeps the one it built first, with the
    proxies of the environment at that moment, for the whole process; a proxy set or unset later
    (by a session, by a test) would be ignored."""
    opener = urllib.request.build_opener()
    for attempt in range(ATTEMPTS):
        try:
            return opener.open(request, timeout=timeout)
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, ConnectionResetError) as exc:
            if attempt == ATTEMPTS - 1 or not passing(exc):
                raise
        time.sleep(_PAUSE * 2**attempt)
    raise AssertionError("unreachable")


def passing(exc: BaseException) -> bool:
    """A fault worth asking again for: a name server that could not answer for now, a reset."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.gaierror):
        return reason.errno == socket.EAI_AGAIN
    return isinstance(reason, ConnectionResetError)
