"""Untrusted text made fit to show: every string read from a record or a file name passes here.

``clean`` removes terminal escapes, control characters, every line break but the newline
(U+2028, U+2029, NEL: ``str.splitlines`` breaks at them, and so does pip reading a lock file)
and the invisible characters that change how text displays (bidi controls such as U+202E,
zero-width characters, tags), and replaces what cannot be encoded as UTF-8 (a lone surrogate,
from a record or from a file name that is not UTF-8) with U+FFFD, so no output can fail to
encode, no chip name can display as something else, and a reader sees where text was replaced.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

REPLACEMENT = "\ufffd"
_CONTROL = re.compile(
    r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e"
    r"\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]"
)
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
#: How many lines of an error the Markdown shows from its start and from its end.
EXCERPT_LINES = 6


def clean(value: object) -> str:
    """A record's value as plain text: no control characters, nothing that cannot be encoded."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the common case: no control character, no surrogate
        return text
    return _SURROGATE.sub(REPLACEMENT, _CONTROL.sub("", text))


def unencodable(text: str) -> bool:
    """Whether ``text`` holds a character UTF-8 cannot encode (a lone surrogate)."""
    return _SURROGATE.search(text) is not None


def cut(text: str, limit: int = 200) -> str:
    """One line of at most ``limit`` characters: a foreign file chose its content."""
    text = " ".join(clean(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def without_first_line(detail: str, note: str) -> str:
    """``detail`` less its first line when ``note`` already says it: the first line once."""
    first = first_line(detail)
    if first and first.lower() in note.lower():
        return detail.strip().split("\n", 1)[1] if "\n" in detail.strip() else ""
    return detail


def show_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def show_generated(generated: str) -> str:
    try:
        return show_time(datetime.fromisoformat(generated).astimezone(UTC))
    except ValueError:
        return clean(generated)


def md(text: str) -> str:
    """Untrusted text as one line of Markdown that renders as itself: no markup, no HTML, no cell break."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(clean(text).split()))


def superscript(numbers: list[int]) -> str:
    return ",".join(str(number).translate(_SUPERSCRIPT) for number in numbers)


def fenced(text: str) -> str:
    """A fenced code block that ``text`` cannot close: the fence outruns its longest backtick run."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def excerpt(detail: str) -> str:
    """The first and last lines of an error: where it starts, and the exception it ends in."""
    lines = detail.rstrip().splitlines()
    if len(lines) <= 2 * EXCERPT_LINES + 1:
        return "\n".join(lines)
    hidden = len(lines) - 2 * EXCERPT_LINES
    return "\n".join(
        lines[:EXCERPT_LINES]
        + [f"... {hidden} lines, all in compatibility.html ..."]
        + lines[-EXCERPT_LINES:]
    )


def figure(value: float) -> str:
    """A measured ratio or rate, as precise as a noisy measurement is: ``6.3``, ``12.4``, ``0.62``."""
    return f"{value:.1f}" if value >= 1 else f"{value:.2g}"
