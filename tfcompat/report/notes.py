"""Footnotes: one per distinct (text, detail), so rows that share a signature such as
``signal 11 (SIGSEGV)`` but not the error behind it each keep their own error, and rows that share
both share one note. The detail leaves out its first line when the text already says it, and the
C++ names in both are shown demangled beside the mangled ones.
"""

from __future__ import annotations

from tfcompat.report.demangle import names_in
from tfcompat.report.model import Footnote
from tfcompat.report.text import clean, without_first_line


class Notes:
    def __init__(self) -> None:
        self.footnotes: list[Footnote] = []
        self._numbers: dict[tuple[str, str], int] = {}
        self._places: dict[tuple[int, str], set[str]] = {}

    def add(self, text: str, detail: str = "", *, machine: str = "", place: str = "") -> int:
        """The number of the footnote for ``text`` and ``detail``, noting that it applies to
        ``place`` on ``machine`` ("" for what holds on any host, like a prediction)."""
        text, detail = clean(text), clean(detail).rstrip()
        number = self._numbers.get((text, detail))
        if number is None:
            number = self._numbers[(text, detail)] = len(self.footnotes) + 1
            shown = without_first_line(detail, text)
            self.footnotes.append(
                Footnote(number=number, text=text, detail=shown, names=_names(f"{text}\n{detail}"))
            )
        if place:
            places = self._places.setdefault((number, machine), set())
            if place not in places:
                places.add(place)
                self.footnotes[number - 1].where.setdefault(machine, []).append(place)
        return number


def _names(text: str) -> list[tuple[str, str]]:
    # Neither half can hold a backtick: the Markdown shows both as code.
    return [(mangled, clean(readable).replace("`", "'")) for mangled, readable in names_in(text)]
