"""compatibility.html: one self-contained page (no scripts, no remote loads), from a Jinja2
template with autoescape on for every value: untrusted text is escaped by construction, and the
markup lives in ``templates/compatibility.html.j2``, not in Python strings.

Marks are plain glyphs (✓ ✗ ! ? ≥ ↓, in every common text font; none is an emoji) on CSS
colour, with the meaning in words in ``title`` and ``aria-label``: no emoji font needed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from tfcompat.report.evidence import GLYPHS
from tfcompat.report.model import COLUMNS, Compatibility
from tfcompat.report.text import show_generated, show_time

GLYPH_OUTCOMES = {glyph: outcome for outcome, glyph in GLYPHS.items() if glyph}
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
        outcome_of=lambda mark: GLYPH_OUTCOMES.get(mark[:1], "none"),
    )
