"""Classification: error text → a short, stable signature for the table's footnotes.

A signature names the kind of failure and the one thing that identifies it (a symbol, a
library, an op) and nothing that changes between machines (paths, addresses, pids), so the
same failure on two Macs gets one footnote.
"""

from __future__ import annotations

import re
import signal

DATASET_DOWNLOAD = "dataset download failed"
# (pattern, signature template) in order: the first match wins. Patterns come from the real
# failures in shared/reference/failures.md; dyld's wording on macOS, ld.so's on Linux.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), template)
    for pattern, template in (
        (r"Library not loaded: (\S+)", "library not loaded: {0}"),
        (r"symbol not found in flat namespace '([^']+)'", "flat-namespace symbol: {0}"),
        (r"Symbol not found: (\S+)", "symbol not found: {0}"),
        (r"undefined symbol: (\S+)", "undefined symbol: {0}"),
        (r"([^\s:/]+): cannot open shared object file", "cannot open shared object: {0}"),
        (r"could not find registered platform", "platform not registered"),
        (r"platform is already registered", "platform registered twice"),
        (r"No registered '(\w+)' OpKernel for 'GPU'", "missing GPU kernel: {0}"),
        (r"Could not satisfy explicit device specification", "missing GPU kernel"),
        # The fit probe's own line when CIFAR-100 cannot be loaded (no network, no certificates).
        (r"fit: dataset download failed", DATASET_DOWNLOAD),
    )
)
#: Signatures that are the machine's failure, not the pair's: no verdict, and the fix in one line.
NO_VERDICT = {
    DATASET_DOWNLOAD: "the CIFAR-100 download needs network; run with -- --data synthetic, "
    "or fix the network/certificates",
}
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b.*)$", re.MULTILINE)
#: A signature is a table label, not a log: long ones are cut to this many characters.
MAX_SIGNATURE = 160


def known_signature(text: str) -> str | None:
    """The signature of a known failure shape (failures.md) found in ``text``, else None."""
    for pattern, template in _PATTERNS:
        match = pattern.search(text)
        if match:
            return _cut(template.format(*match.groups()))
    return None


def signature_of_text(text: str) -> str | None:
    """The signature of a failure's error text; None when the text holds no error at all."""
    known = known_signature(text)
    if known:
        return known
    exceptions = _EXCEPTION_LINE.findall(text)
    if exceptions:
        return _cut(exceptions[-1].strip())
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return _cut(lines[-1]) if lines else None


def no_verdict_reason(signature: str | None) -> str | None:
    """``SIGNATURE: FIX`` when ``signature`` is the machine's failure (no verdict), else None."""
    fix = NO_VERDICT.get(signature)
    return f"{signature}: {fix}" if fix else None


def signature_of_signal(number: int) -> str:
    """``signal 11 (SIGSEGV)``."""
    try:
        return f"signal {number} ({signal.Signals(number).name})"
    except ValueError:
        return f"signal {number}"


def signature_of_timeout(seconds: float) -> str:
    return f"timeout after {seconds:g} s"


def error_excerpt(stderr: str) -> str:
    """The part of a probe's stderr that is the error: from the last traceback or fatal error."""
    starts = [stderr.rfind(marker) for marker in ("Traceback (most recent call last)", "Fatal Python error")]
    start = max(starts)
    return stderr[start:].strip() if start >= 0 else stderr.strip()


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SIGNATURE else text[: MAX_SIGNATURE - 3] + "..."
