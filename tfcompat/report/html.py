"""compatibility.html: one self-contained page (no scripts, no remote loads), from a Jinja2
template with autoescape on for every value: untrusted text is escaped by construction, and the
markup lives in ``templates/compatibility.html.j2``, not in Python strings.

The marks are the design card's ✅ ❌ ⚠️, drawn as small inline SVG icons whose accessible name is
the emoji and its meaning ("✅ works"), with the words of the evidence beside them as text: the
page reads the same with or without a colour-emoji font (the tests look at it in headless
Chromium both ways).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from tfcompat.report.model import COLUMNS, Compatibility
from tfcompat.report.text import show_generated, show_time

#: Each mark, the word that names it, and its icon's shape (16 x 16, on a coloured ground).
ICONS = {
    "✅": ("works", '<rect width="16" height="16" rx="3"/><path d="M3.5 8.5l3 3 6-7" fill="none"/>'),
    "❌": ("fails", '<rect width="16" height="16" rx="3"/><path d="M4.5 4.5l7 7m0-7l-7 7" fill="none"/>'),
    "⚠️": ("caveat", '<path d="M8 1.5l7 13H1z"/><path d="M8 6v4m0 2v1" fill="none"/>'),
}
_MARK = re.compile("|".join(re.escape(mark) for mark in sorted(ICONS, key=len, reverse=True)))
#: No scripts, no remote loads: only the page's own inline style.
POLICY = "default-src 'none'; style-src 'unsafe-inline'"


@cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = show_time
    environment.filters["generated"] = show_generated
    environment.filters["icons"] = with_icons
    return environment.get_template("compatibility.html.j2")


def render_html(report: Compatibility) -> str:
    grids: dict[str, list] = {}
    for grid in report.grids:
        grids.setdefault(grid.machine, []).append(grid)
    tables = {table.machine: table for table in report.tables}
    rows_shown = {row.anchor for table in report.tables for row in table.rows}
    return _template().render(
        report=report,
        policy=POLICY,
        columns=COLUMNS,
        grids=grids,
        tables=tables,
        rows_shown=rows_shown,
        labels={machine.id: machine.label for machine in report.machines},
        sources=sorted({e.source for e in report.evidence if e.source.startswith("map record")}),
    )


def with_icons(text: str) -> Markup:
    """``text``, escaped, with each mark drawn as its icon (named by the emoji and its word)."""

    def icon(match: re.Match) -> str:
        word, shape = ICONS[match.group(0)]
        name = f"{match.group(0)} {word}"
        return (
            f'<svg class="icon {word}" viewBox="0 0 16 16" width="16" height="16" role="img" '
            f'aria-label="{name}"><title>{name}</title>{shape}</svg>'
        )

    return Markup(_MARK.sub(icon, str(escape(text))))
