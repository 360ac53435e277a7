"""The report: every record in a folder → compatibility.md, .html and .json, and lock files.

    scan (read.py: every record's head) → collect (collect.py: choose, and load those in full)
    → model (build.py, model.py) → render (markdown.py, html.py, json.py) → publish (publish.py)

Data flows one way; no renderer imports another, and none reads a record: they render the
model, which ``compatibility.json`` holds whole.
"""

from __future__ import annotations

import platform
from pathlib import Path

from tfcompat.core.matrix import Matrix
from tfcompat.core.record import now
from tfcompat.report.build import build
from tfcompat.report.collect import collect
from tfcompat.report.html import render_html
from tfcompat.report.json import render_json
from tfcompat.report.markdown import render_markdown
from tfcompat.report.publish import ReportError, write_together
from tfcompat.report.read import scan_folder

OUTPUTS = ("compatibility.md", "compatibility.html", "compatibility.json")

__all__ = ["OUTPUTS", "ReportError", "write_reports"]


def write_reports(
    matrix: Matrix, folder: Path, *, generated: str | None = None, host_os: str | None = None
) -> list[Path]:
    """Read every record under ``folder`` and write the three outputs (and the lock files they
    link to) at its top, all together or not at all.

    ``generated`` (ISO 8601, default now) is the time the outputs name; ``host_os`` (default this
    OS) decides how rows without a record are explained. Returns the paths of the three outputs.
    Raises ``ReportError`` (one line) when they cannot be written; the old ones are then kept.
    """
    folder.mkdir(parents=True, exist_ok=True)
    found = collect(scan_folder(folder, outputs={"compatibility.json"}), matrix)
    built = build(
        matrix,
        found,
        generated=generated or now(),
        host_os=host_os or platform.system(),
        folder=str(folder.resolve()),
    )
    outputs = {name: text.encode("utf-8") for name, text in built.locks.items()}
    outputs["compatibility.md"] = render_markdown(built.report).encode("utf-8")
    outputs["compatibility.html"] = render_html(built.report).encode("utf-8")
    outputs["compatibility.json"] = render_json(built.report)
    write_together(folder, outputs)
    return [folder / name for name in OUTPUTS]
