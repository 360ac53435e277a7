"""No network, the way a test asks for it: every proxy variable pointed at a port nothing listens
on (the discard port), so any download or index query made through them fails at once."""

from __future__ import annotations

OFFLINE = {
    key: "http://127.0.0.1:9"
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
}
