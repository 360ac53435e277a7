"""compatibility.md: the GitHub-ready page, rendered from the model with tabulate.

Grid cells link to their details in compatibility.html; footnote numbers are superscripts.
"""

from __future__ import annotations

from tabulate import tabulate

from tfcompat.report.model import COLUMNS, Answer, Compatibility, Evidence, Grid, GridCell, Table
from tfcompat.report.text import excerpt, fenced, md, show_generated, show_time, superscript

ROW_HEADERS = ["Python", "TensorFlow", "tensorflow-metal", "Evidence", *COLUMNS.values()]


def render_markdown(report: Compatibility) -> str:
    labels = {machine.id: machine.label for machine in report.machines}
    real = [machine.label for machine in report.machines if not machine.predicted]
    on = f" on {md('; '.join(real))}" if real else ""
    parts = [
        "# tensorflow-metal compatibility",
        f"Generated {md(show_generated(report.generated))} from {report.record_count} records{on}.",
        "## The answer: which pair to install",
    ]
    if report.record_count == 0:
        parts.insert(
            2, "No records yet: run `python3 noxfile.py` (the main job: the map, every row, the report)."
        )
    for group in report.answers:
        parts.append(
            f"### {md(labels[group.machine])}\n\n" + "\n".join(_answer(answer) for answer in group.answers)
        )
    parts.append(_legend(report))
    grids = {}
    for grid in report.grids:
        grids.setdefault(grid.machine, []).append(grid)
    for machine in report.machines:
        table = next((table for table in report.tables if table.machine == machine.id), None)
        if machine.id in grids or table:
            parts.append(f"## {md(machine.label)}")
        parts += [_grid(grid, report.evidence) for grid in grids.get(machine.id, [])]
        if table:
            parts.append(_table(table))
    if not any(table.machine in labels for table in report.tables):
        parts += [_table(table) for table in report.tables]
    if report.flags:
        lines = [f"- {md(flag.row)} on {md(flag.machine)}: {md(flag.text)}" for flag in report.flags]
        parts.append("## Claim against observation\n\n" + "\n".join(lines))
    if report.changes:
        parts.append(
            "## Changed since the previous run\n\n" + "\n".join(_change(change) for change in report.changes)
        )
    if report.footnotes:
        parts.append("## Footnotes\n\n" + "\n\n".join(_footnote(note) for note in report.footnotes))
    for title, items in (("Records skipped", report.skipped), ("Records repaired", report.repaired)):
        if items:
            parts.append(
                f"## {title}\n\n" + "\n".join(f"- {md(item.name)}: {md(item.reason)}" for item in items)
            )
    return "\n\n".join(parts) + "\n"


def _answer(answer: Answer) -> str:
    if answer.pair is None:
        line = f"- **Python {md(answer.python)}**: {md(answer.reason or '')}"
        return line + "".join(f"\n  `{step}`" for step in answer.steps)
    pair, evidence = answer.pair, answer.pair.evidence
    line = f"- **Python {md(answer.python)}**: {_pair(pair.tf, pair.metal)} — {_mark(evidence)}"
    if answer.install:
        line += f"\n  `{answer.install}`" + (f" (brings {md(answer.keras)})" if answer.keras else "")
    if answer.install_note:
        line += f"\n  {md(answer.install_note)}"
    if evidence.workaround:
        line += f"\n  workaround for training: {md(evidence.workaround)}"
    if answer.needs_macos:
        line += f"\n  needs macOS {md(answer.needs_macos)} or later"
    for older in answer.older_macos:
        if older.pair is None:
            line += f"; before macOS {md(older.below)}: no pair is known to work"
            continue
        instead = f"{_pair(older.pair.tf, older.pair.metal)} — {_mark(older.pair.evidence)}"
        line += f"; before macOS {md(older.below)}: {instead}"
        if older.install:
            line += f" `{older.install}`"
    if answer.lock:
        line += f"\n  exactly what the run installed: [{md(answer.lock)}]({answer.lock})"
    if answer.newer:
        newer = answer.newer
        line += f"\n  newer, with weaker evidence: {_pair(newer.tf, newer.metal)} — {_mark(newer.evidence)}"
    return line


def _pair(tf: str, metal: str) -> str:
    return f"tf {md(tf)} alone" if metal == "none" else f"tf {md(tf)} + tensorflow-metal {md(metal)}"


def _mark(evidence: Evidence | None) -> str:
    if evidence is None:
        return ""
    return f"{evidence.mark} {md(evidence.words)}" + superscript(evidence.footnotes)


def _legend(report: Compatibility) -> str:
    return "## Evidence\n\n" + "  \n".join(md(line) for line in report.legend)


def _grid(grid: Grid, evidence: list[Evidence]) -> str:
    headers = ["TensorFlow", *("alone" if metal == "none" else metal for metal in grid.metal)]
    rows = [[md(row.tf), *(_grid_cell(evidence, cell) for cell in row.cells)] for row in grid.rows]
    body = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    return f"### Python {md(grid.python)}: TensorFlow down, tensorflow-metal across\n\n{body}"


def _grid_cell(evidence: list[Evidence], cell: GridCell) -> str:
    if not cell.evidence:
        return ""
    best = evidence[cell.evidence[0]]
    return f"[{best.mark} {md(best.words)}](compatibility.html#{cell.details}){superscript(best.footnotes)}"


def _table(table: Table) -> str:
    when = f" (newest record {show_time(table.newest)})" if table.newest else ""
    rows = [
        [md(row.python), md(row.tf), md(row.metal), _mark(row.evidence)]
        + [row.values[column].text + superscript(row.values[column].footnotes) for column in COLUMNS]
        for row in table.rows
    ]
    body = tabulate(rows, headers=ROW_HEADERS, tablefmt="github", disable_numparse=True)
    return f"### {md(table.title)}: every row{when}\n\n{body}"


def _change(change) -> str:
    dates = f"{show_time(change.dates[0])} → {show_time(change.dates[1])}"
    lines = [f"- {md(change.row)}, {md(change.where)} ({dates}): {md('; '.join(change.outcome))}"]
    if change.host:
        lines.append(f"  - host: {md('; '.join(change.host))}")
    if change.packages:
        lines.append(f"  - packages: {md('; '.join(change.packages))}")
    return "\n".join(lines)


def _footnote(note) -> str:
    places = "; ".join(
        (f"{machine}: " if machine else "")
        + ", ".join(rows[:5])
        + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
        for machine, rows in note.where.items()
    )
    text = f"{superscript([note.number])} **{md(note.text)}**" + (f" — {md(places)}" if places else "")
    if note.names:
        text += "\n\n" + "\n".join(f"- `{mangled}` = `{readable}`" for mangled, readable in note.names)
    if note.detail:
        text += "\n\n" + fenced(excerpt(note.detail))
    return text
